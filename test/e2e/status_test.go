package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// errorDoc is the error object of every document (schema_version 2).
type errorDoc struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
}

// problemDoc is one problem of a document.
type problemDoc struct {
	Code    string `json:"code"`
	Node    string `json:"node"`
	Message string `json:"message"`
}

// problemText is problems as printed, one per line.
func problemText(ps []problemDoc) string {
	var lines []string
	for _, p := range ps {
		if p.Node != "" {
			lines = append(lines, p.Node+": "+p.Message)
		} else {
			lines = append(lines, p.Message)
		}
	}
	return strings.Join(lines, "\n")
}

// statusDoc is the part of `mirror status -o json` the tests read.
type statusDoc struct {
	Command  string       `json:"command"`
	Health   string       `json:"health"`
	Problems []problemDoc `json:"problems"`
	Stack    *struct {
		Found           bool `json:"found"`
		RunningReplicas int  `json:"running_replicas"`
		DesiredReplicas int  `json:"desired_replicas"`
	} `json:"stack"`
	Nodes []struct {
		Name       string `json:"name"`
		Reachable  bool   `json:"reachable"`
		Discovered bool   `json:"discovered"`
		Error      string `json:"error"`
		Mirror     *struct {
			Configured bool `json:"configured"`
			Applied    bool `json:"applied"`
		} `json:"mirror"`
	} `json:"nodes"`
}

func statusJSON(t *testing.T, env []string) (result, statusDoc) {
	t.Helper()
	r := swarmctl(t, env, "mirror", "status", "-o", "json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror status -o json: %v\n%s", err, r.Stdout)
	}
	return r, doc
}

// allApplied checks every lab machine is in the report, configured and applied.
func allApplied(t *testing.T, l *lab.Lab, doc statusDoc) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range doc.Nodes {
		seen[n.Name] = true
		if !n.Reachable || n.Mirror == nil || !n.Mirror.Configured || !n.Mirror.Applied {
			t.Errorf("%s: reachable=%v mirror=%+v error=%q", n.Name, n.Reachable, n.Mirror, n.Error)
		}
	}
	for _, m := range l.Machines() {
		if !seen[m.Name] {
			t.Errorf("status does not list %s", m.Name)
		}
	}
}

// TestStatusNewNodeDiscoverAndScaledToZero: healthy after install and
// configure; a new swarm member degrades it (named); configure --discover
// configures only that node; a registry scaled to 0 degrades it (why).
func TestStatusNewNodeDiscoverAndScaledToZero(t *testing.T) {
	l := needLab(t)
	env := mirrorEnv(t, l)
	mgr := l.Manager().Name

	// Preconditions: mirror installed, every member configured.
	if r := swarmctl(t, env, "mirror", "install"); r.Code != 0 {
		t.Fatalf("install: exit %d", r.Code)
	}
	if r := swarmctl(t, env, "nodes", "configure", "--discover", "--yes"); r.Code != 0 {
		t.Fatalf("configure --discover: exit %d", r.Code)
	}
	r, doc := statusJSON(t, env)
	if r.Code != 0 || doc.Health != "healthy" || doc.Stack == nil || !doc.Stack.Found || doc.Stack.RunningReplicas != 1 {
		t.Fatalf("status after install+configure: exit %d, health %s, problems %v", r.Code, doc.Health, doc.Problems)
	}
	allApplied(t, l, doc)

	// A new worker joins: status names it and exits 1.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	nm, err := l.AddMachine(ctx)
	if err != nil {
		t.Fatalf("AddMachine: %v", err)
	}
	t.Logf("new worker %s joined in %s", nm.Name, time.Since(start).Round(100*time.Millisecond))
	r = swarmctl(t, env, "mirror", "status")
	if r.Code != 1 || !strings.Contains(r.Stdout, nm.Name+" (discovered)") || !strings.Contains(r.Stderr, nm.Name+": not configured") {
		t.Errorf("status with a new node: exit %d, want 1 naming %s", r.Code, nm.Name)
	}

	// configure --discover touches only the new node.
	before := pids(t, l)
	r, cdoc := configureJSON(t, l, "--discover")
	if r.Code != 0 {
		t.Fatalf("configure --discover: exit %d", r.Code)
	}
	after := pids(t, l)
	for name, o := range outcomes(cdoc) {
		switch {
		case name == nm.Name && o != "restarted" && o != "reloaded":
			t.Errorf("%s: %s, want it configured", name, o)
		case name != nm.Name && o != "unchanged":
			t.Errorf("%s: %s, want unchanged", name, o)
		}
	}
	if len(cdoc.Nodes) != len(l.Machines()) {
		t.Errorf("configure --discover saw %d nodes, the lab has %d", len(cdoc.Nodes), len(l.Machines()))
	}
	for name, pid := range before {
		if name != nm.Name && after[name] != pid {
			t.Errorf("%s: dockerd pid %d -> %d: an already configured node was restarted", name, pid, after[name])
		}
	}
	r, doc = statusJSON(t, env)
	if r.Code != 0 || doc.Health != "healthy" {
		t.Errorf("status after discover: exit %d, problems %v", r.Code, doc.Problems)
	}
	allApplied(t, l, doc)

	// CI style: inventory, key and known_hosts from the environment only;
	// JSON on stdout with every node's outcome.
	r = swarmctl(t, ciEnv(t, l), "nodes", "configure", "--discover", "--yes")
	var ci configureDoc
	if err := json.Unmarshal([]byte(r.Stdout), &ci); err != nil || r.Code != 0 {
		t.Fatalf("CI-style configure: exit %d, %v\n%s", r.Code, err, r.Stdout)
	}
	if got := outcomes(ci); len(got) != len(l.Machines()) {
		t.Errorf("CI-style JSON lists %v, the lab has %d machines", got, len(l.Machines()))
	} else {
		for name, o := range got {
			if o != "unchanged" {
				t.Errorf("CI-style: %s %s, want unchanged", name, o)
			}
		}
	}

	// The registry scaled to 0: degraded, and status says why.
	inMachine(t, l, mgr, "docker", "service", "scale", "--detach", mirrorService+"=0")
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		l.Exec(ctx, mgr, "docker", "service", "scale", mirrorService+"=1")
	}()
	// --detach returns before the task stops: under load the registry
	// still answered when status ran. Wait until the endpoint is gone.
	waitMirrorGone(t, "http://"+l.Manager().IP+":5000")
	r, doc = statusJSON(t, env)
	if r.Code != 1 || doc.Health != "degraded" || !strings.Contains(problemText(doc.Problems), "scaled to 0") {
		t.Errorf("scaled to 0: exit %d, health %s, problems %v", r.Code, doc.Health, doc.Problems)
	}
	r = swarmctl(t, env, "mirror", "status")
	if r.Code != 1 || !strings.Contains(r.Stderr, "scaled to 0 replicas") {
		t.Errorf("text status with 0 replicas: exit %d", r.Code)
	}
	// The endpoint is down: the cache line says so, no made-up "0 repositories".
	if !strings.Contains(r.Stdout, "Cache: repositories not checked: the mirror is unreachable") || strings.Contains(r.Stdout, "0 repositories") {
		t.Errorf("cache line with the mirror down:\n%s", r.Stdout)
	}
	inMachine(t, l, mgr, "docker", "service", "scale", mirrorService+"=1")
	if r := swarmctl(t, env, "mirror", "install"); r.Code != 0 {
		t.Errorf("install after scaling back: exit %d", r.Code)
	}
	if r, doc := statusJSON(t, env); r.Code != 0 {
		t.Errorf("status after scaling back: exit %d, problems %v", r.Code, doc.Problems)
	}
}

// waitMirrorGone waits until nothing answers url's /v2/ any more (the
// registry's task stopped).
func waitMirrorGone(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	start := time.Now()
	for time.Since(start) < 2*time.Minute {
		resp, err := c.Get(url + "/v2/")
		if err != nil {
			t.Logf("mirror gone (waited %s)", time.Since(start).Round(100*time.Millisecond))
			return
		}
		resp.Body.Close()
		time.Sleep(time.Second)
	}
	t.Fatalf("mirror %s still answers 2 minutes after scaling to 0", url)
}
