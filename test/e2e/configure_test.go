package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// configureDoc is the part of `nodes configure -o json` the tests read.
type configureDoc struct {
	SchemaVersion int    `json:"schema_version"`
	Command       string `json:"command"`
	Nodes         []struct {
		Name    string `json:"name"`
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
		Path    string `json:"path"`
		Service string `json:"service"`
		Role    string `json:"role"`
		Diff    string `json:"diff"`
		Backup  string `json:"backup"`
		OldPID  int    `json:"old_pid"`
		NewPID  int    `json:"new_pid"`
		Changes []struct {
			Key    string `json:"key"`
			Action string `json:"action"`
		} `json:"changes"`
	} `json:"nodes"`
	Summary map[string]int `json:"summary"`
}

func configureJSON(t *testing.T, l *lab.Lab, args ...string) (result, configureDoc) {
	t.Helper()
	r := swarmctl(t, labEnv(l), append([]string{"nodes", "configure", "-o", "json"}, args...)...)
	var doc configureDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("nodes configure -o json: %v\n%s", err, r.Stdout)
	}
	return r, doc
}

func outcomes(doc configureDoc) map[string]string {
	m := map[string]string{}
	for _, n := range doc.Nodes {
		m[n.Name] = n.Outcome
	}
	return m
}

func service(l *lab.Lab) string {
	if l.Layout() == "docker" {
		return "docker"
	}
	return "docker-latest"
}

func inMachine(t *testing.T, l *lab.Lab, m string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.Exec(ctx, m, args...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", m, strings.Join(args, " "), err, out)
	}
	return out
}

// pids returns every machine's dockerd MainPID.
func pids(t *testing.T, l *lab.Lab) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range l.Machines() {
		s := inMachine(t, l, m.Name, "systemctl", "show", "-p", "MainPID", service(l)+".service")
		out[m.Name], _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "MainPID=")))
	}
	return out
}

func files(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range l.Machines() {
		out[m.Name] = inMachine(t, l, m.Name, "cat", lab.DaemonJSONPath(l.Layout()))
	}
	return out
}

func liveMirrors(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	return strings.TrimSpace(inMachine(t, l, m, "docker", "info", "--format", "{{json .RegistryConfig.Mirrors}} {{.ExperimentalBuild}}"))
}

// swarmHealthy checks every node is Ready and every manager Reachable or Leader.
func swarmHealthy(t *testing.T, l *lab.Lab) {
	t.Helper()
	// A new leader reports the other nodes "Unknown" until their next
	// heartbeat: healthy means every node Ready (and every manager
	// Reachable or Leader) within the heartbeat period, not at one instant.
	var bad, out string
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(time.Second) {
		out, bad = inMachine(t, l, l.Manager().Name, "docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"), ""
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[1] != "Ready" || (len(f) == 3 && f[2] != "Leader" && f[2] != "Reachable") {
				bad = line
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("swarm not healthy after 45s: %q\n%s", bad, out)
			return
		}
	}
}

// quorumWatcher polls `docker node ls` on whichever manager answers and
// records the most managers it ever saw unreachable at once.
type quorumWatcher struct {
	mu      sync.Mutex
	max     int
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func watchQuorum(l *lab.Lab) *quorumWatcher {
	w := &quorumWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	var managers []string
	for _, m := range l.Machines() {
		if m.Role == "manager" {
			managers = append(managers, m.Name)
		}
	}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			for _, m := range managers {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				out, err := l.Exec(ctx, m, "docker", "node", "ls", "--format", "{{.ManagerStatus}}")
				cancel()
				if err != nil {
					continue // this manager is restarting: ask another
				}
				n := strings.Count(out, "Unreachable")
				w.mu.Lock()
				w.samples++
				w.max = max(w.max, n)
				w.mu.Unlock()
				break
			}
		}
	}()
	return w
}

func (w *quorumWatcher) Stop() (maxUnreachable, samples int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max, w.samples
}

// originalLines are the lines of the lab's starting daemon.json that must
// survive a merge byte for byte (the last value line may gain a comma).
func originalLines(layout string) []string {
	var out []string
	for _, line := range strings.Split(lab.DaemonJSON(layout), "\n") {
		line = strings.TrimSuffix(line, ",")
		if strings.TrimSpace(line) != "" && line != "{" && line != "}" && strings.TrimSpace(line) != "]" {
			out = append(out, line)
		}
	}
	return out
}

// TestConfigureLifecycle walks the main lab (docker-latest, 3 managers +
// 2 workers) through the story, in order.
func TestConfigureLifecycle(t *testing.T) {
	l := needLab(t)
	resetLab(t, l) // other tests share this lab
	path := lab.DaemonJSONPath(l.Layout())
	before := files(t, l)
	pids0 := pids(t, l)
	mirror := ""
	for _, m := range l.Machines() {
		if m.Role == "manager" {
			mirror = "http://" + m.IP + ":5000/"
			break
		}
	}

	t.Run("dry-run changes nothing and shows the diff", func(t *testing.T) {
		r := swarmctl(t, labEnv(l), "nodes", "configure", "--dry-run")
		if r.Code != 0 {
			t.Fatalf("exit %d", r.Code)
		}
		if !strings.Contains(r.Stdout, "--- "+path) || !strings.Contains(r.Stdout, `+    "registry-mirrors"`) || !strings.Contains(r.Stderr, "would-restart") {
			t.Errorf("no diff / action shown")
		}
		if got := files(t, l); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("dry run changed files")
		}
		if got := pids(t, l); fmt.Sprint(got) != fmt.Sprint(pids0) {
			t.Errorf("dry run restarted docker: %v -> %v", pids0, got)
		}
	})

	t.Run("first run configures every node, managers one at a time", func(t *testing.T) {
		w := watchQuorum(l)
		start := time.Now()
		r, doc := configureJSON(t, l)
		maxDown, samples := w.Stop()
		t.Logf("first run: %s, quorum watcher: %d samples, at most %d manager(s) unreachable", time.Since(start).Round(time.Millisecond), samples, maxDown)
		if r.Code != 0 {
			t.Fatalf("exit %d", r.Code)
		}
		if maxDown > 1 || samples < 3 {
			t.Errorf("watcher saw %d managers unreachable at once (%d samples)", maxDown, samples)
		}
		for _, n := range doc.Nodes {
			if n.Outcome != "restarted" || n.OldPID == n.NewPID || n.Backup == "" {
				t.Errorf("%s: %s %q pids %d->%d backup %q", n.Name, n.Outcome, n.Error, n.OldPID, n.NewPID, n.Backup)
			}
		}
		// Rolling order as printed: workers, then managers, leader last.
		lines := strings.Split(r.Stderr, "\n")
		var order []string
		for _, line := range lines {
			if name, rest, ok := strings.Cut(line, ": restarted"); ok && rest != "" {
				order = append(order, name)
			}
		}
		if len(order) != 5 || !strings.HasPrefix(order[0], "worker") || !strings.HasPrefix(order[1], "worker") {
			t.Errorf("restart order %v: want the workers first", order)
		}
		for _, m := range l.Machines() {
			if got := liveMirrors(t, l, m.Name); got != fmt.Sprintf(`["%s"] true`, mirror) {
				t.Errorf("%s: docker info says %s", m.Name, got)
			}
			content := inMachine(t, l, m.Name, "cat", path)
			for _, line := range originalLines(l.Layout()) {
				if !strings.Contains(content, line) {
					t.Errorf("%s: original line %q lost:\n%s", m.Name, line, content)
				}
			}
		}
		swarmHealthy(t, l)
	})

	t.Run("second run is a no-op", func(t *testing.T) {
		p1 := pids(t, l)
		f1 := files(t, l)
		start := time.Now()
		r, doc := configureJSON(t, l)
		t.Logf("no-op run over %d nodes: %s", len(doc.Nodes), time.Since(start).Round(time.Millisecond))
		if r.Code != 0 || doc.Summary["unchanged"] != len(l.Machines()) {
			t.Errorf("exit %d summary %v", r.Code, doc.Summary)
		}
		if got := pids(t, l); fmt.Sprint(got) != fmt.Sprint(p1) {
			t.Errorf("dockerd restarted: %v -> %v", p1, got)
		}
		if got := files(t, l); fmt.Sprint(got) != fmt.Sprint(f1) {
			t.Errorf("files changed")
		}
	})

	t.Run("invalid JSON on one node fails only that node", func(t *testing.T) {
		bad := "{\n    \"storage-driver\": \"vfs\"\n    \"debug\": false\n}\n"
		ms := l.Machines()
		victim := ms[len(ms)-1].Name
		good := inMachine(t, l, victim, "cat", path)
		inMachine(t, l, victim, "sh", "-c", `cp "$1" "$1.e2e-keep" && printf '%s' "$2" > "$1"`, "sh", path, bad)
		defer inMachine(t, l, victim, "sh", "-c", `mv "$1.e2e-keep" "$1"`, "sh", path)
		// --apply none: this case is about the broken file; writing is enough
		// (on the lab's Docker 20.10 with insecure-registries every mirror
		// change is a rolling restart, minutes of CI for nothing here).
		r, doc := configureJSON(t, l, "--apply", "none", "--mirror", mirror, "--mirror", "https://second.example.test")
		if r.Code != 1 {
			t.Errorf("exit %d, want 1", r.Code)
		}
		for _, n := range doc.Nodes {
			if n.Name == victim {
				if n.Outcome != "failed" || !strings.Contains(n.Error, path+": line 3, column") {
					t.Errorf("%s: %s %q", n.Name, n.Outcome, n.Error)
				}
			} else if n.Outcome != "written" {
				t.Errorf("%s: %s %q", n.Name, n.Outcome, n.Error)
			}
		}
		if got := inMachine(t, l, victim, "cat", path); got != bad {
			t.Errorf("broken file was touched: %q", got)
		}
		_ = good
		// Back to one mirror everywhere (the victim's good file comes back by
		// the defer): the files return to what the daemons already use.
		configureJSON(t, l, "--apply", "none", "--mirror", "https://second.example.test", "--remove")
	})

	t.Run("a unit passing --registry-mirror is refused before writing", func(t *testing.T) {
		if l.Layout() != "docker-latest" {
			t.Skip("needs the docker-latest unit's $OPTIONS")
		}
		m := l.Manager().Name
		inMachine(t, l, m, "sh", "-c", `mkdir -p /etc/sysconfig && echo "OPTIONS=--registry-mirror=https://flag.example.test" > /etc/sysconfig/docker-latest`)
		defer inMachine(t, l, m, "rm", "-f", "/etc/sysconfig/docker-latest")
		f0 := inMachine(t, l, m, "cat", path)
		r, doc := configureJSON(t, l, "--limit", m, "--mirror", "https://third.example.test")
		if r.Code != 1 || len(doc.Nodes) != 1 || doc.Nodes[0].Outcome != "failed" ||
			!strings.Contains(doc.Nodes[0].Error, "specified both as a flag and in the configuration file") {
			t.Errorf("exit %d %+v", r.Code, doc.Nodes)
		}
		if got := inMachine(t, l, m, "cat", path); got != f0 {
			t.Errorf("file written despite the conflict")
		}
	})

	t.Run("remove as the non-root sudo user ops", func(t *testing.T) {
		r, doc := configureJSON(t, l, "--user", "ops", "--remove")
		if r.Code != 0 {
			t.Fatalf("exit %d", r.Code)
		}
		for _, n := range doc.Nodes {
			if n.Outcome != "reloaded" && n.Outcome != "restarted" {
				t.Errorf("%s: %s %q", n.Name, n.Outcome, n.Error)
			}
		}
		for _, m := range l.Machines() {
			if got := liveMirrors(t, l, m.Name); !strings.HasPrefix(got, "[] ") && !strings.HasPrefix(got, "null ") {
				t.Errorf("%s: mirrors still %s", m.Name, got)
			}
		}
		swarmHealthy(t, l)
	})
}

// TestConfigureDockerLayoutReload: on a stock docker.service node, a first
// run restarts (experimental), and a mirror-only change then reloads:
// dockerd's PID and a running container are kept.
func TestConfigureDockerLayoutReload(t *testing.T) {
	l := needDockerLayoutLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := l.Machines()[len(l.Machines())-1]
	if err := l.LoadImage(ctx, lab.BusyboxImage, w); err != nil {
		t.Fatal(err)
	}
	r, doc := configureJSON(t, l, "--insecure=false", "--mirror", "https://one.example.test")
	if r.Code != 0 || doc.Summary["restarted"] != len(l.Machines()) {
		t.Fatalf("first run: exit %d %v", r.Code, doc.Summary)
	}
	for _, m := range l.Machines() {
		content := inMachine(t, l, m.Name, "cat", "/etc/docker/daemon.json")
		for _, line := range originalLines("docker") {
			if !strings.Contains(content, line) {
				t.Errorf("%s: original line %q lost:\n%s", m.Name, line, content)
			}
		}
	}
	inMachine(t, l, w.Name, "docker", "run", "-d", "--name", "e2e-keep", lab.BusyboxImage, "sleep", "3600")
	defer inMachine(t, l, w.Name, "docker", "rm", "-f", "e2e-keep")
	started := inMachine(t, l, w.Name, "docker", "inspect", "-f", "{{.State.StartedAt}}", "e2e-keep")
	p0 := pids(t, l)

	start := time.Now()
	r, doc = configureJSON(t, l, "--insecure=false", "--mirror", "https://one.example.test", "--mirror", "https://two.example.test")
	t.Logf("reload run: %s", time.Since(start).Round(time.Millisecond))
	if r.Code != 0 || doc.Summary["reloaded"] != len(l.Machines()) {
		t.Fatalf("exit %d %v", r.Code, doc.Summary)
	}
	if got := pids(t, l); fmt.Sprint(got) != fmt.Sprint(p0) {
		t.Errorf("reload changed dockerd PIDs: %v -> %v", p0, got)
	}
	if got := inMachine(t, l, w.Name, "docker", "inspect", "-f", "{{.State.StartedAt}}", "e2e-keep"); got != started {
		t.Errorf("container restarted: %s -> %s", started, got)
	}
	if got := liveMirrors(t, l, w.Name); got != `["https://two.example.test/","https://one.example.test/"] true` &&
		got != `["https://one.example.test/","https://two.example.test/"] true` {
		t.Errorf("docker info: %s", got)
	}
	r, doc = configureJSON(t, l, "--mirror", "https://one.example.test", "--mirror", "https://two.example.test", "--remove")
	if r.Code != 0 || doc.Summary["reloaded"] != len(l.Machines()) {
		t.Errorf("remove: exit %d %v", r.Code, doc.Summary)
	}
}
