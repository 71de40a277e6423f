package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// PlacementError is a replica node install cannot place a cache on (not in
// the swarm, not ready, drained, not reachable): an input error, found
// before anything changes.
type PlacementError struct{ Msg string }

func (e *PlacementError) Error() string { return e.Msg }

// SwarmNode is one node as the manager lists it (node-labels.sh).
type SwarmNode struct {
	ID           string `json:"id"`
	Hostname     string `json:"hostname"`
	State        string `json:"state"`
	Availability string `json:"availability"`
	// Role is manager or worker ("" from a list that does not say).
	Role   string            `json:"role,omitempty"`
	Labels map[string]string `json:"labels"`
}

// Placement is where the per-node caches run: the replica nodes, and the
// node label changes that put them there.
type Placement struct {
	// Label is the node label key (swarmctl.mirror.<stack>).
	LabelKey string `json:"label_key"`
	// Nodes are the replica nodes, in replica_nodes order.
	Nodes []string `json:"nodes"`
	// Label lists replica nodes that lack the label; Unlabel nodes that
	// have it but are no longer replica nodes.
	Label   []string `json:"label,omitempty"`
	Unlabel []string `json:"unlabel,omitempty"`
	// ids maps hostnames to node IDs (docker node update takes either;
	// the ID cannot be mistaken for another node's name).
	ids map[string]string
}

// swarmNodesScript prints one JSON object per swarm node.
var swarmNodesScript = nodes.MustScript(scriptFiles, "scripts/node-labels.sh")

// listSwarmNodes asks the manager for every node of the swarm.
func listSwarmNodes(ctx context.Context, h nodes.Host) ([]SwarmNode, error) {
	out, err := h.Run(ctx, nodes.Cmd{Script: swarmNodesScript, Sudo: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.Name(), swarmNodesScript.Name(), nodes.Unnamed(h.Name(), err))
	}
	var ns []SwarmNode
	for _, l := range strings.Split(string(out.Stdout), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		var n SwarmNode
		if err := json.Unmarshal([]byte(l), &n); err != nil {
			return nil, fmt.Errorf("%s: %s: unexpected line %q", h.Name(), swarmNodesScript.Name(), l)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// planPlacement checks that every replica node is a ready, active node of
// the swarm that the mirror's constraints allow (a *PlacementError
// otherwise) and lists the label changes.
func planPlacement(ctx context.Context, h nodes.Host, v Values) (*Placement, error) {
	ns, err := listSwarmNodes(ctx, h)
	if err != nil {
		return nil, err
	}
	key := v.NodeLabelKey()
	p := &Placement{LabelKey: key, Nodes: append([]string(nil), v.ReplicaNodes...), ids: map[string]string{}}
	byName := map[string]SwarmNode{}
	var names []string
	for _, n := range ns {
		if _, dup := byName[n.Hostname]; dup {
			return nil, &PlacementError{Msg: fmt.Sprintf("two swarm nodes have the hostname %s: a replica node must be unique (docker node ls)", n.Hostname)}
		}
		byName[n.Hostname] = n
		names = append(names, n.Hostname)
		p.ids[n.Hostname] = n.ID
	}
	slices.Sort(names)
	var problems []string
	for _, want := range v.ReplicaNodes {
		n, ok := byName[want]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("replica node %s is not in the swarm (its nodes: %s)", want, strings.Join(names, ", ")))
			continue
		case n.State != "ready":
			problems = append(problems, fmt.Sprintf("replica node %s is %s, not ready", want, n.State))
		case n.Availability != "active":
			problems = append(problems, fmt.Sprintf("replica node %s is %s: the swarm places no task there (docker node update --availability active %s)", want, n.Availability, want))
		}
		if msg := constraintProblem(n, v.Constraints); msg != "" {
			problems = append(problems, msg)
		}
		if n.Labels[key] != "true" {
			p.Label = append(p.Label, want)
		}
	}
	if len(problems) > 0 {
		return nil, &PlacementError{Msg: strings.Join(problems, "; ")}
	}
	for _, name := range names {
		if _, has := byName[name].Labels[key]; has && !slices.Contains(v.ReplicaNodes, name) {
			p.Unlabel = append(p.Unlabel, name)
		}
	}
	return p, nil
}

// applyPlacement sets the label on the replica nodes that lack it and
// takes it off the others.
func applyPlacement(ctx context.Context, h nodes.Host, p *Placement, logf func(string, ...any)) error {
	if p == nil {
		return nil
	}
	for _, n := range p.Label {
		logf("%s: labelling node %s %s=true", h.Name(), n, p.LabelKey)
		if _, err := run(ctx, h, "docker", "node", "update", "--label-add", p.LabelKey+"=true", p.id(n)); err != nil {
			return err
		}
	}
	for _, n := range p.Unlabel {
		logf("%s: removing label %s from node %s (no longer a replica node)", h.Name(), p.LabelKey, n)
		if _, err := run(ctx, h, "docker", "node", "update", "--label-rm", p.LabelKey, p.id(n)); err != nil {
			return err
		}
	}
	return nil
}

func (p *Placement) id(hostname string) string {
	if id := p.ids[hostname]; id != "" {
		return id
	}
	return hostname
}

// removeLabels takes the stack's node label off every node that has it
// (uninstall).
func removeLabels(ctx context.Context, h nodes.Host, stack string, logf func(string, ...any)) ([]string, error) {
	ns, err := listSwarmNodes(ctx, h)
	if err != nil {
		return nil, err
	}
	key := NodeLabel + "." + stack
	var done []string
	for _, n := range ns {
		if _, has := n.Labels[key]; !has {
			continue
		}
		logf("%s: removing label %s from node %s", h.Name(), key, n.Hostname)
		if _, err := run(ctx, h, "docker", "node", "update", "--label-rm", key, n.ID); err != nil {
			return done, err
		}
		done = append(done, n.Hostname)
	}
	return done, nil
}
