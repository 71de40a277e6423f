package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/status"
)

// swarmFacts is the facts output of a swarm node (liveMirrors as docker
// info prints them, JSON).
func swarmFacts(hostname, daemonJSON, liveMirrors string, manager bool) string {
	f := &member.Facts{OS: "Debian", User: "root", Hostname: hostname, Service: "docker-latest", ServiceActive: true, DaemonPID: 77,
		DaemonJSONPath: "/etc/docker-latest/daemon.json", DaemonJSONExists: true, DaemonJSON: []byte(daemonJSON),
		LiveExperimental: true, DockerVersion: "20.10.24", SwarmState: "active", SwarmNodeID: "id-" + hostname, SwarmAddr: "10.0.0.1",
		SwarmManager: manager, SwarmLeader: manager}
	if err := json.Unmarshal([]byte(liveMirrors), &f.LiveMirrors); err != nil {
		panic(err)
	}
	return string(member.EncodeFacts(f))
}

func TestMirrorStatusHealthyThenNewNodeDegraded(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.Write([]byte(`{"repositories":["library/busybox"]}`))
			return
		}
		w.WriteHeader(200)
	}))
	defer reg.Close()
	good := `{"registry-mirrors": ["` + reg.URL + `"], "experimental": true}`
	live := `["` + reg.URL + `/"]`
	members := "id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n"
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		name := tg.Host
		return fakehost.New(name, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
			switch {
			case c.Script.Name() == "facts.sh" && name == "m1":
				return out(swarmFacts("m1", good, live, true))
			case c.Script.Name() == "facts.sh":
				return out(swarmFacts(name, `{"log-driver": "journald"}`, "null", false))
			case c.Script.Name() == "swarm-nodes.sh":
				return out(memberLines(members))
			case c.Script.Name() == "stack-status.sh":
				return out(stackOutput("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\nregistry_registry-mirror.1|m1|Running|Running 5 minutes ago|\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))
			case len(c.Args) > 0 && c.Args[0] == "du":
				return out("4096\t/var/data/registry/registry-mirror-data\n")
			}
			return nodes.Output{}, fmt.Errorf("unexpected command %s", nodes.CommandLine(c, true))
		}), nil
	}
	inv := writeInventory(t, "mirror:\n  url: "+reg.URL+"\nnodes:\n  - {host: m1, name: m1, role: manager}\n")

	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"mirror", "status", "-i", inv})
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"1/1 running, image registry:2, on m1", "HTTP 200", "1 repositories (library/busybox), 4.0 KiB on disk on m1", "applied"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}

	// A new worker joins the swarm but not the inventory: status finds it,
	// names it, and exits 1.
	members += "id-w9|w9|worker|ready|active|10.0.0.9|||\n"
	d, out, errb = testDeps(dial)
	code = Run(context.Background(), d, []string{"mirror", "status", "-i", inv, "-o", "json"})
	if code != ExitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, errb)
	}
	var rep status.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Health != status.Degraded || len(rep.Nodes) != 2 || !rep.Nodes[1].Discovered || rep.Nodes[1].Name != "w9" {
		t.Fatalf("report = %+v", rep)
	}
	if !strings.Contains(problemText(rep.Problems), "w9: not configured") {
		t.Errorf("problems = %q", rep.Problems)
	}
}

func TestMirrorStatusNothingReachableExits2(t *testing.T) {
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		return nil, fmt.Errorf("connection refused")
	}
	inv := writeInventory(t, "nodes:\n  - {host: m1}\n")
	d, _, errb := testDeps(dial)
	if code := Run(context.Background(), d, []string{"mirror", "status", "-i", inv}); code != ExitError {
		t.Fatalf("exit %d, want 2\n%s", code, errb)
	}
	if !strings.Contains(errb.String(), "health: could-not-check") {
		t.Errorf("stderr:\n%s", errb)
	}
}

// statusLab is one manager m1 (manager=false makes it a worker) using a
// registry served here; managerOut answers the stack query on m1.
type statusLab struct {
	reg        *httptest.Server
	manager    bool
	managerOut func() (nodes.Output, error)
}

func newStatusLab(t *testing.T) *statusLab {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.Write([]byte(`{"repositories":["library/busybox"]}`))
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(reg.Close)
	l := &statusLab{reg: reg, manager: true}
	l.managerOut = func() (nodes.Output, error) {
		return nodes.Output{Stdout: []byte(stackOutput("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\nregistry_registry-mirror.1|m1|Running|Running 5 minutes ago|\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))}, nil
	}
	return l
}

func (l *statusLab) dial(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
	return fakehost.New(tg.Host, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
		switch {
		case c.Script.Name() == "facts.sh":
			return out(swarmFacts("m1", `{"registry-mirrors": ["`+l.reg.URL+`"], "experimental": true}`, `["`+l.reg.URL+`/"]`, l.manager))
		case c.Script.Name() == "swarm-nodes.sh":
			return out(memberLines("id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n"))
		case c.Script.Name() == "stack-status.sh":
			return l.managerOut()
		case len(c.Args) > 0 && c.Args[0] == "du":
			return out("4096\t/var/data/registry/registry-mirror-data\n")
		}
		return nodes.Output{}, fmt.Errorf("unexpected command %s", nodes.CommandLine(c, true))
	}), nil
}

func (l *statusLab) run(t *testing.T, inventory string, args ...string) (int, string, string) {
	t.Helper()
	inv := writeInventory(t, strings.ReplaceAll(inventory, "REG", l.reg.URL))
	d, out, errb := testDeps(l.dial)
	code := Run(context.Background(), d, append([]string{"mirror", "status", "-i", inv}, args...))
	return code, out.String(), errb.String()
}

const statusInv = "mirror:\n  url: REG\nnodes:\n  - {host: m1, name: m1, role: manager}\n"

// The registry service's state is unknown: exit 2, saying what and why.
func TestMirrorStatusServiceUnknownExits2(t *testing.T) {
	for _, c := range []struct {
		name    string
		manager bool
		out     func() (nodes.Output, error)
		want    string
	}{
		{"no manager reachable", false, nil, "service registry_registry-mirror not checked: no reachable swarm manager"},
		{"query failed", true, func() (nodes.Output, error) {
			return nodes.Output{}, &nodes.ExitError{Host: "m1", Command: "sh", Status: 1, Stderr: []byte("sudo: a password is required")}
		}, "service registry_registry-mirror not checked: query on m1 failed"},
		{"docker failed", true, func() (nodes.Output, error) {
			return nodes.Output{Stdout: []byte(stackOutput("@@services\nError response from daemon: This node is not a swarm manager.\n@@tasks\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))}, nil
		}, "not checked: Error response from daemon: This node is not a swarm manager."},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newStatusLab(t)
			l.manager = c.manager
			if c.out != nil {
				l.managerOut = c.out
			}
			code, out, errb := l.run(t, statusInv)
			if code != ExitError {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errb)
			}
			if !strings.Contains(errb, c.want) || !strings.Contains(errb, "health: could-not-check") {
				t.Errorf("stderr lacks %q:\n%s", c.want, errb)
			}
			if strings.Contains(out, "not deployed") || !strings.Contains(out, "Stack registry: service registry_registry-mirror not checked: ") {
				t.Errorf("stdout:\n%s", out)
			}
		})
	}
}

// A registry service that is not there is a finding: degraded, exit 1.
func TestMirrorStatusServiceMissingExits1(t *testing.T) {
	l := newStatusLab(t)
	l.managerOut = func() (nodes.Output, error) {
		return nodes.Output{Stdout: []byte(stackOutput("@@services\napp_web|nginx:1|1/1\n@@tasks\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))}, nil
	}
	code, out, errb := l.run(t, statusInv)
	if code != ExitFailed || !strings.Contains(errb, "service registry_registry-mirror not found") || !strings.Contains(out, "not deployed") {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errb)
	}
}

// No mirror URL anywhere: the endpoint was not checked, so exit 2.
func TestMirrorStatusNoMirrorURLExits2(t *testing.T) {
	l := newStatusLab(t)
	code, out, errb := l.run(t, "nodes:\n  - {host: m1, name: m1, role: manager}\n", "-o", "json")
	if code != ExitError {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errb)
	}
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Health != status.Unchecked || len(rep.Unchecked) != 1 || !strings.Contains(rep.Unchecked[0], "pass --mirror URL, or set mirror.url or mirror.fqdn") {
		t.Errorf("health=%s unchecked=%q", rep.Health, rep.Unchecked)
	}
	// The same with --mirror is healthy.
	if code, _, errb := l.run(t, "nodes:\n  - {host: m1, name: m1, role: manager}\n", "--mirror", l.reg.URL); code != ExitOK {
		t.Errorf("with --mirror: exit %d\n%s", code, errb)
	}
	code, out, _ = l.run(t, "nodes:\n  - {host: m1, name: m1, role: manager}\n")
	if code != ExitError || !strings.Contains(out, "Endpoint: not checked (no mirror URL: pass --mirror URL") {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
}

// The last task error is printed even with every replica running.
func TestMirrorStatusPrintsLastError(t *testing.T) {
	l := newStatusLab(t)
	l.managerOut = func() (nodes.Output, error) {
		return nodes.Output{Stdout: []byte(stackOutput("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\n" +
			"registry_registry-mirror.1|m1|Running|Running 5 minutes ago|\n" +
			"\\_ registry_registry-mirror.1|m1|Shutdown|Failed 6 minutes ago|task: non-zero exit (1)\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))}, nil
	}
	code, out, errb := l.run(t, statusInv)
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, "  last error (6 minutes ago): task: non-zero exit (1)\n") {
		t.Errorf("stdout lacks the last error:\n%s", out)
	}
}

// A manager without curl or wget: the check from there is not run, and
// that is no failure.
func TestMirrorStatusManagerWithoutCurlOrWget(t *testing.T) {
	l := newStatusLab(t)
	l.managerOut = func() (nodes.Output, error) {
		return nodes.Output{Stdout: []byte(stackOutput("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\nregistry_registry-mirror.1|m1|Running|Running 5 minutes ago|\n@@v2\nneither curl nor wget on this node\n@@v2exit\n127\n@@end\n"))}, nil
	}
	code, out, errb := l.run(t, statusInv)
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out, "From manager m1: not checked (no curl or wget on m1)") {
		t.Errorf("stdout:\n%s", out)
	}
}

// --limit leaving the managers out: the inventory's manager is still
// asked about the stack (and its disk), but is not a status row.
func TestMirrorStatusAsksManagerLimitLeftOut(t *testing.T) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.Write([]byte(`{"repositories":[]}`))
			return
		}
		w.WriteHeader(200)
	}))
	defer reg.Close()
	good := `{"registry-mirrors": ["` + reg.URL + `"], "experimental": true}`
	live := `["` + reg.URL + `/"]`
	members := "id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\nid-w1|w1|worker|ready|active|10.0.0.2|||\n"
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		name := tg.Host
		return fakehost.New(name, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
			switch {
			case c.Script.Name() == "facts.sh":
				return out(swarmFacts(name, good, live, name == "m1"))
			case c.Script.Name() == "swarm-nodes.sh" && name == "m1":
				return out(memberLines(members))
			case c.Script.Name() == "stack-status.sh" && name == "m1":
				return out(stackOutput("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\nregistry_registry-mirror.1|m1|Running|Running 5 minutes ago|\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))
			case len(c.Args) > 0 && c.Args[0] == "du" && name == "m1":
				return out("4096\t/var/data/registry/registry-mirror-data\n")
			}
			return nodes.Output{}, fmt.Errorf("unexpected command on %s: %s", name, nodes.CommandLine(c, true))
		}), nil
	}
	inv := writeInventory(t, "mirror:\n  url: "+reg.URL+"\nnodes:\n  - {host: m1, name: m1, role: manager}\n  - {host: w1, name: w1, role: worker}\n")
	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"mirror", "status", "-i", inv, "--limit", "w1", "-o", "json"})
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errb)
	}
	var rep status.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Stack == nil || rep.Stack.RunningReplicas != 1 || rep.Cache == nil || rep.Cache.DiskNode != "m1" {
		t.Errorf("stack %+v cache %+v", rep.Stack, rep.Cache)
	}
	if len(rep.Nodes) != 1 || rep.Nodes[0].Name != "w1" {
		t.Errorf("nodes %+v, want only w1", rep.Nodes)
	}
}

// problemText is the problems as printed, one per line.
func problemText(ps []report.Problem) string {
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

// The cache line says only what was checked: with the endpoint down there
// is no "0 repositories", and no "0 B on disk" without a measured disk.
func TestCacheLineNeverMadeUp(t *testing.T) {
	cases := []struct {
		c    status.Cache
		want string
	}{
		{status.Cache{Error: "catalog: not checked: the mirror is unreachable"}, "Cache: repositories not checked: the mirror is unreachable"},
		{status.Cache{Error: "catalog: not checked: the mirror is unreachable", DiskBytes: 2048, DiskNode: "m1"}, "Cache: repositories not checked: the mirror is unreachable, 2.0 KiB on disk on m1"},
		{status.Cache{Repositories: []string{"library/busybox"}, DiskBytes: 10, DiskNode: "m1"}, "Cache: 1 repositories (library/busybox), 10 B on disk on m1"},
		{status.Cache{Repositories: []string{}}, "Cache: 0 repositories ()"},
	}
	for _, c := range cases {
		if got := cacheLine(&c.c); got != c.want {
			t.Errorf("cacheLine(%+v) = %q, want %q", c.c, got, c.want)
		}
	}
}

// stackOutput turns a test's manager answer, with services written as
// "name|image|replicas" and tasks as "name|node|desired|current|error"
// lines, into what managerScript prints, with the encoder its parser is
// tested against (status.CheckStack). Other lines (docker's errors, the probe) stay.
func stackOutput(text string) string {
	var b strings.Builder
	sec := ""
	for _, l := range strings.SplitAfter(text, "\n") {
		line := strings.TrimSuffix(l, "\n")
		p := strings.Split(line, "|")
		switch {
		case strings.HasPrefix(line, "@@"):
			sec = line
		case sec == "@@services" && len(p) == 3:
			l = status.ServiceRecord{Name: p[0], Image: p[1], Replicas: p[2]}.Line()
		case sec == "@@tasks" && len(p) == 5:
			l = status.TaskRecord{Name: p[0], Node: p[1], DesiredState: p[2], CurrentState: p[3], Error: p[4]}.Line()
		}
		b.WriteString(l)
	}
	return b.String()
}
