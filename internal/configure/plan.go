package configure

import (
	"fmt"
	"strings"
)

// Actions in a plan.
const (
	PlanUnchanged = "unchanged"
	PlanReload    = "reload"
	PlanRestart   = "restart"
	PlanWrite     = "write"
	PlanFailed    = "failed"
	// PlanFiles: only certs.d files change; no reload or restart.
	PlanFiles = "files"
)

// Plan is what a run will do, decided by reading every node (phase A)
// before anything changes: each node's action, in the order the run
// applies them. Options.Confirm sees it before the first change.
type Plan struct {
	// Steps are the nodes in the order they are applied: nodes that only
	// reload or write (and restarts outside a swarm) together, then swarm
	// workers in batches, then managers one at a time with the leader
	// last; unchanged and failed nodes after them.
	Steps []PlanStep `json:"steps"`
	// Remove: the run takes mirrors out of daemon.json.
	Remove bool `json:"remove"`
}

// PlanStep is one node's part of a plan.
type PlanStep struct {
	Name   string `json:"name"`
	Action string `json:"action"` // unchanged | reload | restart | write | failed
	Role   string `json:"role,omitempty"`
	// Stage says when: "together" (all at once, up to --parallel),
	// "worker batch N" or "manager N" (one at a time); "" for nodes
	// that are unchanged or failed.
	Stage string `json:"stage,omitempty"`
	// Why: what changes (daemon.json keys), or the error of a failed node.
	Why string `json:"why,omitempty"`
}

// Count is how many steps have action a.
func (p *Plan) Count(a string) int {
	n := 0
	for _, s := range p.Steps {
		if s.Action == a {
			n++
		}
	}
	return n
}

// Changing lists the nodes the run will change (reload, restart, write).
func (p *Plan) Changing() []string {
	var out []string
	for _, s := range p.Steps {
		if s.Action == PlanReload || s.Action == PlanRestart || s.Action == PlanWrite || s.Action == PlanFiles {
			out = append(out, s.Name)
		}
	}
	return out
}

// Restarting lists the nodes whose docker the run will restart.
func (p *Plan) Restarting() []string {
	var out []string
	for _, s := range p.Steps {
		if s.Action == PlanRestart {
			out = append(out, s.Name)
		}
	}
	return out
}

// NeedsConsent: a restart stops a node's containers, and a removal takes
// the mirror away from nodes; a run that only reloads (containers keep
// running) or changes nothing does not need it.
func (p *Plan) NeedsConsent() bool {
	return p.Count(PlanRestart) > 0 || (p.Remove && len(p.Changing()) > 0)
}

// Text is the plan as printed before the question, one line per node.
func (p *Plan) Text() string {
	var b strings.Builder
	verb := "point at the mirror"
	if p.Remove {
		verb = "REMOVE THE MIRROR FROM daemon.json"
	}
	fmt.Fprintf(&b, "Plan: %s on %d of %d node(s): %d reload, %d restart, %d write only, %d certs.d only, %d unchanged, %d failed\n",
		verb, len(p.Changing()), len(p.Steps), p.Count(PlanReload), p.Count(PlanRestart), p.Count(PlanWrite), p.Count(PlanFiles), p.Count(PlanUnchanged), p.Count(PlanFailed))
	w := 0
	for _, s := range p.Steps {
		w = max(w, len(s.Name))
	}
	for i, s := range p.Steps {
		pos := "-"
		if s.Stage != "" {
			pos = fmt.Sprint(i + 1)
		}
		line := fmt.Sprintf("  %3s  %-9s %-*s", pos, s.Action, w, s.Name)
		var notes []string
		if s.Role != "" && s.Role != "none" {
			notes = append(notes, s.Role)
		}
		if s.Stage != "" && s.Stage != "together" {
			notes = append(notes, s.Stage)
		}
		switch s.Action {
		case PlanReload:
			notes = append(notes, "containers keep running")
		case PlanRestart:
			notes = append(notes, "its containers stop while docker restarts")
		case PlanWrite:
			notes = append(notes, "takes effect at the next reload or restart")
		case PlanFiles:
			notes = append(notes, "certs.d files only: read at the next pull, no reload or restart")
		}
		if s.Why != "" {
			notes = append(notes, s.Why)
		}
		if len(notes) > 0 {
			line += "  (" + strings.Join(notes, "; ") + ")"
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	if p.Count(PlanRestart) > 0 {
		b.WriteString("Restarts go workers first, then managers one at a time with the leader last, each only while the other managers are reachable.\n")
	}
	return b.String()
}

// plan builds the Plan from phase A's outcome, in phase B's order.
func plan(runs []*nodeRun, o *Options) *Plan {
	p := &Plan{Remove: o.Settings.Remove, Steps: []PlanStep{}}
	together, workers, managers := stages(runs, func(r *nodeRun) bool { return r.planned() })
	add := func(r *nodeRun, stage string) {
		a := r.act.planAction()
		if r.filesOnly() {
			a = PlanFiles
		}
		p.Steps = append(p.Steps, PlanStep{Name: r.node.Name, Action: a, Role: r.f.Role(), Stage: stage, Why: r.why()})
	}
	for _, r := range together {
		add(r, "together")
	}
	for i := 0; i < len(workers); i += o.MaxUnavailable {
		for _, r := range workers[i:min(i+o.MaxUnavailable, len(workers))] {
			add(r, fmt.Sprintf("worker batch %d", i/o.MaxUnavailable+1))
		}
	}
	for i, r := range managers {
		stage := fmt.Sprintf("manager %d of %d", i+1, len(managers))
		if r.f.SwarmLeader && i == len(managers)-1 {
			stage += ", leader last"
		}
		add(r, stage)
	}
	for _, r := range runs {
		switch {
		case r.planned():
		case r.res.Outcome == Failed:
			p.Steps = append(p.Steps, PlanStep{Name: r.node.Name, Action: PlanFailed, Why: r.res.Error})
		case r.res.Outcome == Unchanged:
			p.Steps = append(p.Steps, PlanStep{Name: r.node.Name, Action: PlanUnchanged, Role: r.f.Role()})
		}
	}
	return p
}

// planned: phase A found a change to make on this node (it may already be
// done as a dry run's would-*).
func (r *nodeRun) planned() bool {
	return r.f != nil && r.res.Outcome != Failed && r.res.Outcome != Unchanged && r.res.Outcome != Skipped && (r.merged.Changed || r.pending || r.files.Changed())
}

// why says what changes on the node, for the plan.
func (r *nodeRun) why() string {
	var keys []string
	for _, c := range r.res.Changes {
		keys = append(keys, c.Action+" "+c.Key)
	}
	for _, op := range r.files.Ops {
		keys = append(keys, op.Action+" "+op.Path)
	}
	if len(keys) == 0 && r.pending {
		return "file already right, daemon not using it"
	}
	return strings.Join(keys, ", ")
}

func (a action) planAction() string {
	switch a {
	case actReload:
		return PlanReload
	case actRestart:
		return PlanRestart
	}
	return PlanWrite
}

// stages splits the runs keep selects into phase B's order: those done
// together, swarm workers that restart, swarm managers that restart
// (leader last; otherwise input order).
func stages(runs []*nodeRun, keep func(*nodeRun) bool) (together, workers, managers []*nodeRun) {
	for _, r := range runs {
		switch {
		case !keep(r):
		case r.act != actRestart || r.f.SwarmState != "active":
			together = append(together, r)
		case r.f.SwarmManager:
			managers = append(managers, r)
		default:
			workers = append(workers, r)
		}
	}
	leaderLast(managers)
	return together, workers, managers
}
