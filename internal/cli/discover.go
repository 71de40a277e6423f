package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// connected is a node with its open connection and facts (nil when it
// could not be reached).
type connected struct {
	Node
	Host       nodes.Host
	Facts      *nodes.Facts
	Err        error
	Discovered bool
}

// connectAll dials every node in parallel and gathers its facts; the
// connections stay open for later steps (close them with closeAll).
func (s *session) connectAll(ctx context.Context, list []Node, service, config string) []*connected {
	res := nodes.Parallel(ctx, list, s.g.Parallel, false, func(ctx context.Context, n Node) (*connected, error) {
		c := &connected{Node: n}
		if n.NotDialled != nil {
			c.Err = n.NotDialled
			return c, nil
		}
		h, err := s.dial(ctx, n)
		if err != nil {
			c.Err = err
			return c, nil
		}
		c.Host = h
		c.Facts, c.Err = nodes.GatherFacts(ctx, h, service, config)
		return c, nil
	})
	out := make([]*connected, len(res))
	for i, r := range res {
		out[i] = r.Value
		if out[i] == nil {
			out[i] = &connected{Node: list[i], Err: r.Err}
		}
	}
	return out
}

func closeAll(cs []*connected) {
	for _, c := range cs {
		if c.Host != nil {
			c.Host.Close()
		}
	}
}

// pickManager returns the node named by want (name or host), else the
// first reachable swarm manager, preferring one that is not the leader.
func pickManager(cs []*connected, want string) (*connected, error) {
	if want != "" {
		for _, c := range cs {
			if c.Name == want || c.Target.Host == want {
				return asManager(c, want)
			}
		}
		return nil, fmt.Errorf("--manager %s is not among the selected nodes", want)
	}
	for _, c := range cs {
		if c.Host != nil && c.Facts != nil && c.Facts.SwarmManager {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no reachable swarm manager among the selected nodes")
}

// asManager returns c if it is reachable and a swarm manager.
func asManager(c *connected, want string) (*connected, error) {
	if c.Host == nil {
		return nil, fmt.Errorf("manager %s is unreachable: %v", want, c.Err)
	}
	if c.Facts == nil || !c.Facts.SwarmManager {
		return nil, fmt.Errorf("%s is not a swarm manager", want)
	}
	return c, nil
}

// discoveryManager resolves --manager for discovery before anything is
// dialled. A selected node (by name or host) returns nil: it is among the
// selected connections. Otherwise it returns the node to ask only: an
// inventory node --limit left out (by name or host), else an ad-hoc
// [user@]host[:port] reached with the inventory's defaults, as --host is.
func (s *session) discoveryManager(want string) (*Node, error) {
	if want == "" {
		return nil, nil
	}
	for _, n := range s.nodes {
		if n.Name == want || n.Target.Host == want {
			return nil, nil
		}
	}
	for _, in := range s.inv.Nodes {
		if n := s.g.nodeFrom(s.inv, in); n.Name == want || n.Target.Host == want {
			return &n, nil
		}
	}
	in, err := parseHostFlag(want)
	if err != nil {
		return nil, usageErr("--manager %q: %v", want, err)
	}
	n := s.g.nodeFrom(s.inv, in)
	return &n, nil
}

// askManager picks the manager discovery asks: want among the selected
// nodes (cs), else the node discoveryManager resolved (ask); without want,
// the first reachable swarm manager among the selected nodes, else among
// the inventory's managers --limit left out (otherManagers). A manager
// that is not selected is only asked, never configured. asked are the
// extra connections (the caller closes them; they are not targets).
func (s *session) askManager(ctx context.Context, cs []*connected, want string, ask *Node, service, daemonJSON string) (mgr *connected, asked []*connected, err error) {
	switch {
	case ask != nil:
		asked = s.connectAll(ctx, []Node{*ask}, service, daemonJSON)
		mgr, err = asManager(asked[0], want)
	case want != "":
		mgr, err = pickManager(cs, want)
	default:
		mgr, err = pickManager(cs, "")
		if others := s.otherManagerNodes(); err != nil && len(others) > 0 {
			asked = s.connectAll(ctx, others, service, daemonJSON)
			if mgr, err = pickManager(asked, ""); err != nil {
				err = errors.New("no reachable swarm manager among the selected nodes or the inventory's other managers (role: manager)")
			}
		}
	}
	if mgr != nil && len(asked) > 0 {
		s.deps.IO.Progress("asking %s (%s) for the swarm's members: not selected, so not configured", mgr.Name, address(mgr.Target))
	}
	return mgr, asked, err
}

// limitAllows says whether --limit keeps a swarm member missing from the
// inventory: no --limit, or a limit naming its hostname, its address or
// its role as the swarm reports it (manager, worker).
func (g *GlobalOptions) limitAllows(m nodes.SwarmNode) bool {
	if len(g.Limit) == 0 {
		return true
	}
	for _, l := range g.Limit {
		l = strings.TrimSpace(l)
		if l != "" && (l == m.Hostname || l == m.Addr || l == m.Role) {
			return true
		}
	}
	return false
}

// discoverNew asks the manager for the swarm's members and returns those
// missing from the whole inventory and --host (selected or not: a node
// --limit left out stays out) and from have, that --limit keeps (see
// limitAllows), with SSH details from the inventory's defaults. A member
// matches a node by address or name (for have also by the node ID and
// hostname from its facts). A member whose address or name swarmctl
// would not accept from a user is never dialled, but it is not dropped
// either: it is returned marked NotDialled (see rejectedMember), so it
// shows as a failed node, and a warning says why.
func (s *session) discoverNew(ctx context.Context, manager nodes.Host, have []*connected) ([]Node, []nodes.SwarmNode, error) {
	members, err := nodes.SwarmNodes(ctx, manager)
	if err != nil {
		return nil, nil, err
	}
	known := map[string]bool{}
	for _, c := range have {
		known[c.Target.Host] = true
		known[c.Name] = true
		if c.Facts != nil {
			known[c.Facts.SwarmNodeID] = true
			known[c.Facts.Hostname] = true
		}
	}
	for _, n := range s.inv.Nodes {
		known[n.Host] = true
		known[n.DisplayName()] = true
	}
	for _, h := range s.g.Hosts {
		if n, err := parseHostFlag(h); err == nil {
			known[n.Host] = true
		}
	}
	delete(known, "")
	var out []Node
	for _, m := range members {
		if known[m.ID] || known[m.Addr] || known[m.Hostname] || !s.g.limitAllows(m) {
			continue
		}
		inv := inventory.Node{Host: m.Addr, Name: m.Hostname, Role: m.Role}
		n := s.g.nodeFrom(s.inv, inv)
		if err := memberProblem(inv); err != nil {
			// Never dial a name we would not accept from a user.
			n = rejectedMember(n, inv, err)
			s.deps.IO.Progress("%s swarm member %s (node ID %s, address %s) is not dialled, so it is neither checked nor configured: %v; "+
				"add it to the inventory with a host and name swarmctl accepts", s.deps.IO.Paint("33", "warning:"),
				n.Name, printableName(m.ID), printableHost(m.Addr), err)
		}
		out = append(out, n)
	}
	return out, members, nil
}

// memberProblem says why a discovered member (what the swarm reports)
// cannot be dialled, nil if it can.
func memberProblem(inv inventory.Node) error {
	if inv.Host == "" {
		return errors.New("the swarm reports no address for it")
	}
	if err := inventory.ValidateHost(inv.Host); err != nil {
		return err
	}
	return inventory.ValidateName(inv.DisplayName())
}

// rejectedMember marks n as not to be dialled because of problem, and
// shows an offending name or address quoted (safe to print).
func rejectedMember(n Node, inv inventory.Node, problem error) Node {
	if inv.Host != "" {
		n.Target.Host = printableHost(inv.Host)
	} else {
		problem = errors.New("no address") // the row says briefly what the warning explains
	}
	n.Name = printableName(inv.DisplayName())
	n.Target.Name = n.Name
	n.NotDialled = fmt.Errorf("not dialled: %w", problem)
	return n
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
