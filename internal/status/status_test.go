package status

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
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
		return nodes.Output{Stdout: []byte("@@services\nregistry_registry-mirror|registry:2@sha256:abc|0/1\napp_web|ghcr.io/o/web:1|2/2\n" +
			"@@tasks\nregistry_registry-mirror.1|m2|Running|Rejected 3 seconds ago|no suitable node\n@@v2\n200 0.004\n@@end\n")}, nil
	})
	st, svcs, fm := CheckStack(context.Background(), h, "registry", "registry_registry-mirror", "http://10.0.0.1:5000")
	if !st.Found || st.Image != "registry:2" || st.RunningReplicas != 0 || st.DesiredReplicas != 1 || st.LastError != "no suitable node" {
		t.Errorf("stack = %+v", st)
	}
	if len(svcs) != 2 || fm.Status != 200 || fm.LatencyMS != 4 {
		t.Errorf("services=%v fm=%+v", svcs, fm)
	}
	r := Report{Stack: &st, Nodes: []Node{{Name: "m1", Reachable: true, Mirror: &configure.MirrorState{Configured: true, Applied: true}}}}
	r.Judge(svcs)
	if r.Health != Degraded || !strings.Contains(strings.Join(r.Problems, "\n"), "0/1 replicas running: no suitable node") {
		t.Errorf("health=%s problems=%q", r.Health, r.Problems)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "ghcr.io/o/web:1") {
		t.Errorf("warnings = %q", r.Warnings)
	}
}

func TestJudge(t *testing.T) {
	ok := &configure.MirrorState{Configured: true, Applied: true}
	stack := &Stack{Name: "registry", Service: "s", Found: true, DesiredReplicas: 1, RunningReplicas: 1}
	cases := []struct {
		name   string
		r      Report
		health string
		prob   string
	}{
		{"healthy", Report{Stack: stack, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}}}, Healthy, ""},
		{"pending", Report{Nodes: []Node{{Name: "a", Reachable: true, Mirror: &configure.MirrorState{Configured: true, Pending: true}}}}, Degraded, "not applied"},
		{"unconfigured", Report{Nodes: []Node{{Name: "new", Reachable: true, Mirror: &configure.MirrorState{}}}}, Degraded, "new: not configured"},
		{"unreachable", Report{Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}, {Name: "b", Error: "refused"}}}, Degraded, "b: unreachable: refused"},
		{"none reachable", Report{Nodes: []Node{{Name: "b", Error: "refused"}}}, Unchecked, "b: unreachable"},
		{"scaled to 0", Report{Stack: &Stack{Name: "registry", Service: "s", Found: true}, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}}}, Degraded, "scaled to 0"},
		{"endpoint down", Report{Endpoint: &Endpoint{URL: "http://x", Error: "refused"}, Nodes: []Node{{Name: "a", Reachable: true, Mirror: ok}}}, Degraded, "unreachable: refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.r.Judge(nil)
			if c.r.Health != c.health {
				t.Errorf("health = %s, want %s (%q)", c.r.Health, c.health, c.r.Problems)
			}
			if c.prob != "" && !strings.Contains(strings.Join(c.r.Problems, "\n"), c.prob) {
				t.Errorf("problems %q lack %q", c.r.Problems, c.prob)
			}
		})
	}
}
