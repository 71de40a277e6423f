package configure

import (
	"context"
	"sync"
	"testing"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// A node that is done after phase A (unchanged) has its connection closed
// before phase B, and a changed one right after its apply step, unless it
// is an active manager the swarm guard may ask; those close at the end. Hosts handed in open stay open.
func TestConnectionsOfFinishedNodesAreClosedEarly(t *testing.T) {
	cl := newCluster()
	unchanged := func(name string) *fakeNode {
		n := newFakeNode(t, cl, name, `{"registry-mirrors": ["https://mirror.example.com/"], "experimental": true}`)
		n.mirrors, n.experimental = []string{mirror + "/"}, true
		return n
	}
	worker := unchanged("w1").inSwarm("worker", false)
	mgr := unchanged("m1").inSwarm("manager", true)
	given := unchanged("given")
	reload := newFakeNode(t, cl, "w2", `{"experimental": true}`).inSwarm("worker", false)
	reload.experimental = true
	reload2 := newFakeNode(t, cl, "w3", `{"experimental": true}`).inSwarm("worker", false)
	reload2.experimental = true

	dial := func(n *fakeNode) func(context.Context) (nodes.Host, error) {
		return func(context.Context) (nodes.Host, error) { return n.Host(), nil }
	}
	targets := []*member.Member{
		dialled("w1", dial(worker)),
		dialled("m1", dial(mgr)),
		connected("given", given.Host()),
		dialled("w2", dial(reload)),
		dialled("w3", dial(reload2)),
	}
	o := opts(addSettings())
	o.Parallel = 1
	var checked bool
	o.OnNode = func(r NodeResult) {
		if r.Name == "w3" && !reload.fh.Closed() {
			t.Error("w2 still connected after its apply step, while w3 was applied")
		}
		if r.Name != "w2" {
			return
		}
		checked = true
		if !worker.fh.Closed() {
			t.Error("unchanged worker still connected while another node was applied")
		}
		if mgr.fh.Closed() {
			t.Error("unchanged manager closed before phase B: the swarm guard needs it")
		}
	}
	rep := Run(context.Background(), targets, o)
	if rep.Nodes[3].Outcome != Reloaded || rep.Nodes[4].Outcome != Reloaded || rep.Summary[Unchanged] != 3 {
		t.Fatalf("summary %v, w2 %s (%s)", rep.Summary, rep.Nodes[3].Outcome, rep.Nodes[3].Error)
	}
	if !checked {
		t.Fatal("OnNode never saw w2")
	}
	if !worker.fh.Closed() || !mgr.fh.Closed() || !reload.fh.Closed() || !reload2.fh.Closed() {
		t.Error("a dialled connection was left open after Run")
	}
	if given.fh.Closed() {
		t.Error("Run closed a Host the caller handed in")
	}
}

// A selection larger than --parallel: a changed worker's connection is
// closed at the end of phase A and dialled again for its change, so no more
// than --parallel connections wait for phase B. Within --parallel, each node
// is dialled once.
func TestLargeSelectionRedialsChangedNodes(t *testing.T) {
	for _, tc := range []struct {
		parallel  int
		wantDials int
	}{{1, 2}, {8, 1}} {
		cl := newCluster()
		var ns []*fakeNode
		dials := map[string]int{}
		var mu sync.Mutex
		var targets []*member.Member
		for _, name := range []string{"w1", "w2", "w3"} {
			n := newFakeNode(t, cl, name, `{"experimental": true}`).inSwarm("worker", false)
			n.experimental = true
			ns = append(ns, n)
			targets = append(targets, dialled(name, func(context.Context) (nodes.Host, error) {
				mu.Lock()
				dials[name]++
				mu.Unlock()
				return n.Host(), nil
			}))
		}
		o := opts(addSettings())
		o.Parallel = tc.parallel
		var openAtPhaseB int
		o.OnNode = func(r NodeResult) {
			if r.Name != "w1" {
				return
			}
			for _, n := range ns[1:] {
				if !n.fh.Closed() {
					openAtPhaseB++
				}
			}
		}
		rep := Run(context.Background(), targets, o)
		if rep.Summary[Reloaded] != 3 {
			t.Fatalf("parallel %d: summary %v", tc.parallel, rep.Summary)
		}
		for _, name := range []string{"w1", "w2", "w3"} {
			if dials[name] != tc.wantDials {
				t.Errorf("parallel %d: %s dialled %d times, want %d", tc.parallel, name, dials[name], tc.wantDials)
			}
		}
		if tc.parallel == 1 && openAtPhaseB != 0 {
			t.Errorf("parallel 1: %d other changed nodes still connected while w1 was applied", openAtPhaseB)
		}
		for _, n := range ns {
			if !n.fh.Closed() {
				t.Errorf("parallel %d: %s left open", tc.parallel, n.fh.Name())
			}
		}
	}
}
