package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// applyDoc is the part of `apply -o json` the tests read.
type applyDoc struct {
	Command string `json:"command"`
	OK      bool   `json:"ok"`
	Changed bool   `json:"changed"`
	Phases  []struct {
		DurationMS int64  `json:"duration_ms"`
		Name       string `json:"name"`
		Result     string `json:"result"`
		Changed    bool   `json:"changed"`
	} `json:"phases"`
	Configure *configureDoc `json:"configure"`
	Status    *statusDoc    `json:"status"`
}

var changedPhase = regexp.MustCompile(`(?m)^\S+\s+changed\s`)

// TestApplyFreshThenNoChange: on a lab with no stack and no node pointing
// at the mirror, apply converges everything; a second apply says "no
// changes"; the CI-style JSON run lists every phase and node unchanged.
func TestApplyFreshThenNoChange(t *testing.T) {
	l := needLab(t)
	env := mirrorEnv(t, l)

	// Preconditions of a fresh lab (no-ops on one).
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.Code)
	}
	if r := swarmctl(t, env, "nodes", "configure", "--remove", "--discover", "--yes"); r.Code != 0 {
		t.Fatalf("configure --remove: exit %d", r.Code)
	}

	artifact := filepath.Join(t.TempDir(), "apply.json")
	start := time.Now()
	r := swarmctl(t, env, "apply", "--yes", "--output-file", artifact)
	t.Logf("apply on a fresh lab: %s", time.Since(start).Round(100*time.Millisecond))
	var first applyDoc
	if b, err := os.ReadFile(artifact); err != nil || json.Unmarshal(b, &first) != nil {
		t.Errorf("--output-file artifact: %v\n%s", err, b)
	}
	for _, p := range first.Phases {
		t.Logf("  phase %s: %s in %s", p.Name, p.Result, (time.Duration(p.DurationMS) * time.Millisecond).Round(100*time.Millisecond))
	}
	if r.Code != 0 || !strings.Contains(r.Stdout, "applied:") || !strings.Contains(r.Stdout, "install    changed") || !strings.Contains(r.Stdout, "status     healthy") {
		t.Fatalf("apply: exit %d", r.Code)
	}

	start = time.Now()
	r = swarmctl(t, env, "apply", "--yes")
	t.Logf("second apply: %s", time.Since(start).Round(100*time.Millisecond))
	if r.Code != 0 || !strings.Contains(r.Stdout, "no changes") || changedPhase.MatchString(r.Stdout) {
		t.Errorf("second apply: exit %d, want \"no changes\"", r.Code)
	}

	r = swarmctl(t, ciEnv(t, l), "apply", "--yes")
	var doc applyDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || r.Code != 0 {
		t.Fatalf("CI-style apply: exit %d, %v\n%s", r.Code, err, r.Stdout)
	}
	if doc.Command != "apply" || !doc.OK || doc.Changed || len(doc.Phases) != 3 {
		t.Fatalf("CI-style apply doc: %+v", doc)
	}
	for _, p := range doc.Phases {
		want := "unchanged"
		if p.Name == "status" {
			want = "healthy"
		}
		if p.Result != want || p.Changed {
			t.Errorf("phase %s: %s (changed %v), want %s", p.Name, p.Result, p.Changed, want)
		}
	}
	if doc.Configure == nil || len(doc.Configure.Nodes) != len(l.Machines()) {
		t.Fatalf("configure phase lists %v nodes, lab has %d", doc.Configure, len(l.Machines()))
	}
	for name, o := range outcomes(*doc.Configure) {
		if o != "unchanged" {
			t.Errorf("%s: %s, want unchanged", name, o)
		}
	}
	if doc.Status == nil || doc.Status.Health != "healthy" {
		t.Errorf("status phase: %+v", doc.Status)
	} else {
		allApplied(t, l, *doc.Status)
	}
}
