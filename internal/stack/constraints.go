package stack

import (
	"fmt"
	"slices"
	"strings"
)

// constraintVerdict says whether a swarm node satisfies one placement
// constraint, as swarm decides it (swarmkit's constraint matching: the
// value compared case-insensitively, a missing label compared as "").
// known is false for an attribute swarmctl does not see in the node list
// (node.platform.*, engine.labels.*, a role the list does not carry):
// swarm is left to judge those.
func constraintVerdict(n SwarmNode, c string) (ok, known bool) {
	op := "=="
	key, val, found := strings.Cut(c, "==")
	if !found {
		op = "!="
		if key, val, found = strings.Cut(c, "!="); !found {
			return false, false
		}
	}
	raw := strings.TrimSpace(key)
	key, val = strings.ToLower(raw), strings.TrimSpace(val)
	var have string
	switch {
	case key == "node.hostname":
		have = n.Hostname
	case key == "node.id":
		have = n.ID
	case key == "node.role" && n.Role != "":
		have = n.Role
	case strings.HasPrefix(key, "node.labels."):
		// Label keys are case-sensitive; only values are compared
		// case-insensitively.
		have = n.Labels[raw[len("node.labels."):]]
	default:
		return false, false
	}
	eq := strings.EqualFold(have, val)
	return eq == (op == "=="), true
}

// unmetConstraints lists the constraints n does not satisfy (those
// swarmctl can judge).
func unmetConstraints(n SwarmNode, cs []string) []string {
	var out []string
	for _, c := range cs {
		if ok, known := constraintVerdict(n, strings.TrimSpace(c)); known && !ok {
			out = append(out, c)
		}
	}
	return out
}

// constraintProblem says why a replica node cannot run its cache under the
// mirror's constraints ("" when it can): swarm would never schedule the
// global service's task there, and that node's replica would never answer.
func constraintProblem(n SwarmNode, cs []string) string {
	bad := unmetConstraints(n, cs)
	if len(bad) == 0 {
		return ""
	}
	var labels []string
	for k, v := range n.Labels {
		labels = append(labels, k+"="+v)
	}
	slices.Sort(labels)
	has := "no labels"
	if len(labels) > 0 {
		has = "labels " + strings.Join(labels, ", ")
	}
	return fmt.Sprintf("replica node %s does not satisfy constraint %s (it has role %s, %s): swarm would never run its cache there; drop the constraint or choose another node",
		n.Hostname, strings.Join(bad, " and "), orDash(n.Role), has)
}
