package fleet

import (
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// KeysOffered lists the keys a dial to m would offer, with where each
// comes from, and those skipped (see nodes.KeysOffered). Nothing is
// dialled.
func (f *Fleet) KeysOffered(m *member.Member) (offered, skipped []string, err error) {
	return nodes.KeysOffered(f.dialOpt, m.Target)
}

// HostKeyKnown looks m's SSH server up in the known_hosts files its dial
// would check (see nodes.HostKeyKnown). Nothing is dialled.
func (f *Fleet) HostKeyKnown(m *member.Member) (known bool, where string, files []string, err error) {
	return nodes.HostKeyKnown(f.dialOpt, m.Target)
}

// HostKeyPolicy is the run's host key policy.
func (f *Fleet) HostKeyPolicy() string {
	if f.dialOpt.HostKeyPolicy == "" {
		return nodes.HostKeyStrict
	}
	return f.dialOpt.HostKeyPolicy
}
