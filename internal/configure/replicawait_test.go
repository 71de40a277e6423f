package configure

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/probe"
)

// replicaOn gives node n a mirror replica at url that is down after each
// restart of n until it has been probed downFor times (-1: never back).
// Each probe is logged in the cluster ("probe m1 <url> down|up").
func replicaOn(n *fakeNode, url string, downFor int) {
	var mu sync.Mutex
	down := 0 // probes left before it answers again
	inner := n.fh.Handler
	n.fh.Handler = func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() == probe.Script.Name() {
			mu.Lock()
			defer mu.Unlock()
			if c.ScriptArgs[0] != url+"/v2/" {
				n.t.Errorf("%s: probe of %s, want %s/v2/", n.fh.Name(), c.ScriptArgs[0], url)
			}
			if down == 0 {
				n.cl.log("probe " + n.fh.Name() + " up")
				return nodes.Output{Stdout: []byte(probe.Output(401, time.Millisecond))}, nil
			}
			if down > 0 {
				down--
			}
			n.cl.log("probe " + n.fh.Name() + " down")
			return nodes.Output{}, &nodes.ExitError{Host: n.fh.Name(), Status: 1, Stderr: []byte("curl: (7) Failed to connect: Connection refused")}
		}
		out, err := inner(h, c)
		if len(c.Args) == 3 && c.Args[0] == "systemctl" && c.Args[1] == "restart" {
			mu.Lock()
			down = downFor
			mu.Unlock()
		}
		return out, err
	}
}

func withReplicas(o Options, urls map[string]string) Options {
	o.ForNode = func(n *member.Member, _ *member.Facts) (NodeWant, error) {
		w := NodeWant{SkipCertsD: true}
		if u := urls[n.Name]; u != "" {
			w.Replicas = []string{u}
		}
		return w, nil
	}
	return o
}

func fastPoll(t *testing.T) {
	old := replicaPoll
	replicaPoll = time.Millisecond
	t.Cleanup(func() { replicaPoll = old })
}

// A manager's replica answers again only after 3 probes: the next
// manager's restart waits for it, and the user is told what it waits for.
func TestRestartWaitsForTheNodesReplica(t *testing.T) {
	fastPoll(t)
	cl, ns := swarmOf(t)
	urls := map[string]string{"m1": "https://m1:5000", "m2": "https://m2:5000", "m3": "https://m3:5000"}
	for _, n := range ns {
		if u := urls[n.fh.Name()]; u != "" {
			replicaOn(n, u, 3)
		}
	}
	var mu sync.Mutex
	var progress []string
	o := withReplicas(opts(addSettings()), urls)
	o.Progress = func(s string) { mu.Lock(); progress = append(progress, s); mu.Unlock() }
	rep := run(t, o, ns...)
	for _, r := range rep.Nodes {
		if r.Outcome != Restarted {
			t.Fatalf("%s: %s %s", r.Name, r.Outcome, r.Error)
		}
		waited := slices.ContainsFunc(r.Steps, func(s StepTime) bool { return s.Name == replicaStep && s.OK })
		if waited != (urls[r.Name] != "") {
			t.Errorf("%s: replica wait step %v, steps %+v", r.Name, waited, r.Steps)
		}
	}
	// Between two manager restarts, the first one's replica answered.
	var seq []string
	for _, e := range cl.Events() {
		if strings.HasPrefix(e, "restart ") || strings.HasPrefix(e, "probe ") {
			seq = append(seq, e)
		}
	}
	want := []string{}
	for _, m := range []string{"m1", "m2", "m3"} {
		want = append(want, "restart "+m, "probe "+m+" down", "probe "+m+" down", "probe "+m+" down", "probe "+m+" up")
	}
	if got := seq[2:]; !slices.Equal(got, want) {
		t.Errorf("restarts and probes\n got %v\nwant %v", got, want)
	}
	if !slices.Contains(progress, "m2: waiting for its mirror replica https://m2:5000 to answer") {
		t.Errorf("progress %q", progress)
	}
}

// A replica that never answers again stops the rollout: its node is
// failed with the reason, the nodes after it are not touched.
func TestReplicaNotBackStopsTheRollout(t *testing.T) {
	fastPoll(t)
	cl, ns := swarmOf(t)
	urls := map[string]string{"m1": "https://m1:5000", "m2": "https://m2:5000", "m3": "https://m3:5000"}
	for _, n := range ns {
		if u := urls[n.fh.Name()]; u != "" {
			replicaOn(n, u, -1)
		}
	}
	o := withReplicas(opts(addSettings()), urls)
	o.Timeout = 200 * time.Millisecond
	rep := run(t, o, ns...)
	if !rep.Failed() {
		t.Fatal("the run did not fail")
	}
	byName := map[string]NodeResult{}
	for _, r := range rep.Nodes {
		byName[r.Name] = r
	}
	for _, w := range []string{"w1", "w2"} {
		if byName[w].Outcome != Restarted {
			t.Errorf("%s: %s %s", w, byName[w].Outcome, byName[w].Error)
		}
	}
	m1 := byName["m1"]
	if m1.Outcome != Failed || !strings.Contains(m1.Error, "mirror replica https://m1:5000 did not answer GET /v2/ within 200ms") ||
		!strings.Contains(m1.Error, "Connection refused") || !strings.Contains(m1.Error, "the remaining nodes were not changed") || m1.RolledBack {
		t.Errorf("m1: %s %q rolled back %v", m1.Outcome, m1.Error, m1.RolledBack)
	}
	for _, m := range []string{"m2", "m3"} {
		if r := byName[m]; r.Outcome != Skipped || r.Error != "not attempted: rollout stopped after m1, whose mirror replica did not answer again" {
			t.Errorf("%s: %s %q", m, r.Outcome, r.Error)
		}
	}
	if got := restarts(cl.Events()); !slices.Equal(got[2:], []string{"m1"}) {
		t.Errorf("restarts %v: want only the workers and m1", got)
	}
	for _, n := range ns {
		if name := n.fh.Name(); name == "m2" || name == "m3" {
			if d, _ := n.fh.File(n.cfg); d != "{}" {
				t.Errorf("%s: daemon.json changed to %s", name, d)
			}
		}
	}
}

// A reload stops no container: nothing to wait for.
func TestReloadDoesNotWaitForTheReplica(t *testing.T) {
	cl, ns := swarmOf(t)
	n := ns[1] // m1
	replicaOn(n, "https://m1:5000", -1)
	o := withReplicas(opts(daemonjson.Settings{Mirrors: []string{mirror}}), map[string]string{"m1": "https://m1:5000"})
	rep := run(t, o, n)
	if r := rep.Nodes[0]; r.Outcome != Reloaded {
		t.Fatalf("%s %s", r.Outcome, r.Error)
	}
	for _, e := range cl.Events() {
		if strings.HasPrefix(e, "probe ") {
			t.Errorf("probed after a reload: %s", e)
		}
	}
}
