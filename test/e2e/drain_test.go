package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// --drain on a real swarm: the worker runs a task that ignores SIGTERM and
// has a 6 s stop grace period, so it only stops when dockerd kills it after
// the grace period. swarmctl must wait for that before restarting the
// worker (the "check the swarm" step takes the grace period), restart it,
// and make it active again; the task then comes back to it. Only the
// worker is selected, so a manager outside the selection does the asking.
func TestConfigureDrainWaitsForTasks(t *testing.T) {
	l := needLab(t)
	resetLab(t, l) // other tests share this lab
	var mgr, worker string
	for _, m := range l.Machines() {
		if m.Role == "manager" && mgr == "" {
			mgr = m.Name
		}
		if m.Role == "worker" && worker == "" {
			worker = m.Name
		}
	}
	const svc = "drainprobe"
	inMachine(t, l, mgr, "docker", "service", "create", "--detach", "--name", svc, "--no-resolve-image",
		"--constraint", "node.hostname=="+worker, "--stop-grace-period", "6s",
		"--entrypoint", "/bin/busybox", lab.RegistryImage, "sleep", "100000")
	t.Cleanup(func() { inMachine(t, l, mgr, "docker", "service", "rm", svc) })
	waitTask := func(what string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			out := inMachine(t, l, mgr, "docker", "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}", svc)
			if strings.HasPrefix(strings.TrimSpace(out), worker+" Running") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: task of %s not running on %s: %q", what, svc, worker, out)
			}
			time.Sleep(time.Second)
		}
	}
	waitTask("before")

	// Only the worker is selected: a manager --limit left out answers the
	// swarm guard (drain, tasks stopped, Ready again, undrain).
	r, doc := configureJSON(t, l, "--drain", "--limit", worker)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if len(doc.Nodes) != 1 {
		t.Fatalf("%d nodes in the report, want only %s:\n%s", len(doc.Nodes), worker, r.Stdout)
	}
	var checked bool
	for _, n := range doc.Nodes {
		if n.Outcome != "restarted" {
			t.Errorf("%s: %s %q", n.Name, n.Outcome, n.Error)
		}
		if n.Name != worker {
			continue
		}
		for _, s := range n.Steps {
			if s.Name == "check the swarm" {
				checked = true
				t.Logf("%s: check the swarm (quorum, drain, tasks stopped): %d ms", worker, s.MS)
				if s.MS < 5000 {
					t.Errorf("%s: drained and restarted after %d ms, before its task's 6 s grace period was over", worker, s.MS)
				}
			}
		}
	}
	if !checked {
		t.Fatalf("no 'check the swarm' step for %s in %s", worker, r.Stdout)
	}
	if got := strings.TrimSpace(inMachine(t, l, mgr, "docker", "node", "inspect", "--format", "{{.Spec.Availability}}", worker)); got != "active" {
		t.Errorf("%s availability %q after the run, want active", worker, got)
	}
	waitTask("after")
}
