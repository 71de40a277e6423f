package member

import (
	"strings"
	"testing"
)

func TestParseSwarmNodes(t *testing.T) {
	out := string(EncodeSwarmNodes([]SwarmNode{
		{ID: "abc", Hostname: "m1", Role: "manager", State: "ready", Availability: "active", Addr: "10.0.0.1", Reachability: "reachable", Leader: true},
		{ID: "def", Hostname: "w1", Role: "worker", State: "down", Availability: "drain", Addr: "10.0.0.9"},
	}))
	ns, err := ParseSwarmNodes(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 {
		t.Fatalf("got %d nodes", len(ns))
	}
	if m := ns[0]; m.Addr != "10.0.0.1" || !m.Leader || m.Role != "manager" || m.Reachability != "reachable" {
		t.Errorf("manager = %+v", m)
	}
	if w := ns[1]; w.Addr != "10.0.0.9" || w.Leader || w.State != "down" || w.Availability != "drain" {
		t.Errorf("worker = %+v", w)
	}
	if _, err := ParseSwarmNodes("garbage\n"); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := ParseSwarmNodes("\x1b[2Jgarbage\n"); err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("garbage line: %v (must not be quoted)", err)
	}
}

// A node's claim to a swarm node ID counts only where the manager's view
// confirms it: by the address swarmctl reached the node at when the swarm
// knows it, else by the hostname the manager records.
func TestConfirmTrustsTheManagersView(t *testing.T) {
	list := []SwarmNode{
		{ID: "idm1", Hostname: "m1", Role: "manager", Addr: "10.0.0.1"},
		{ID: "idw1", Hostname: "w1", Role: "worker", Addr: "10.0.0.2"},
		{ID: "idw2", Hostname: "w2", Role: "worker", Addr: "10.0.0.3"},
		{ID: "idw3", Hostname: "w3", Role: "worker", Addr: "10.0.0.3"},
	}
	cases := []struct {
		claim, hostname, addr string
		want                  string // ID, or "" for refused
	}{
		{"idw1", "w1", "10.0.0.2:22", "idw1"},
		{"idw2", "w1", "10.0.0.2:22", ""},           // w1 claims w2's ID
		{"idw2", "w2", "10.0.0.2:22", ""},           // ... and w2's hostname too: the address decides
		{"idw1", "w1", "w1.example.com:22", "idw1"}, // no address to compare: the hostname
		{"idw2", "w1", "w1.example.com:22", ""},
		{"idw2", "w1", "127.0.0.1:40022", ""}, // a proxy: the hostname
		{"idw1", "w1", "127.0.0.1:40022", "idw1"},
		{"idw1", "w1", "192.168.7.7:22", "idw1"}, // an address the swarm does not use: the hostname
		{"idx", "w1", "10.0.0.2:22", ""},         // not listed
		{"idw3", "w3", "10.0.0.3:2203", "idw3"},  // shares w2's address (NAT)
		{"idw1", "w1", "10.0.0.3:2203", ""},      // an address the manager records for others only
		{"", "w1", "10.0.0.2:22", ""},
	}
	for _, c := range cases {
		m, err := Confirm(list, &Facts{SwarmNodeID: c.claim, Hostname: c.hostname}, c.addr)
		got := ""
		if err == nil {
			got = m.ID
		}
		if got != c.want {
			t.Errorf("claim %s hostname %s at %s: got %q (%v), want %q", c.claim, c.hostname, c.addr, got, err, c.want)
		}
	}
}
