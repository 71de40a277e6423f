package configure

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// swarmOf builds 3 managers (m3 the leader, listed first so leader-last
// ordering is visible) and 2 workers, none configured yet.
func swarmOf(t *testing.T) (*cluster, []*fakeNode) {
	cl := newCluster()
	ns := []*fakeNode{
		newFakeNode(t, cl, "m3", "{}").inSwarm("manager", true),
		newFakeNode(t, cl, "m1", "{}").inSwarm("manager", false),
		newFakeNode(t, cl, "w1", "{}").inSwarm("worker", false),
		newFakeNode(t, cl, "m2", "{}").inSwarm("manager", false),
		newFakeNode(t, cl, "w2", "{}").inSwarm("worker", false),
	}
	return cl, ns
}

func restarts(events []string) []string {
	var out []string
	for _, e := range events {
		if strings.HasPrefix(e, "restart ") {
			out = append(out, strings.TrimPrefix(e, "restart "))
		}
	}
	return out
}

func TestRollingOrderWorkersThenManagersLeaderLast(t *testing.T) {
	cl, ns := swarmOf(t)
	o := opts(addSettings())
	o.Parallel = 8
	rep := run(t, o, ns...)
	for _, r := range rep.Nodes {
		if r.Outcome != Restarted {
			t.Fatalf("%s: %s %s", r.Name, r.Outcome, r.Error)
		}
	}
	got := restarts(cl.Events())
	if len(got) != 5 || !slices.Equal(got[2:], []string{"m1", "m2", "m3"}) {
		t.Fatalf("restart order %v: want the two workers, then m1, m2, leader m3 last", got)
	}
	if cl.maxDown > 1 {
		t.Errorf("%d managers were down at once", cl.maxDown)
	}
	// Each manager's return was confirmed from another manager.
	for _, name := range []string{"m1", "m2", "m3"} {
		var waited bool
		for _, n := range ns {
			if n.fh.Name() == name {
				continue
			}
			for _, c := range n.fh.Commands {
				if c.Script.Name() == "node-wait.sh" && c.ScriptArgs[0] == "id-"+name && c.ScriptArgs[1] == "manager" {
					waited = true
				}
			}
		}
		if !waited {
			t.Errorf("%s: nobody waited for it to be Ready and Reachable again", name)
		}
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings %v", rep.Warnings)
	}
}

func TestWorkerBatchesAndDrain(t *testing.T) {
	cl, ns := swarmOf(t)
	o := opts(addSettings())
	o.Drain = true
	o.MaxUnavailable = 2
	rep := run(t, o, ns[2], ns[4], ns[1]) // w1, w2 and manager m1
	for _, r := range rep.Nodes {
		if r.Outcome != Restarted {
			t.Fatalf("%s: %s %s", r.Name, r.Outcome, r.Error)
		}
	}
	ev := cl.Events()
	for _, id := range []string{"id-w1", "id-w2", "id-m1"} {
		d, a := slices.Index(ev, "drain "+id), slices.Index(ev, "active "+id)
		w := slices.Index(ev, "tasks "+id+" 0")
		name := strings.TrimPrefix(id, "id-")
		r := slices.Index(ev, "restart "+name)
		if d < 0 || a < 0 || w < 0 || !(d < w && w < r && r < a) {
			t.Errorf("%s: want drain < no tasks left < restart < active in %v", id, ev)
		}
	}
}

// A drained node whose tasks do not stop in time is not restarted, and
// the drain is undone.
func TestDrainTasksStuckIsNotRestarted(t *testing.T) {
	cl, ns := swarmOf(t)
	cl.members["id-w1"].tasks, cl.members["id-w1"].stuck = 2, true
	o := opts(addSettings())
	o.Drain = true
	rep := run(t, o, ns[2], ns[0]) // w1, and leader m3 to drain it from
	r := rep.Nodes[0]
	if r.Outcome != Failed || !strings.Contains(r.Error, "2 task(s) still running") || !strings.Contains(r.Error, "not restarting") {
		t.Fatalf("%s %q", r.Outcome, r.Error)
	}
	ev := cl.Events()
	if got := restarts(ev); slices.Contains(got, "w1") {
		t.Errorf("restarted %v", got)
	}
	if slices.Index(ev, "active id-w1") < 0 || cl.members["id-w1"].avail != "active" {
		t.Errorf("drain not undone: %v", ev)
	}
	if len(ns[2].fh.Writes) != 0 {
		t.Errorf("wrote %v", ns[2].fh.Writes)
	}
}

func TestQuorumNotConfirmedIsNotRestarted(t *testing.T) {
	cl, ns := swarmOf(t)
	// m2 is not selected and is unreachable: restarting m1 would leave 1 of 3.
	cl.members["id-m2"].reach, cl.members["id-m2"].state = "unreachable", "down"
	rep := run(t, opts(addSettings()), ns[1], ns[0]) // m1, leader m3
	for _, r := range rep.Nodes {
		if r.Outcome != Failed || !strings.Contains(r.Error, "quorum not confirmed") || !strings.Contains(r.Error, "m2 is unreachable") {
			t.Errorf("%s: %s %q", r.Name, r.Outcome, r.Error)
		}
	}
	if got := restarts(cl.Events()); len(got) != 0 {
		t.Errorf("restarted %v", got)
	}
	for _, n := range ns[:2] {
		if len(n.fh.Writes) != 0 {
			t.Errorf("%s: wrote %v", n.fh.Name(), n.fh.Writes)
		}
	}
}

func TestSingleManagerWarns(t *testing.T) {
	cl := newCluster()
	m := newFakeNode(t, cl, "m1", "{}").inSwarm("manager", true)
	rep := run(t, opts(addSettings()), m)
	if rep.Nodes[0].Outcome != Restarted {
		t.Fatalf("%s %s", rep.Nodes[0].Outcome, rep.Nodes[0].Error)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "control plane is unavailable") {
		t.Errorf("warnings %v", rep.Warnings)
	}
}

func TestReloadsDoNotWaitForTheSwarm(t *testing.T) {
	cl, ns := swarmOf(t)
	for _, n := range ns {
		n.fh.SetFile(n.cfg, `{"experimental": true}`, 0o644)
		n.experimental = true
	}
	rep := run(t, opts(addSettings()), ns...)
	for i, r := range rep.Nodes {
		if r.Outcome != Reloaded {
			t.Fatalf("%s: %s %s", r.Name, r.Outcome, r.Error)
		}
		if slices.Contains(commands(ns[i]), "script") || slices.Contains(commands(ns[i]), "wait-node") {
			t.Errorf("%s: swarm checks for a reload: %v", r.Name, commands(ns[i]))
		}
	}
	if len(restarts(cl.Events())) != 0 {
		t.Errorf("events %v", cl.Events())
	}
}

func TestFailFastSkipsTheRest(t *testing.T) {
	cl, ns := swarmOf(t)
	ns[1].restartBreaks = true // m1, the first manager restarted
	o := opts(addSettings())
	o.FailFast = true
	rep := run(t, o, ns...)
	byName := map[string]NodeResult{}
	for _, r := range rep.Nodes {
		byName[r.Name] = r
	}
	if byName["m1"].Outcome != Failed || byName["m2"].Outcome != Skipped || byName["m3"].Outcome != Skipped {
		t.Errorf("m1 %s, m2 %s, m3 %s", byName["m1"].Outcome, byName["m2"].Outcome, byName["m3"].Outcome)
	}
	if byName["w1"].Outcome != Restarted {
		t.Errorf("w1 %s %s", byName["w1"].Outcome, byName["w1"].Error)
	}
	_ = cl
}

func TestLeaderLastFollowsLeadershipChanges(t *testing.T) {
	cl, ns := swarmOf(t)
	// Phase A's facts say m3 leads, but by the time managers are restarted
	// the swarm has elected m1.
	cl.members["id-m3"].leader = false
	cl.members["id-m1"].leader = true
	rep := run(t, opts(addSettings()), ns...)
	for _, r := range rep.Nodes {
		if r.Outcome != Restarted {
			t.Fatalf("%s: %s %s", r.Name, r.Outcome, r.Error)
		}
	}
	got := restarts(cl.Events())
	if got[len(got)-1] != "m1" {
		t.Errorf("restart order %v: the current leader m1 must be last", got)
	}
}

// With only workers selected (--limit worker), a manager outside the
// selection answers the swarm guard: drain, tasks stopped, Ready again.
// It is asked, never changed, and its connection is closed at the end.
func TestObserverManagerGuardsWorkersOnly(t *testing.T) {
	cl, ns := swarmOf(t)
	o := opts(addSettings())
	o.Drain = true
	unreachable := dialled("m9", func(context.Context) (nodes.Host, error) { return nil, errors.New("connection refused") })
	o.Observers = []*member.Member{unreachable, dialled("m3", func(context.Context) (nodes.Host, error) { return ns[0].Host(), nil })}
	var warns []string
	o.Warn = func(m string) { warns = append(warns, m) }
	rep := run(t, o, ns[2], ns[4]) // w1, w2
	for _, r := range rep.Nodes {
		if r.Outcome != Restarted {
			t.Fatalf("%s: %s %s", r.Name, r.Outcome, r.Error)
		}
	}
	ev := cl.Events()
	for _, id := range []string{"id-w1", "id-w2"} {
		if slices.Index(ev, "drain "+id) < 0 || slices.Index(ev, "active "+id) < 0 || slices.Index(ev, "tasks "+id+" 0") < 0 {
			t.Errorf("%s not drained and undrained through the observer: %v", id, ev)
		}
	}
	if got := restarts(ev); slices.Contains(got, "m3") || len(ns[0].fh.Writes) != 0 {
		t.Errorf("observer changed: restarts %v writes %v", got, ns[0].fh.Writes)
	}
	if !ns[0].fh.Closed() {
		t.Error("observer connection left open")
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "m9") || !strings.Contains(warns[0], "connection refused") {
		t.Errorf("warnings %q", warns)
	}
	if len(rep.Nodes) != 2 {
		t.Errorf("observer in the report: %+v", rep.Nodes)
	}
}

// Without any manager, --drain still refuses clearly.
func TestDrainWithoutAnyManagerRefuses(t *testing.T) {
	_, ns := swarmOf(t)
	o := opts(addSettings())
	o.Drain = true
	rep := run(t, o, ns[2])
	if r := rep.Nodes[0]; r.Outcome != Failed || !strings.Contains(r.Error, "--drain needs a reachable swarm manager") {
		t.Fatalf("%s %q", r.Outcome, r.Error)
	}
}

// A node's own report of its swarm node ID (docker info, which the node
// controls) is checked against the manager's list before anything is done
// to that ID: w1 reporting w2's ID must not get w2 drained, waited for or
// reactivated, nor itself restarted. Checked by the address swarmctl
// reached w1 at when the swarm knows it, else by the hostname the manager
// records.
func TestGuardTrustsTheManagersViewNotTheNodesClaim(t *testing.T) {
	for _, byAddr := range []bool{false, true} {
		cl, ns := swarmOf(t)
		w1 := ns[2]
		w1.swarmID = "id-w2"
		want := `which the manager records for hostname "w2", not "w1"`
		if byAddr {
			// w1 also claims w2's hostname: its address gives it away.
			cl.members["id-w1"].addr, cl.members["id-w2"].addr, w1.addr, w1.hostname = "10.0.0.12", "10.0.0.13", "10.0.0.12", "w2"
			want = "the manager knows its address 10.0.0.12 as node id-w1 (w1)"
		}
		o := opts(addSettings())
		o.Drain = true
		rep := run(t, o, w1, ns[0]) // w1, and leader m3 to drain it from
		r := rep.Nodes[0]
		if r.Outcome != Failed || !strings.Contains(r.Error, want) || !strings.Contains(r.Error, "not draining or restarting") {
			t.Errorf("byAddr=%v: %s %q, want failed: %s", byAddr, r.Outcome, r.Error, want)
		}
		ev := cl.Events()
		for _, e := range ev {
			if strings.HasSuffix(e, " id-w2") || strings.HasPrefix(e, "tasks id-w2") || e == "restart w1" {
				t.Errorf("byAddr=%v: %q happened: %v", byAddr, e, ev)
			}
		}
		for _, c := range ns[0].fh.Commands {
			if (c.Script == nodeWaitScript || c.Script == drainWaitScript) && c.ScriptArgs[0] == "id-w2" {
				t.Errorf("byAddr=%v: the manager was asked to wait for %v", byAddr, c.ScriptArgs)
			}
		}
		if len(w1.fh.Writes) != 0 {
			t.Errorf("byAddr=%v: wrote %v", byAddr, w1.fh.Writes)
		}
	}
}
