package status

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/probe"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
)

func TestFromDockerHub(t *testing.T) {
	for img, want := range map[string]bool{
		"busybox": true, "registry:2": true, "library/nginx:1": true, "docker.io/traefik:v3": true,
		"index.docker.io/a/b": true, "ghcr.io/org/app:1": false, "quay.io/x/y": false,
		"localhost/x": false, "10.0.0.1:5000/x": false, "myreg.local/app@sha256:abc": false,
		"user/app@sha256:abc": true,
	} {
		if got := FromDockerHub(img); got != want {
			t.Errorf("FromDockerHub(%q) = %v, want %v", img, got, want)
		}
	}
}

func TestCheckEndpointHTTPAndTLS(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(200)
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	ep := CheckEndpoint(context.Background(), plain.URL, 5*time.Second, time.Now)
	if !ep.Healthy() || ep.TLS != nil || ep.Status != 200 {
		t.Errorf("plain endpoint = %+v", ep)
	}
	secure := httptest.NewTLSServer(h)
	defer secure.Close()
	ep = CheckEndpoint(context.Background(), secure.URL, 5*time.Second, time.Now)
	if !ep.Healthy() || ep.TLS == nil || ep.TLS.Valid || ep.TLS.Error == "" {
		t.Errorf("self-signed endpoint should answer but report an invalid certificate: %+v %+v", ep, ep.TLS)
	}
	if ep.TLS.DaysToExpiry <= 0 {
		t.Errorf("days to expiry = %d", ep.TLS.DaysToExpiry)
	}
	_ = tls.VersionTLS12
	dead := CheckEndpoint(context.Background(), "http://127.0.0.1:1", time.Second, time.Now)
	if dead.Reachable || dead.Error == "" {
		t.Errorf("dead endpoint = %+v", dead)
	}
}

func TestCheckStackParses(t *testing.T) {
	h := fakehost.New("m1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.ScriptArgs[0] != "registry_registry-mirror" || c.ScriptArgs[1] != "http://10.0.0.1:5000" {
			t.Errorf("args = %q", c.ScriptArgs)
		}
		return nodes.Output{Stdout: []byte(managerOut("@@services\nregistry_registry-mirror|registry:2@sha256:abc|0/1\napp_web|ghcr.io/o/web:1|2/2\n" +
			"@@tasks\nregistry_registry-mirror.1|m2|Running|Rejected 3 seconds ago|no suitable node\n@@v2\n200 0.004\n@@v2exit\n0\n@@end\n"))}, nil
	})
	st, svcs, fm := CheckStack(context.Background(), h, "registry", "registry_registry-mirror", "http://10.0.0.1:5000")
	if !st.Found || st.Image != "registry:2" || st.RunningReplicas != 0 || st.DesiredReplicas != 1 || st.LastError != "no suitable node" || st.LastErrorAge != "3 seconds ago" {
		t.Errorf("stack = %+v", st)
	}
	if len(svcs) != 2 || fm.Status != 200 || fm.LatencyMS != 4 {
		t.Errorf("services=%v fm=%+v", svcs, fm)
	}
	r := Report{MirrorURLs: []string{"http://10.0.0.1:5000"}, Stack: &st, Nodes: []Node{{Name: "m1", Reachable: true, Mirror: &member.MirrorState{Configured: true, Applied: true}}}}
	r.Judge(svcs)
	if r.Health != Degraded || !strings.Contains(problemText(r.Problems), "0/1 replicas running: no suitable node") {
		t.Errorf("health=%s problems=%q", r.Health, r.Problems)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "ghcr.io/o/web:1") {
		t.Errorf("warnings = %q", r.Warnings)
	}
}

func TestJudge(t *testing.T) {
	ok := &member.MirrorState{Configured: true, Applied: true}
	stack := &Stack{Name: "registry", Service: "s", Found: true, DesiredReplicas: 1, RunningReplicas: 1}
	url := []string{"http://x"}
	fine := &Endpoint{URL: "http://x", Reachable: true, Status: 200}
	node := []Node{{Name: "a", Reachable: true, Mirror: ok}}
	cases := []struct {
		name   string
		r      Report
		health string
		prob   string
	}{
		{"healthy", Report{MirrorURLs: url, Stack: stack, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}}}, Healthy, ""},
		{"pending", Report{MirrorURLs: url, Nodes: []Node{{Name: "a", Reachable: true, Mirror: &member.MirrorState{Configured: true, Pending: true}}}}, Degraded, "not applied"},
		{"unconfigured", Report{MirrorURLs: url, Nodes: []Node{{Name: "new", Reachable: true, Mirror: &member.MirrorState{}}}}, Degraded, "new: not configured"},
		{"unreachable", Report{MirrorURLs: url, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}, {Name: "b", Error: "refused"}}}, Degraded, "b: unreachable: refused"},
		{"none reachable", Report{MirrorURLs: url, Nodes: []Node{{Name: "b", Error: "refused"}}}, Unchecked, "b: unreachable"},
		{"scaled to 0", Report{MirrorURLs: url, Stack: &Stack{Name: "registry", Service: "s", Found: true}, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}}}, Degraded, "scaled to 0"},
		{"endpoint down", Report{MirrorURLs: url, Endpoint: &Endpoint{URL: "http://x", Error: "refused"}, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}}}, Degraded, "unreachable: refused"},
		// The registry service's state is unknown: no manager, or the
		// query on it failed. Could not check, even with other problems.
		{"no manager", Report{MirrorURLs: url, Endpoint: fine, Stack: &Stack{Name: "registry", Service: "s", Error: "no reachable swarm manager among the selected nodes"}, Nodes: node},
			Unchecked, "service s not checked: no reachable swarm manager"},
		{"stack query failed", Report{MirrorURLs: url, Endpoint: fine, Stack: &Stack{Name: "registry", Service: "s", Error: "Error response from daemon: This node is not a swarm manager."}, Nodes: []Node{{Name: "a", Reachable: true, Mirror: &member.MirrorState{}}}},
			Unchecked, "service s not checked: Error response from daemon"},
		// Not deployed is a finding, not an unknown.
		{"not deployed", Report{MirrorURLs: url, Endpoint: fine, Stack: &Stack{Name: "registry", Service: "s"}, Nodes: node}, Degraded, "service s not found"},
		{"no mirror URL", Report{Stack: stack, Nodes: node}, Unchecked, "pass --mirror URL, or set mirror.url or mirror.fqdn"},
		{"manager without curl or wget", Report{MirrorURLs: url, Endpoint: fine, Stack: stack, FromManager: &FromManager{Manager: "m1", NotChecked: "no curl or wget on m1"}, Nodes: node}, Healthy, ""},
		{"CA missing", Report{MirrorURLs: url, Endpoint: fine, Stack: stack, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok, CA: "missing: /etc/docker/certs.d/m:443/ca.crt"}}}, Degraded, "a: mirror CA missing: /etc/docker/certs.d/m:443/ca.crt"},
		{"hosts.toml pending", Report{MirrorURLs: url, Endpoint: fine, Stack: stack, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok, Registries: []NodeRegistry{{Registry: "ghcr.io", State: "pending", Via: "hosts.toml"}}}}}, Degraded, "a: ghcr.io: hosts.toml does not list the mirror yet"},
		{"not possible is no problem", Report{MirrorURLs: url, Endpoint: fine, Stack: stack, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok, CA: "ok", Registries: []NodeRegistry{{Registry: "ghcr.io", State: "not-possible", Reason: "r"}}}}}, Healthy, ""},
		{"endpoint down from here", Report{MirrorURLs: url, Endpoint: &Endpoint{URL: "http://x", Error: "refused"}, Stack: stack, FromManager: &FromManager{Manager: "m1", NotChecked: "no curl or wget on m1"}, Nodes: node}, Degraded, "mirror http://x: unreachable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.r.Judge(nil)
			if c.r.Health != c.health {
				t.Errorf("health = %s, want %s (%q)", c.r.Health, c.health, c.r.Problems)
			}
			if c.prob != "" && !strings.Contains(problemText(c.r.Problems), c.prob) {
				t.Errorf("problems %q lack %q", c.r.Problems, c.prob)
			}
			if (c.health == Unchecked) != (len(c.r.Unchecked) > 0) {
				t.Errorf("unchecked = %q with health %s", c.r.Unchecked, c.r.Health)
			}
		})
	}
}

func TestCheckStackQueryFailedIsUnchecked(t *testing.T) {
	for name, run := range map[string]func() (nodes.Output, error){
		"command failed": func() (nodes.Output, error) {
			return nodes.Output{}, &nodes.ExitError{Host: "m1", Command: "sh", Status: 1, Stderr: []byte("sudo: a password is required")}
		},
		"docker failed": func() (nodes.Output, error) {
			return nodes.Output{Stdout: []byte(managerOut("@@services\nCannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n@@tasks\n@@v2\n200 0.003\n@@v2exit\n0\n@@end\n"))}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := fakehost.New("m1", nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) { return run() })
			st, svcs, fm := CheckStack(context.Background(), h, "registry", "registry_registry-mirror", "http://x")
			if st.Found || st.Error == "" {
				t.Fatalf("stack = %+v", st)
			}
			r := Report{MirrorURLs: []string{"http://x"}, Endpoint: &Endpoint{URL: "http://x", Reachable: true, Status: 200}, Stack: &st, FromManager: &fm,
				Nodes: []Node{{Name: "m1", Reachable: true, Mirror: &member.MirrorState{Configured: true, Applied: true}}}}
			r.Judge(svcs)
			if r.Health != Unchecked || len(r.Unchecked) != 1 || !strings.Contains(r.Unchecked[0], "service registry_registry-mirror not checked: ") {
				t.Errorf("health=%s unchecked=%q problems=%q", r.Health, r.Unchecked, r.Problems)
			}
		})
	}
}

func TestCheckStackProbeFallbacks(t *testing.T) {
	for _, c := range []struct {
		v2         string
		exit       int
		status     int
		latency    int64
		err        string
		notChecked string
	}{
		{"200 0.004", 0, 200, 4, "", ""},
		{"401 -", 0, 401, 0, "", ""}, // wget: no timing
		{"wget: can't connect to remote host (10.0.0.1): Connection refused", 1, 0, 0, "Connection refused", ""},
		{"neither curl nor wget on this node", 127, 0, 0, "", "no curl or wget on m1"},
	} {
		h := fakehost.New("m1", nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
			return nodes.Output{Stdout: []byte(managerOut("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\n@@v2\n" + c.v2 + "\n@@v2exit\n" + strconv.Itoa(c.exit) + "\n@@end\n"))}, nil
		})
		_, _, fm := CheckStack(context.Background(), h, "registry", "registry_registry-mirror", "http://x")
		if fm.Status != c.status || fm.LatencyMS != c.latency || !strings.Contains(fm.Error, c.err) || (c.err == "") != (fm.Error == "") || fm.NotChecked != c.notChecked {
			t.Errorf("%q: from manager = %+v", c.v2, fm)
		}
	}
}

// TestManagerScriptProbe runs the manager script with sh and a PATH that
// holds a fake docker and either curl, GNU wget, busybox wget or neither.
func TestManagerScriptProbe(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer reg.Close()
	for _, c := range []struct{ name, tool, target string }{
		{"curl", "curl", "curl"},
		{"gnu wget", "wget", "wget"},
		{"busybox wget", "wget", "busybox"},
		{"neither", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, tool := range []string{"sh", "head", "sed", "tail", "grep"} {
				link(t, dir, tool, tool)
			}
			if c.tool != "" {
				link(t, dir, c.tool, c.target)
			}
			docker := "#!" + sh + "\ncase $2 in ls) printf %s " + nodes.Quote(ServiceRecord{Name: "registry_registry-mirror", Image: "registry:2", Replicas: "1/1"}.Line()) + ";; esac\n"
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(docker), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sh, "-c", stackStatusScript.Text(), stackStatusScript.Name(), "registry_registry-mirror", reg.URL, probe.Script.Text())
			cmd.Env = []string{"PATH=" + dir}
			var stderr strings.Builder
			cmd.Stderr = &stderr // as over SSH: only stdout is parsed
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v\n%s%s", err, out, stderr.String())
			}
			h := fakehost.New("m1", nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) { return nodes.Output{Stdout: out}, nil })
			st, _, fm := CheckStack(context.Background(), h, "registry", "registry_registry-mirror", reg.URL)
			if !st.Found {
				t.Errorf("stack = %+v\n%s", st, out)
			}
			if c.tool == "" {
				if fm.NotChecked != "no curl or wget on m1" || fm.Error != "" || fm.Status != 0 {
					t.Errorf("from manager = %+v\n%s", fm, out)
				}
			} else if fm.Status != 401 || fm.Error != "" || fm.NotChecked != "" {
				t.Errorf("from manager = %+v\n%s", fm, out)
			}
		})
	}
}

func link(t *testing.T, dir, name, target string) {
	t.Helper()
	p, err := exec.LookPath(target)
	if err != nil {
		t.Skipf("no %s here", target)
	}
	if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
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

// Every problem has a code, and a problem about a node names it.
func TestJudgeProblemObjects(t *testing.T) {
	r := Report{MirrorURLs: []string{"http://x"}, Endpoint: &Endpoint{URL: "http://x", Error: "refused"},
		Stack: &Stack{Name: "registry", Service: "s", Found: true, DesiredReplicas: 2, RunningReplicas: 1},
		Nodes: []Node{{Name: "a", Reachable: true, Mirror: &member.MirrorState{}}, {Name: "b", Error: "refused"},
			{Name: "c", Reachable: true, Mirror: &member.MirrorState{Configured: true, Pending: true}}}}
	r.Judge(nil)
	want := []report.Problem{
		{Code: report.ProblemNotConfigured, Node: "a", Message: "not configured ( does not list the mirror)"},
		{Code: report.ProblemUnreachable, Node: "b", Message: "unreachable: refused"},
		{Code: report.ProblemPending, Node: "c", Message: "configured but not applied: docker is waiting for a reload/restart"},
		{Code: report.ProblemReplicasShort, Message: "service s: 1/2 replicas running"},
		{Code: report.ProblemEndpointDown, Message: "mirror http://x: unreachable: refused"},
	}
	if len(r.Problems) != len(want) {
		t.Fatalf("problems %+v", r.Problems)
	}
	for i := range want {
		if r.Problems[i] != want[i] {
			t.Errorf("problem %d = %+v, want %+v", i, r.Problems[i], want[i])
		}
	}
}

// With the endpoint down the catalog is not asked (it would only time out
// again) and the cache says so instead of "0 repositories".
func TestBuildEndpointDownLeavesCacheUnchecked(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	rep := Build(context.Background(), Input{MirrorURLs: []string{url}, Timeout: time.Second, Now: time.Now,
		ManagerErr: errors.New("no manager"), Stack: stack.Values{}})
	if rep.Endpoint == nil || rep.Endpoint.Reachable || rep.Cache == nil || rep.Cache.Error != "catalog: not checked: the mirror is unreachable" {
		t.Errorf("endpoint %+v cache %+v", rep.Endpoint, rep.Cache)
	}
}
