package configure

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The plan lists every node in the order the run changes them (reloads
// together, workers, managers one at a time, leader last, unchanged and
// failed after), and Confirm sees it before anything changes.
func TestPlanOrderAndConsent(t *testing.T) {
	cl, ns := swarmOf(t)
	ns[2].fh.SetFile(ns[2].cfg, `{"experimental": true}`, 0o644) // w1: mirrors only, a reload
	ns[2].experimental = true
	o := opts(addSettings())
	o.MaxUnavailable = 1
	var seen *Plan
	o.Confirm = func(p *Plan) error {
		seen = p
		if len(cl.Events()) != 0 {
			t.Errorf("changes before consent: %v", cl.Events())
		}
		return nil
	}
	rep := run(t, o, ns...)
	if seen == nil || rep.Plan != seen {
		t.Fatal("Confirm not called with the report's plan")
	}
	var order []string
	for _, s := range seen.Steps {
		order = append(order, s.Action+" "+s.Name+" "+s.Stage)
	}
	want := []string{"reload w1 together", "restart w2 worker batch 1", "restart m1 manager 1 of 3", "restart m2 manager 2 of 3", "restart m3 manager 3 of 3, leader last"}
	if !slices.Equal(order, want) {
		t.Errorf("plan order\n%q\nwant\n%q", order, want)
	}
	if !seen.NeedsConsent() || !slices.Equal(seen.Restarting(), []string{"w2", "m1", "m2", "m3"}) {
		t.Errorf("consent %v restarting %v", seen.NeedsConsent(), seen.Restarting())
	}
	text := seen.Text()
	for _, w := range []string{"Plan: point at the mirror on 5 of 5 node(s): 1 reload, 4 restart", "reload    w1  (worker; containers keep running",
		"restart   m3  (leader; manager 3 of 3, leader last; its containers stop", "leader last, each only while"} {
		if !strings.Contains(text, w) {
			t.Errorf("plan text lacks %q:\n%s", w, text)
		}
	}
}

// A refusal stops the run before any change: nodes that would change are
// skipped and say why; nodes already right stay unchanged.
func TestConfirmRefusedChangesNothing(t *testing.T) {
	cl, ns := swarmOf(t)
	ns[0].fh.SetFile(ns[0].cfg, `{"experimental": true, "registry-mirrors": ["https://mirror.example.com"]}`, 0o644)
	ns[0].experimental, ns[0].mirrors = true, []string{"https://mirror.example.com/"}
	o := opts(addSettings())
	no := errors.New("consent missing (--yes)")
	o.Confirm = func(*Plan) error { return no }
	rep := run(t, o, ns...)
	if len(cl.Events()) != 0 || rep.Declined != no {
		t.Fatalf("events %v declined %v", cl.Events(), rep.Declined)
	}
	for _, r := range rep.Nodes {
		switch {
		case r.Name == "m3" && r.Outcome != Unchanged:
			t.Errorf("m3: %s", r.Outcome)
		case r.Name != "m3" && (r.Outcome != Skipped || r.Error != "not done: the plan was not confirmed"):
			t.Errorf("%s: %s %q", r.Name, r.Outcome, r.Error)
		}
		if len(r.Steps) != 0 {
			t.Errorf("%s: steps %v", r.Name, r.Steps)
		}
	}
}

// Reloads only, or nothing to do: no consent needed; a removal always.
func TestNeedsConsent(t *testing.T) {
	cases := []struct {
		p    Plan
		want bool
	}{
		{Plan{Steps: []PlanStep{{Action: PlanReload}, {Action: PlanUnchanged}}}, false},
		{Plan{Steps: []PlanStep{{Action: PlanUnchanged}, {Action: PlanFailed}}}, false},
		{Plan{Steps: []PlanStep{{Action: PlanWrite}}}, false},
		{Plan{Steps: []PlanStep{{Action: PlanReload}, {Action: PlanRestart}}}, true},
		{Plan{Remove: true, Steps: []PlanStep{{Action: PlanReload}}}, true},
		{Plan{Remove: true, Steps: []PlanStep{{Action: PlanUnchanged}}}, false},
	}
	for i, c := range cases {
		if got := c.p.NeedsConsent(); got != c.want {
			t.Errorf("%d: NeedsConsent = %v, want %v", i, got, c.want)
		}
	}
	if txt := (&Plan{Remove: true, Steps: []PlanStep{{Name: "a", Action: PlanReload}}}).Text(); !strings.Contains(txt, "REMOVE THE MIRROR") {
		t.Errorf("a removal is not said loudly:\n%s", txt)
	}
}

// The plan comes first: nodes that phase A finished (unchanged, failed,
// a dry run's would-*) are reported after Confirm saw the plan.
func TestPlanBeforeNodeLines(t *testing.T) {
	_, ns := swarmOf(t)
	ns[0].fh.SetFile(ns[0].cfg, `{"experimental": true, "registry-mirrors": ["https://mirror.example.com"]}`, 0o644)
	ns[0].experimental, ns[0].mirrors = true, []string{"https://mirror.example.com/"}
	o := opts(addSettings())
	o.DryRun = true
	var seq []string
	var mu sync.Mutex
	o.Confirm = func(*Plan) error { mu.Lock(); seq = append(seq, "plan"); mu.Unlock(); return nil }
	o.OnNode = func(r NodeResult) { mu.Lock(); seq = append(seq, r.Name+" "+string(r.Outcome)); mu.Unlock() }
	run(t, o, ns...)
	if len(seq) != 6 || seq[0] != "plan" {
		t.Errorf("order %v: want the plan first, then every node", seq)
	}
}
