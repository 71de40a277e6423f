package stack

import "testing"

// Constraints are judged as swarm judges them; attributes the node list
// does not carry are left to swarm.
func TestConstraintVerdict(t *testing.T) {
	n := SwarmNode{ID: "abc", Hostname: "Manager1", Role: "manager", Labels: map[string]string{"Disk": "SSD"}}
	for _, tc := range []struct {
		c         string
		ok, known bool
	}{
		{"node.hostname==manager1", true, true}, // values compare case-insensitively
		{"node.hostname!=manager1", false, true},
		{"node.hostname==manager2", false, true},
		{"node.id==abc", true, true},
		{"node.role == manager", true, true},
		{"node.role==worker", false, true},
		{"node.labels.Disk==ssd", true, true},
		{"node.labels.disk==ssd", false, true}, // label keys are case-sensitive
		{"node.labels.zone!=eu", true, true},   // a missing label is ""
		{"node.labels.zone==eu", false, true},
		{"node.platform.os==linux", false, false},
		{"engine.labels.x==y", false, false},
		{"no operator", false, false},
	} {
		if ok, known := constraintVerdict(n, tc.c); ok != tc.ok || known != tc.known {
			t.Errorf("%s: ok %v known %v, want %v %v", tc.c, ok, known, tc.ok, tc.known)
		}
	}
	if ok, known := constraintVerdict(SwarmNode{Hostname: "m1"}, "node.role==manager"); known {
		t.Errorf("a node list without roles judged a role constraint (ok %v)", ok)
	}
	if p := constraintProblem(n, []string{"node.role==manager", "node.platform.os==windows"}); p != "" {
		t.Errorf("problem %q for constraints swarmctl cannot judge", p)
	}
}
