package member

import (
	"context"
	"fmt"
	"net"
	"strconv"
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

// swarmScript lists the swarm's members on a manager, one line each.
var swarmScript = nodes.MustScript(scriptFiles, "scripts/swarm-nodes.sh")

// SwarmNodes lists the swarm's members from a manager in one command.
func SwarmNodes(ctx context.Context, manager nodes.Host) ([]SwarmNode, error) {
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
		addr, mgrAddr := n.Addr, ""
		if n.Role == "manager" {
			addr, mgrAddr = "0.0.0.0", net.JoinHostPort(n.Addr, "2377")
		}
		leader := ""
		if n.Role == "manager" {
			leader = strconv.FormatBool(n.Leader)
		}
		b.WriteString(strings.Join([]string{n.ID, n.Hostname, n.Role, n.State, n.Availability, addr, mgrAddr, n.Reachability, leader}, "|") + "\n")
	}
	return []byte(b.String())
}

// ParseSwarmNodes parses swarmScript's output.
func ParseSwarmNodes(out string) ([]SwarmNode, error) {
	var res []SwarmNode
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		p := strings.Split(l, "|")
		if len(p) != 9 {
			return nil, fmt.Errorf("unexpected docker node inspect line %q", l)
		}
		n := SwarmNode{ID: p[0], Hostname: p[1], Role: p[2], State: p[3], Availability: p[4], Addr: p[5],
			Reachability: p[7], Leader: p[8] == "true"}
		if p[6] != "" {
			if h, _, err := net.SplitHostPort(p[6]); err == nil {
				n.Addr = h
			}
		}
		res = append(res, n)
	}
	return res, nil
}
