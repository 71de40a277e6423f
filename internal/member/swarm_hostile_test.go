package member

import (
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes/fakedocker"
)

// A node chooses its own hostname when it joins. Whatever it holds ('|',
// line breaks, quotes, terminal escapes), the manager's list has exactly
// one member per node, each field as the node reported it: a hostname can
// neither add members nor break the list for the whole fleet.
func TestSwarmNodesHostileHostnames(t *testing.T) {
	hostile := []string{
		"h|worker|ready|active|10.9.9.9|||\nfk|fake", // a second, fake member
		"a|b",                        // one '|' broke the whole list
		"q\"uo\\te\n\n",              // quotes, backslash, empty lines
		"\x1b]0;owned\x07\x1b[2Jesc", // terminal escapes
		`{"id":"x"}`,                 // JSON of its own
	}
	for _, h := range hostile {
		out := fakedocker.Run(t, fakedocker.State{Nodes: []fakedocker.Node{
			fakedocker.NewNode("idm1", "m1", "manager", "0.0.0.0", "10.0.0.1:2377", true),
			fakedocker.NewNode("idw1", h, "worker", "10.0.0.2", "", false),
			fakedocker.NewNode("idw2", "w2", "worker", "10.0.0.3", "", false),
		}}, swarmScript)
		got, err := ParseSwarmNodes(out)
		if err != nil {
			t.Errorf("hostname %q: %v\n%s", h, err, out)
			continue
		}
		if len(got) != 3 {
			t.Errorf("hostname %q: %d members, want 3: %+v", h, len(got), got)
			continue
		}
		want := []SwarmNode{
			{ID: "idm1", Hostname: "m1", Role: "manager", State: "ready", Availability: "active", Addr: "10.0.0.1", Reachability: "reachable", Leader: true},
			{ID: "idw1", Hostname: h, Role: "worker", State: "ready", Availability: "active", Addr: "10.0.0.2"},
			{ID: "idw2", Hostname: "w2", Role: "worker", State: "ready", Availability: "active", Addr: "10.0.0.3"},
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("hostname %q: member %d = %+v, want %+v", h, i, got[i], want[i])
			}
		}
	}
}
