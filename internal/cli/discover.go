package cli

import (
	"context"
	"fmt"

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
				if c.Host == nil {
					return nil, fmt.Errorf("manager %s is unreachable: %v", want, c.Err)
				}
				if c.Facts == nil || !c.Facts.SwarmManager {
					return nil, fmt.Errorf("%s is not a swarm manager", want)
				}
				return c, nil
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

// discoverNew asks the manager for the swarm's members and returns those
// not already selected, with SSH details from the inventory (a matching
// entry by address or name, else the defaults).
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
	var out []Node
	for _, m := range members {
		if known[m.ID] || known[m.Addr] || known[m.Hostname] {
			continue
		}
		inv := inventory.Node{Host: m.Addr, Name: m.Hostname, Role: m.Role}
		for _, n := range s.inv.Nodes {
			if n.Host == m.Addr || n.Name == m.Hostname {
				inv = n
				break
			}
		}
		if inventory.ValidateHost(inv.Host) != nil || inventory.ValidateName(inv.DisplayName()) != nil {
			continue // never dial a name we would not accept from a user
		}
		out = append(out, s.g.nodeFrom(s.inv, inv))
	}
	return out, members, nil
}
