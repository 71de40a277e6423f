package fleet

import (
	"context"
	"errors"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// NewHostKey is a member whose host key (or its jump host's) is in no
// known_hosts file yet: the fingerprint a person checks before it is
// recorded.
type NewHostKey struct {
	Member *member.Member
	Err    *nodes.HostKeyError
}

// ConnectTrusting is Connect for first contact (swarmctl init): members
// refused only because a host key is unknown are shown to confirm, all
// at once; when it says yes the keys are recorded in the first
// known_hosts file (as accept-new would, but after a person checked the
// fingerprints) and those members are connected again, strictly. A jump
// host's key comes first, its nodes' in a second round. A changed key is
// never offered. recorded are the members whose key was recorded.
func (f *Fleet) ConnectTrusting(ctx context.Context, ms []*member.Member, o ConnectOptions, confirm func([]NewHostKey) error) (recorded []*member.Member, err error) {
	f.Connect(ctx, ms, o)
	pending := ms
	for round := 0; round < 3 && len(pending) > 0; round++ {
		var fresh []NewHostKey
		for _, m := range pending {
			var hk *nodes.HostKeyError
			if m.Err != nil && errors.As(m.Err, &hk) && !hk.Changed && hk.Key != nil {
				fresh = append(fresh, NewHostKey{Member: m, Err: hk})
			}
		}
		if len(fresh) == 0 {
			break
		}
		if err := confirm(fresh); err != nil {
			return recorded, err
		}
		pending = nil
		for _, n := range fresh {
			if err := nodes.RecordHostKey(n.Err, f.env.Stderr); err != nil {
				n.Member.Err = err
				continue
			}
			n.Member.Err = nil
			recorded = append(recorded, n.Member)
			pending = append(pending, n.Member)
		}
		f.Connect(ctx, pending, o)
	}
	return recorded, nil
}
