package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/report"
)

// onlyReads reports whether h received nothing but the read-only scripts
// (facts, the swarm's member list).
func onlyReads(h *fakehost.Host) bool {
	for _, c := range h.Commands {
		if n := c.Script.Name(); n != "facts.sh" && n != "swarm-nodes.sh" {
			return false
		}
	}
	return len(h.Writes) == 0
}

// A restart needs consent: without a terminal and without --yes the run
// prints the plan, changes nothing and exits 2 naming --yes; its JSON
// document carries the plan, the skipped nodes and the error. A dry run
// never asks.
func TestConfigureRestartNeedsConsent(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	fs := newFakeSwarm()
	d, out, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "-o", "json"})
	if code != ExitError {
		t.Fatalf("exit %d, want 2\n%s", code, errb)
	}
	for _, want := range []string{"Plan: point at the mirror on 1 of 2 node(s): 0 reload, 1 restart", "restart   w1",
		"Error: this run would restart docker on 1 node(s) (w1), and there is no terminal to ask: nothing was changed", "Hint: ", "--yes"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	var doc NodesConfigureResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Error == nil || doc.Error.Code != report.ErrConsentRequired || doc.Plan == nil || len(doc.Plan.Restarting()) != 1 {
		t.Errorf("doc: %s", out)
	}
	for _, n := range doc.Nodes {
		if n.Name == "w1" && (n.Outcome != configure.Skipped || !strings.Contains(n.Error, "not confirmed")) {
			t.Errorf("w1: %s %q", n.Outcome, n.Error)
		}
	}
	for addr, h := range fs.hosts {
		if !onlyReads(h) {
			t.Errorf("%s changed without consent: %v", addr, h.Commands)
		}
	}

	// The dry run shows the same plan and asks nothing.
	fs = newFakeSwarm()
	d, _, errb = testDeps(fs.dial)
	if code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--dry-run"}); code != ExitOK {
		t.Errorf("dry run: exit %d\n%s", code, errb)
	}
	if !strings.Contains(errb.String(), "restart   w1") || strings.Contains(errb.String(), "[y/N]") {
		t.Errorf("dry run stderr:\n%s", errb)
	}
}

// On a terminal the run asks; "n" (or nothing) changes nothing, "y" and
// --yes go ahead.
func TestConfigureConsentOnATerminal(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	for _, c := range []struct {
		answer string
		args   []string
		tty    bool
		asked  bool
		goes   bool
		code   int
	}{
		{"n\n", nil, true, true, false, ExitError},
		{"", nil, true, true, false, ExitError},
		{"y\n", nil, true, true, true, ExitFailed}, // the fake refuses the write: w1 fails
		{"", []string{"--yes"}, false, false, true, ExitFailed},
		{"", []string{"-y"}, true, false, true, ExitFailed},
	} {
		fs := newFakeSwarm()
		d, _, errb := testDeps(fs.dial)
		d.IO.StdinTTY, d.IO.StderrTTY, d.IO.In = c.tty, c.tty, strings.NewReader(c.answer)
		code := Run(context.Background(), d, append([]string{"nodes", "configure", "-i", inv}, c.args...))
		asked := strings.Contains(errb.String(), "Restart docker on 1 node(s) (w1)? [y/N]")
		went := !onlyReads(fs.hosts["10.0.0.2"])
		if code != c.code || asked != c.asked || went != c.goes {
			t.Errorf("answer %q %v: exit %d asked %v went ahead %v\n%s", c.answer, c.args, code, asked, went, errb)
		}
	}
	// SWARMCTL_YES is --yes.
	fs := newFakeSwarm()
	d, _, errb := testDeps(fs.dial)
	d.Getenv = func(k string) string { return map[string]string{"SWARMCTL_YES": "1"}[k] }
	Run(context.Background(), d, []string{"nodes", "configure", "-i", inv})
	if onlyReads(fs.hosts["10.0.0.2"]) || !strings.Contains(errb.String(), "SWARMCTL_YES: going ahead: restart docker on 1 node(s) (w1)") {
		t.Errorf("SWARMCTL_YES=1:\n%s", errb)
	}
}

// A run that only reloads needs no consent; a removal always does, and
// says so loudly.
func TestConsentForReloadsAndRemovals(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	// m1 is configured: removing the mirror from it is a change that needs consent.
	fs := newFakeSwarm()
	d, _, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--limit", "m1", "--remove"})
	if code != ExitError || !strings.Contains(errb.String(), "REMOVE THE MIRROR FROM daemon.json on 1 of 1") ||
		!strings.Contains(errb.String(), "would remove the mirror from daemon.json on 1 node(s) (m1)") {
		t.Errorf("--remove: exit %d\n%s", code, errb)
	}
	fs = newFakeSwarm()
	d, _, errb = testDeps(fs.dial)
	d.Getenv = func(k string) string { return map[string]string{"SWARMCTL_REMOVE": "true"}[k] }
	Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--limit", "m1", "--dry-run"})
	if !strings.Contains(errb.String(), "SWARMCTL_REMOVE is set") || !strings.Contains(errb.String(), "would be REMOVED from daemon.json on 1 node(s)") {
		t.Errorf("SWARMCTL_REMOVE:\n%s", errb)
	}
}

// apply asks before its install phase: refused, nothing is deployed.
func TestApplyConsentBeforeInstall(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	fs := newFakeSwarm()
	d, out, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, []string{"apply", "-i", inv, "-o", "json"})
	if code != ExitError {
		t.Fatalf("exit %d, want 2\n%s", code, errb)
	}
	if !onlyReads(fs.hosts["10.0.0.1"]) {
		t.Errorf("m1 received more than reads: %v", fs.hosts["10.0.0.1"].Commands)
	}
	var doc ApplyResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Error == nil || doc.Error.Code != report.ErrConsentRequired || len(doc.Phases) != 2 || doc.Phases[0].Result != "skipped" {
		t.Errorf("doc %s", out)
	}
	if !strings.Contains(errb.String(), "restart docker on 2 node(s) (w1, w2)") {
		t.Errorf("stderr:\n%s", errb)
	}
}

// A run with nothing to change prints no plan and asks nothing.
func TestNoPlanWhenNothingChanges(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	fs := newFakeSwarm()
	d, _, errb := testDeps(fs.dial)
	if code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--limit", "m1"}); code != 0 ||
		strings.Contains(errb.String(), "Plan:") || !strings.Contains(errb.String(), "m1: unchanged") {
		t.Errorf("exit %d\n%s", code, errb)
	}
}
