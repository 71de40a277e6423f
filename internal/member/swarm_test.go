package member

import "testing"

func TestParseSwarmNodes(t *testing.T) {
	out := "abc|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n" +
		"def|w1|worker|down|drain|10.0.0.9|||\n"
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
}
