package configure

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// Run configures daemon.json on every node and returns one result per node
// (input order). The order is swarm-aware:
//
//   - phase A: every node is connected to and read in parallel (one
//     command each); nodes already right end as unchanged there.
//   - nodes that only need a reload (or only a write, --apply none), and
//     nodes outside a swarm, are done in parallel;
//   - swarm workers that need a restart go in batches of MaxUnavailable,
//     each batch Ready again before the next;
//   - managers one at a time, the leader last, each only while every other
//     manager is Reachable, and the next only once it is back.
//   - a restarted node that runs mirror replicas (NodeWant.Replicas) is
//     done only once they answer again; when one does not, the rollout
//     stops there (waitReplicas).
//
// Connections Run dials are reused across phases. A node's is closed as
// soon as the node is finished (phase A or its apply step), or, when the
// selection is larger than --parallel, at the end of its phase A (phase B
// dials again); never an active manager's, which the swarm guard asks:
// those close at the end.
// Cancelling ctx stops new steps; locks are released either way.
func Run(ctx context.Context, targets []*member.Member, o Options) *Report {
	o.defaults()
	var warnings []string
	var wmu sync.Mutex
	userWarn := o.Warn
	o.Warn = func(msg string) {
		wmu.Lock()
		warnings = append(warnings, msg)
		wmu.Unlock()
		userWarn(msg)
	}
	runs := make([]*nodeRun, len(targets))
	for i, t := range targets {
		runs[i] = &nodeRun{o: &o, node: t, h: t.Conn}
	}
	defer func() {
		for _, r := range runs {
			if r.own && r.h != nil {
				r.h.Close()
			}
		}
	}()

	var mu sync.Mutex
	var failedAny atomic.Bool
	var halted halt
	// complete records a node's end; report tells OnNode. Phase A's ends
	// are reported after the plan (held in early), so the plan comes
	// first on the user's screen.
	var early []*nodeRun
	complete := func(r *nodeRun) {
		r.res.DurationMS = o.Now().Sub(r.start).Milliseconds()
		if r.res.Outcome == Failed {
			failedAny.Store(true)
		}
		halted.from(r)
	}
	report := func(r *nodeRun) {
		if o.OnNode != nil {
			mu.Lock()
			o.OnNode(r.res)
			mu.Unlock()
		}
	}
	finish := func(r *nodeRun) {
		complete(r)
		report(r)
	}
	stopped := func() bool { return ctx.Err() != nil || (o.FailFast && failedAny.Load()) || halted.stopped() }

	// Phase A. When the selection is larger than --parallel, a node that
	// waits for phase B does not keep its connection either: phase B dials
	// it again (one more handshake), so memory stays bounded by --parallel
	// however many nodes change.
	shed := len(runs) > o.Parallel
	forEach(ctx, runs, o.Parallel, func(ctx context.Context, r *nodeRun) {
		if stopped() {
			return
		}
		r.plan(ctx)
		if r.done {
			complete(r)
			mu.Lock()
			early = append(early, r)
			mu.Unlock()
		}
		if r.done || shed {
			r.release()
		}
	})

	// The plan, then consent, before the first change.
	pl := plan(runs, &o)
	var declined error
	if o.Confirm != nil && !stopped() {
		declined = o.Confirm(pl)
	}
	for _, r := range early {
		report(r)
	}

	// Phase B.
	parallel, workers, managers := stages(runs, func(r *nodeRun) bool { return !r.done && r.f != nil && declined == nil })
	g := &swarmGuard{o: &o}
	for _, r := range runs {
		if r.h != nil && r.f != nil && r.f.SwarmManager && r.f.SwarmState == "active" {
			g.managers = append(g.managers, r)
		}
	}
	leaderLast(g.managers)
	if len(g.managers) == 0 && len(workers)+len(managers) > 0 && !stopped() {
		if obs := observe(ctx, &o); obs != nil {
			defer obs.h.Close()
			g.managers = append(g.managers, obs)
		}
	}

	applyOne := func(ctx context.Context, r *nodeRun, gd guard) {
		if stopped() {
			return
		}
		r.apply(ctx, gd)
		finish(r)
		r.release() // memory bounded by --parallel, not by the fleet
	}
	forEach(ctx, parallel, o.Parallel, func(ctx context.Context, r *nodeRun) { applyOne(ctx, r, nil) })
	for i := 0; i < len(workers); i += o.MaxUnavailable {
		batch := workers[i:min(i+o.MaxUnavailable, len(workers))]
		forEach(ctx, batch, len(batch), func(ctx context.Context, r *nodeRun) { applyOne(ctx, r, g) })
	}
	// Managers one at a time. Leadership can move while we work (or since
	// phase A): ask the swarm who leads now and keep that one for last.
	for len(managers) > 0 && !stopped() {
		i := 0
		if len(managers) > 1 {
			if leader := g.currentLeader(ctx); leader != "" {
				for j, r := range managers {
					if r.f.SwarmNodeID != leader {
						i = j
						break
					}
				}
			}
		}
		r := managers[i]
		managers = append(managers[:i:i], managers[i+1:]...)
		applyOne(ctx, r, g)
	}

	rep := &Report{Summary: map[Outcome]int{}, Plan: pl, Declined: declined}
	for _, r := range runs {
		if r.res.Outcome == "" {
			r.res.Name, r.res.Address, r.res.Outcome = r.node.Name, r.node.Address(), Skipped
			r.res.Error = "not attempted"
			if declined != nil {
				r.res.Error = "not done: the plan was not confirmed"
			} else if ctx.Err() != nil {
				r.res.Error = "not attempted: interrupted"
			} else if halted.stopped() {
				r.res.Error = halted.reason()
			} else if o.FailFast {
				r.res.Error = "not attempted: --fail-fast after an earlier failure"
			}
			if o.OnNode != nil {
				o.OnNode(r.res)
			}
		}
		if r.res.Changes == nil {
			r.res.Changes = []daemonjson.Change{}
		}
		rep.Nodes = append(rep.Nodes, r.res)
		rep.Summary[r.res.Outcome]++
	}
	rep.Warnings = warnings
	return rep
}

// observe connects to the first reachable active manager among
// o.Observers, for the swarm guard only (nil when there is none).
func observe(ctx context.Context, o *Options) *nodeRun {
	for _, n := range o.Observers {
		r := &nodeRun{o: o, node: n, h: n.Conn}
		if r.h == nil {
			h, err := n.Dial(ctx)
			if err != nil {
				o.Warn(fmt.Sprintf("cannot ask manager %s about the swarm: %v", n.Name, nodes.Unnamed(n.Name, err)))
				continue
			}
			r.h = h
		} else {
			r.h = nopClose{r.h} // the caller's; not ours to close
		}
		f, err := member.GatherFacts(ctx, r.h, o.Service, o.DaemonJSON)
		if err == nil && f.SwarmManager && f.SwarmState == "active" {
			r.f = f
			return r
		}
		if err != nil {
			o.Warn(fmt.Sprintf("cannot ask manager %s about the swarm: %v", n.Name, nodes.Unnamed(n.Name, err)))
		}
		r.h.Close()
	}
	return nil
}

// leaderLast orders managers with the leader last, otherwise in input
// order.
func leaderLast(ms []*nodeRun) {
	sort.SliceStable(ms, func(i, j int) bool { return !ms[i].f.SwarmLeader && ms[j].f.SwarmLeader })
}

// nopClose keeps a Host the caller handed in open.
type nopClose struct{ nodes.Host }

func (nopClose) Close() error { return nil }

// release closes the connection of a node that is finished,
// so a large fleet's memory is bounded by --parallel rather than by the
// number of nodes. Active swarm managers stay connected: the swarm guard
// asks them about the other nodes in phase B.
func (r *nodeRun) release() {
	if !r.own || r.h == nil || (r.f != nil && r.f.SwarmManager && r.f.SwarmState == "active") {
		return
	}
	r.h.Close()
	r.h = nil
}

// forEach runs fn on every run with at most limit at once.
func forEach(ctx context.Context, runs []*nodeRun, limit int, fn func(context.Context, *nodeRun)) {
	nodes.Parallel(ctx, runs, limit, false, func(ctx context.Context, r *nodeRun) (struct{}, error) {
		fn(ctx, r)
		return struct{}{}, nil
	})
}
