package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
)

// LimitAllows says whether --limit keeps a swarm member missing from the
// inventory: no --limit, or a limit naming its hostname, its address or
// its role as the swarm reports it (manager, worker).
func (f *Fleet) LimitAllows(s member.SwarmNode) bool {
	if len(f.o.Limit) == 0 {
		return true
	}
	for _, l := range f.o.Limit {
		l = strings.TrimSpace(l)
		if l != "" && (l == s.Hostname || l == s.Addr || l == s.Role) {
			return true
		}
	}
	return false
}

// Discover asks the connected manager mgr for the swarm's members and
// returns, as new unconnected members marked Discovered, those missing
// from the whole inventory and --host (selected or not: a node --limit
// left out stays out) and from have, that --limit keeps (see
// LimitAllows), with SSH details from the inventory's defaults. A swarm
// member matches a node by address or name (for have also by the swarm
// node ID its facts report, where the manager's list confirms it:
// member.Confirm). A member whose address or name swarmctl
// would not accept from a user is never dialled, but it is not dropped
// either: it is returned with Err set (see member.NotDialled), so it shows
// as a failed node, and a warning says why.
func (f *Fleet) Discover(ctx context.Context, mgr *member.Member, have []*member.Member) ([]*member.Member, error) {
	swarm, err := member.SwarmNodes(ctx, mgr.Conn)
	if err != nil {
		return nil, fmt.Errorf("asking %s for the swarm's nodes: %w", mgr.Name, err)
	}
	f.swarm = append([]member.SwarmNode{}, swarm...)
	known := map[string]bool{}
	for _, m := range have {
		known[m.Target.Host] = true
		known[m.Name] = true
		if m.Facts != nil && m.Conn != nil {
			// A node's report of its own swarm ID counts only as far as the
			// manager's list confirms it: no node can hide another member
			// by claiming that member's ID or hostname.
			if s, err := member.Confirm(swarm, m.Facts, m.Conn.Addr()); err == nil {
				known[s.ID] = true
			}
		}
	}
	for _, n := range f.inv.Nodes {
		known[n.Host] = true
		known[n.DisplayName()] = true
	}
	for _, h := range f.o.Hosts {
		if n, err := ParseHost(h); err == nil {
			known[n.Host] = true
		}
	}
	delete(known, "")
	var out []*member.Member
	for _, s := range swarm {
		if known[s.ID] || known[s.Addr] || known[s.Hostname] || !f.LimitAllows(s) {
			continue
		}
		in := inventory.Node{Host: s.Addr, Name: s.Hostname, Role: s.Role}
		m := f.member(in)
		if err := memberProblem(in); err != nil {
			// Never dial a name we would not accept from a user.
			m = rejectedMember(m, in, err)
			f.env.Warn(fmt.Sprintf("swarm member %s (node ID %s, address %s) is not dialled, so it is neither checked nor configured: %v; "+
				"add it to the inventory with a host and name swarmctl accepts", m.Name, printableName(s.ID), printableHost(s.Addr), err))
		}
		m.Discovered = true
		out = append(out, m)
	}
	return out, nil
}

// memberProblem says why a discovered member (what the swarm reports)
// cannot be dialled, nil if it can.
func memberProblem(in inventory.Node) error {
	if in.Host == "" {
		return errors.New("the swarm reports no address for it")
	}
	if err := inventory.ValidateHost(in.Host); err != nil {
		return err
	}
	return inventory.ValidateName(in.DisplayName())
}

// rejectedMember is m, never to be dialled because of problem, with an
// offending name or address shown quoted (safe to print).
func rejectedMember(m *member.Member, in inventory.Node, problem error) *member.Member {
	t := m.Target
	if in.Host != "" {
		t.Host = printableHost(in.Host)
	} else {
		problem = errors.New("no address") // the row says briefly what the warning explains
	}
	t.Name = printableName(in.DisplayName())
	return member.NotDialled(t.Name, t, m.Role, fmt.Errorf("not dialled: %w", problem))
}

// printableName and printableHost show a value from the swarm as is when
// valid, else quoted.
func printableName(s string) string {
	if inventory.ValidateName(s) == nil {
		return s
	}
	return strconv.QuoteToASCII(s)
}

func printableHost(s string) string {
	if s != "" && inventory.ValidateHost(s) == nil {
		return s
	}
	return strconv.QuoteToASCII(s)
}
