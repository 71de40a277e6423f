package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// SwarmNode is one member of the swarm as a manager sees it.
type SwarmNode struct {
	ID           string `json:"id"`
	Hostname     string `json:"hostname"`
	Role         string `json:"role"`  // manager | worker
	State        string `json:"state"` // ready | down | unknown | disconnected
	Availability string `json:"availability"`
	// Addr is the address to reach the node at: ManagerStatus.Addr's host
	// for managers (Status.Addr can read 0.0.0.0 there), else Status.Addr.
	Addr         string `json:"addr"`
	Reachability string `json:"reachability,omitempty"` // managers: reachable | unreachable
	Leader       bool   `json:"leader,omitempty"`
}

// swarmScript lists the swarm's members on a manager, one JSON object
// (a swarmRecord) per line.
var swarmScript = nodes.MustScript(scriptFiles, "scripts/swarm-nodes.sh")

// swarmRecord is one line of swarmScript's output: the fields of `docker
// node inspect` swarmctl reads, each encoded by docker's json template
// function, so a hostname (which a node chooses itself when it joins)
// stays one string whatever it holds.
type swarmRecord struct {
	ID           string `json:"id"`
	Hostname     string `json:"hostname"`
	Role         string `json:"role"`
	State        string `json:"state"`
	Availability string `json:"availability"`
	// StatusAddr is .Status.Addr, ManagerAddr .ManagerStatus.Addr
	// (host:port; managers only).
	StatusAddr   string `json:"addr"`
	ManagerAddr  string `json:"manager_addr,omitempty"`
	Reachability string `json:"reachability,omitempty"`
	Leader       bool   `json:"leader,omitempty"`
}

// SwarmNodes lists the swarm's members from a manager in one command,
// bounded as the step "swarm members".
func SwarmNodes(ctx context.Context, manager nodes.Host) ([]SwarmNode, error) {
	ctx, cancel := nodes.Step(ctx, "swarm members", nodes.DefaultStepTimeout)
	defer cancel()
	out, err := manager.Run(ctx, nodes.Cmd{Script: swarmScript, Sudo: true})
	if err != nil {
		return nil, fmt.Errorf("listing swarm nodes: %w", err)
	}
	return ParseSwarmNodes(string(out.Stdout))
}

// EncodeSwarmNodes prints ns exactly as swarmScript does (for test fakes
// and the benchmark's virtual nodes).
func EncodeSwarmNodes(ns []SwarmNode) []byte {
	var b strings.Builder
	for _, n := range ns {
		r := swarmRecord{ID: n.ID, Hostname: n.Hostname, Role: n.Role, State: n.State, Availability: n.Availability, StatusAddr: n.Addr}
		if n.Role == "manager" {
			r.StatusAddr, r.ManagerAddr, r.Reachability, r.Leader = "0.0.0.0", net.JoinHostPort(n.Addr, "2377"), n.Reachability, n.Leader
		}
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// ParseSwarmNodes parses swarmScript's output. Every field is data as the
// manager reports it; nothing in a value is interpreted.
func ParseSwarmNodes(out string) ([]SwarmNode, error) {
	var res []SwarmNode
	for i, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var r swarmRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.ID == "" {
			// The line is not quoted: it may hold anything a node chose.
			return nil, fmt.Errorf("docker node inspect: line %d is not a node record", i+1)
		}
		n := SwarmNode{ID: r.ID, Hostname: r.Hostname, Role: r.Role, State: r.State, Availability: r.Availability,
			Addr: r.StatusAddr, Reachability: r.Reachability, Leader: r.Leader}
		if r.ManagerAddr != "" {
			if h, _, err := net.SplitHostPort(r.ManagerAddr); err == nil {
				n.Addr = h
			}
		}
		res = append(res, n)
	}
	return res, nil
}

// ErrNotListed is Confirm's error when the manager does not list the
// swarm node ID the node reports.
var ErrNotListed = errors.New("not listed by the manager")

// Confirm finds, in a manager's list, the member a node is. The node's own
// claim (the swarm node ID its `docker info` reports) is taken only where
// the manager's view confirms it, so no node can make swarmctl drain,
// wait for or reactivate another member by reporting that member's ID:
//   - the list must hold the ID;
//   - when the node was reached at an IP address (addr, host:port as
//     dialled) that the list knows, the manager must record that address
//     for this ID (among others sharing it, behind NAT);
//   - otherwise (a DNS name, a loopback proxy, an address the swarm does
//     not use) the hostname the manager records for the ID must be the
//     node's.
func Confirm(list []SwarmNode, f *Facts, addr string) (*SwarmNode, error) {
	var self *SwarmNode
	for i := range list {
		if list[i].ID == f.SwarmNodeID {
			self = &list[i]
		}
	}
	if self == nil || f.SwarmNodeID == "" {
		return nil, ErrNotListed
	}
	if ip := dialledIP(addr); ip != "" {
		// Several members can share an address (behind NAT): the address
		// must be one the manager records for this ID.
		var other *SwarmNode
		for i := range list {
			switch {
			case list[i].Addr != ip:
			case list[i].ID == self.ID:
				return self, nil
			case other == nil:
				other = &list[i]
			}
		}
		if other != nil {
			return nil, fmt.Errorf("it reports swarm node ID %s, but the manager knows its address %s as node %s (%s)",
				self.ID, ip, other.ID, other.Hostname)
		}
	}
	if self.Hostname != f.Hostname {
		return nil, fmt.Errorf("it reports swarm node ID %s, which the manager records for hostname %q, not %q",
			self.ID, self.Hostname, f.Hostname)
	}
	return self, nil
}

// dialledIP is the IP address in host:port when it names one machine
// (not a loopback address, where a proxy or a tunnel may listen, nor an
// unspecified one), else "".
func dialledIP(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	ip := net.ParseIP(h)
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return ""
	}
	return ip.String()
}
