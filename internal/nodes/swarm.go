package nodes

import (
	"context"
	"fmt"
	"net"
	"strings"
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

const swarmScript = `ids=$(docker node ls -q) || exit 1
[ -n "$ids" ] || exit 0
docker node inspect --format '{{.ID}}|{{.Description.Hostname}}|{{.Spec.Role}}|{{.Status.State}}|{{.Spec.Availability}}|{{.Status.Addr}}|{{if .ManagerStatus}}{{.ManagerStatus.Addr}}|{{.ManagerStatus.Reachability}}|{{.ManagerStatus.Leader}}{{else}}||{{end}}' $ids
`

// SwarmNodes lists the swarm's members from a manager in one command.
func SwarmNodes(ctx context.Context, manager Host) ([]SwarmNode, error) {
	out, err := manager.Run(ctx, Cmd{Script: swarmScript, Sudo: true})
	if err != nil {
		return nil, fmt.Errorf("%s: listing swarm nodes: %w", manager.Name(), err)
	}
	return ParseSwarmNodes(string(out.Stdout))
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
