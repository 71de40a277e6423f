package configure

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

// guard makes a swarm node's restart safe: before it, quorum is checked
// and the node drained; after it, the node must be Ready (and Reachable
// for a manager) again before the run goes on, and the drain is undone.
type guard interface {
	before(ctx context.Context, r *nodeRun) error
	after(ctx context.Context, r *nodeRun, restarted bool) error
}

// swarmGuard checks the swarm from the managers among the selected nodes.
type swarmGuard struct {
	o        *Options
	managers []*nodeRun // connected managers, leader last
	warnOnce sync.Map
}

func (g *swarmGuard) warn(key, msg string) {
	if _, loaded := g.warnOnce.LoadOrStore(key, true); !loaded {
		g.o.Warn(msg)
	}
}

// controller picks a manager to ask about r: another manager if there is
// one, else r itself when it is a manager (fine before its restart, and
// it answers again once its raft is back).
func (g *swarmGuard) controller(r *nodeRun) *nodeRun {
	for _, m := range g.managers {
		if m != r {
			return m
		}
	}
	if r.f.SwarmManager {
		return r
	}
	return nil
}

// currentLeader asks a manager which node leads the swarm now ("" if no
// manager answers).
func (g *swarmGuard) currentLeader(ctx context.Context) string {
	for _, m := range g.managers {
		list, err := member.SwarmNodes(ctx, m.h)
		if err != nil {
			continue
		}
		for _, n := range list {
			if n.Leader {
				return n.ID
			}
		}
		return ""
	}
	return ""
}

func (g *swarmGuard) before(ctx context.Context, r *nodeRun) error {
	ctl := g.controller(r)
	if ctl == nil {
		if g.o.Drain {
			return errors.New("--drain needs a reachable swarm manager (among the selected nodes, or a node with role: manager in the inventory) to drain this node")
		}
		g.warn("nomanager", "no reachable swarm manager among the selected nodes or the inventory's managers: swarm workers are restarted without checking from the control plane that they are Ready again")
		return nil
	}
	list, err := member.SwarmNodes(ctx, ctl.h)
	if err != nil {
		if ctl == r {
			return fmt.Errorf("quorum not confirmed, not restarting: %w", err)
		}
		return fmt.Errorf("quorum not confirmed, not restarting: manager %s: %w", ctl.node.Name, err)
	}
	var managers, leaders int
	for _, n := range list {
		if n.Role == "manager" {
			managers++
			if n.Leader {
				leaders++
			}
		}
	}
	// The node's own report of its ID is taken only as far as the
	// manager's view confirms it: whatever is drained, waited for and
	// made active again below is this node, never another member.
	self, err := member.Confirm(list, r.f, r.h.Addr())
	if errors.Is(err, member.ErrNotListed) {
		return fmt.Errorf("swarm node %s is not listed by manager %s: quorum not confirmed, not restarting", r.f.SwarmNodeID, ctl.node.Name)
	}
	if err != nil {
		return fmt.Errorf("not draining or restarting it: %v (seen from %s)", err, ctl.node.Name)
	}
	r.swarmID = self.ID
	if r.f.SwarmManager {
		if leaders == 0 {
			return fmt.Errorf("the swarm has no leader (seen from %s): quorum not confirmed, not restarting", ctl.node.Name)
		}
		var down []string
		for _, n := range list {
			if n.Role == "manager" && n.ID != self.ID && n.Reachability != "reachable" {
				down = append(down, fmt.Sprintf("%s is %s", n.Hostname, dash(n.Reachability)))
			}
		}
		if len(down) > 0 {
			return fmt.Errorf("quorum not confirmed, not restarting: manager %s (seen from %s); restarting another manager now could lose the raft majority",
				strings.Join(down, ", "), ctl.node.Name)
		}
		if managers <= 2 {
			g.warn("smallquorum", fmt.Sprintf("the swarm has %d manager(s): its control plane is unavailable while a manager's dockerd restarts (a few seconds)", managers))
		}
	}
	if g.o.Drain {
		r.swarmAvail = self.Availability
		if self.Availability == "active" {
			if err := setAvailability(ctx, ctl.h, self.ID, "drain"); err != nil {
				return fmt.Errorf("draining: %w", err)
			}
			r.drained = true
		}
		if err := g.waitDrained(ctx, ctl, r); err != nil {
			return err
		}
	}
	return nil
}

// waitDrained waits until no task runs on r any more. Draining only asks
// the tasks to stop (each has its stop grace period); restarting dockerd
// before they have stopped would kill them, which --drain is there to
// avoid. A node whose tasks do not stop in time is not restarted (the
// caller undoes the drain).
func (g *swarmGuard) waitDrained(ctx context.Context, ctl, r *nodeRun) error {
	out, err := ctl.h.Run(ctx, nodes.Cmd{Script: drainWaitScript, ScriptArgs: []string{r.swarmID, g.o.timeoutSecs()}, Sudo: true})
	if err != nil {
		return fmt.Errorf("waiting for the drained node's tasks to stop: %w", err)
	}
	got := strings.TrimSpace(string(out.Stdout))
	if msg, ok := strings.CutPrefix(got, "error "); ok {
		return fmt.Errorf("waiting for the drained node's tasks to stop: manager %s: %s", ctl.node.Name, msg)
	}
	n, err := strconv.Atoi(got)
	if err != nil {
		return fmt.Errorf("waiting for the drained node's tasks to stop: manager %s answered %q", ctl.node.Name, got)
	}
	if n > 0 {
		return fmt.Errorf("drained, but %d task(s) still running after %s (seen from %s): not restarting", n, g.o.Timeout, ctl.node.Name)
	}
	return nil
}

func (g *swarmGuard) after(ctx context.Context, r *nodeRun, restarted bool) error {
	ctl := g.controller(r)
	var errs []error
	if restarted && ctl != nil && ctx.Err() == nil && r.swarmID != "" {
		if err := g.waitBack(ctx, ctl, r); err != nil {
			errs = append(errs, err)
		}
	}
	if r.drained && ctl != nil {
		// Undo the drain even after a failure or an interrupt.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.o.Timeout)
		defer cancel()
		if err := setAvailability(uctx, ctl.h, r.swarmID, r.swarmAvail); err != nil {
			errs = append(errs, fmt.Errorf("making the node %s again: %w", r.swarmAvail, err))
		} else {
			r.drained = false
		}
	}
	return errors.Join(errs...)
}

// waitBack waits, in one command on a manager, until r is Ready (and
// Reachable for a manager) again.
func (g *swarmGuard) waitBack(ctx context.Context, ctl, r *nodeRun) error {
	mgr := ""
	if r.f.SwarmManager {
		mgr = "manager"
	}
	out, err := ctl.h.Run(ctx, nodes.Cmd{Script: nodeWaitScript, ScriptArgs: []string{r.swarmID, mgr, g.o.timeoutSecs()}, Sudo: true})
	if err != nil {
		return fmt.Errorf("waiting for the node to be Ready again: %w", err)
	}
	got := strings.TrimSpace(string(out.Stdout))
	st, reach, _ := strings.Cut(got, " ")
	if st != "ready" || (mgr != "" && reach != "reachable") {
		want := "Ready"
		if mgr != "" {
			want = "Ready and Reachable"
		}
		return fmt.Errorf("not %s again within %s (manager %s sees %q)", want, g.o.Timeout, ctl.node.Name, got)
	}
	return nil
}

func setAvailability(ctx context.Context, mgr nodes.Host, id, avail string) error {
	_, err := mgr.Run(ctx, nodes.Cmd{Args: []string{"docker", "node", "update", "--availability", avail, id}, Sudo: true})
	return err
}
