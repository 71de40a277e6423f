package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/status"
)

// replicaRegistries serves a registry on 127.0.0.1, .2 and .3 at one port
// (a replica per node, as host-mode publishing has them); stop(i) takes
// replica i down.
type replicaRegistries struct {
	port  int
	srv   []*http.Server
	hosts []string
	// dockerDown: the node's docker service is stopped (facts say so).
	dockerDown map[string]bool
}

func newReplicaRegistries(t *testing.T) *replicaRegistries {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" {
			w.Write([]byte(`{"repositories":["library/busybox"]}`))
			return
		}
		w.WriteHeader(200)
	})
	for try := 0; try < 20; try++ {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) < 3 {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		r := &replicaRegistries{port: port, hosts: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, dockerDown: map[string]bool{}}
		for _, ln := range lns {
			s := &http.Server{Handler: h}
			go s.Serve(ln)
			r.srv = append(r.srv, s)
		}
		t.Cleanup(func() {
			for _, s := range r.srv {
				s.Close()
			}
		})
		return r
	}
	t.Skip("no port free on 127.0.0.1-3 for three replicas") // never silent: says why
	return nil
}

func (r *replicaRegistries) stop(i int) { r.srv[i].Close() }

func (r *replicaRegistries) url(i int) string {
	return "http://" + r.hosts[i] + ":" + strconv.Itoa(r.port)
}

// dial answers as three managers m1-m3 at 127.0.0.1-3, each running a
// replica of a global registry service.
func (r *replicaRegistries) dial(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
	name := "m" + strings.TrimPrefix(tg.Host, "127.0.0.")
	urls := `"` + r.url(0) + `", "` + r.url(1) + `", "` + r.url(2) + `"`
	h := fakehost.New(tg.Host, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
		switch {
		case c.Script.Name() == "facts.sh" && r.dockerDown[name]:
			f := &member.Facts{OS: "Debian", User: "root", Hostname: name, Service: "docker-latest", DaemonJSONPath: "/etc/docker-latest/daemon.json",
				DaemonJSONExists: true, DaemonJSON: []byte(`{"registry-mirrors": [` + urls + `], "experimental": true}`), DockerError: "Cannot connect to the Docker daemon"}
			return out(string(member.EncodeFacts(f)))
		case c.Script.Name() == "facts.sh":
			return out(swarmFacts(name, `{"registry-mirrors": [`+urls+`], "experimental": true}`, `[`+strings.ReplaceAll(urls, `",`, `/",`)+`]`, true))
		case c.Script.Name() == "swarm-nodes.sh":
			return out(memberLines("id-m1|m1|manager|ready|active|127.0.0.1|127.0.0.1:2377|reachable|true\n" +
				"id-m2|m2|manager|ready|active|127.0.0.2|127.0.0.2:2377|reachable|false\n" +
				"id-m3|m3|manager|ready|active|127.0.0.3|127.0.0.3:2377|reachable|false\n"))
		case c.Script.Name() == "stack-status.sh":
			return out(stackOutput("@@services\nregistry_registry-mirror|registry:2|3/3\n@@tasks\n" +
				"registry_registry-mirror.a|m1|Running|Running 5 minutes ago|\n" +
				"registry_registry-mirror.b|m2|Running|Running 5 minutes ago|\n" +
				"registry_registry-mirror.c|m3|Running|Running 5 minutes ago|\n@@v2\n200 0.002\n@@v2exit\n0\n@@end\n"))
		case len(c.Args) > 0 && c.Args[0] == "du":
			if d := c.Args[len(c.Args)-1]; d != "/var/data/registry/registry-mirror-data/"+name && d != "/var/data/registry/registry-mirror-data" {
				return nodes.Output{}, fmt.Errorf("du of %s on %s", c.Args[len(c.Args)-1], name)
			}
			return out("8192\t" + c.Args[len(c.Args)-1] + "\n")
		}
		return nodes.Output{}, fmt.Errorf("unexpected command %s", nodes.CommandLine(c, true))
	})
	return ipHost{h, tg.Host}, nil
}

func (r *replicaRegistries) inventory(t *testing.T) string {
	return writeInventory(t, fmt.Sprintf(`mirror:
  url: %s
  traefik: none
  publish: %d
  replica_nodes: [m1, m2, m3]
nodes:
  - {host: 127.0.0.1, name: m1, role: manager}
  - {host: 127.0.0.2, name: m2, role: manager}
  - {host: 127.0.0.3, name: m3, role: manager}
`, r.url(0), r.port))
}

func (r *replicaRegistries) status(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	d, out, errb := testDeps(r.dial)
	code := Run(context.Background(), d, append([]string{"mirror", "status", "-i", r.inventory(t)}, args...))
	return code, out.String(), errb.String()
}

// Every replica's health and cache is shown; one down is degraded (exit
// 1) with pulls still having a path, and said so; none answering is
// unhealthy (exit 1) with pulls bypassing the mirror.
func TestMirrorStatusReplicas(t *testing.T) {
	r := newReplicaRegistries(t)
	code, out, errb := r.status(t)
	if code != ExitOK {
		t.Fatalf("all replicas up: exit %d\n%s\n%s", code, out, errb)
	}
	for i, n := range []string{"m1", "m2", "m3"} {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, " "+n+" ") && strings.Contains(l, r.url(i)) {
				line = l
			}
		}
		for _, want := range []string{"docker.io", "HTTP 200 in", "Running 5 minutes ago", "1 repositories, 8.0 KiB on disk"} {
			if !strings.Contains(line, want) {
				t.Errorf("replica %s's line %q lacks %q:\n%s", n, line, want, out)
			}
		}
	}
	if !strings.Contains(out, "docker.io: all 3 replicas answer") {
		t.Errorf("stdout:\n%s", out)
	}

	r.stop(2)
	r.dockerDown["m3"] = true
	code, out, errb = r.status(t)
	if code != ExitFailed || !strings.Contains(errb, "health: degraded") {
		t.Fatalf("one replica down: exit %d\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{"docker.io: degraded: 2 of 3 replicas answer (down: m3); pulls still go through the mirror", "down: "} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errb, "m3: docker.io: replica "+r.url(2)+" is down (dial tcp") || !strings.Contains(errb, "pulls still have a path") ||
		!strings.Contains(errb, "m3: docker is not running: docker-latest.service is not active") || strings.Contains(errb, "waiting for a reload") {
		t.Errorf("stderr:\n%s", errb)
	}
	code, out, _ = r.status(t, "-o", "json")
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != ExitFailed || rep.Health != status.Degraded || len(rep.Replicas) != 3 || rep.Replicas[2].Healthy || !rep.Replicas[0].Healthy ||
		len(rep.ReplicaSets) != 1 || rep.ReplicaSets[0].Health != status.ReplicasDegraded || rep.ReplicaSets[0].Answering != 2 {
		t.Fatalf("exit %d report %s", code, out)
	}
	if rep.Replicas[0].Cache.DiskBytes != 8192 || rep.Replicas[0].Cache.DiskNode != "m1" || len(rep.Replicas[0].Cache.Repositories) != 1 ||
		rep.Replicas[2].Cache.Error == "" || rep.Replicas[0].Task == nil || rep.Replicas[0].Task.Node != "m1" {
		t.Errorf("replicas %+v", rep.Replicas)
	}
	var down []report.Problem
	for _, p := range rep.Problems {
		if p.Code == report.ProblemReplicaDown {
			down = append(down, p)
		}
	}
	if len(down) != 1 || down[0].Node != "m3" {
		t.Errorf("problems %+v", rep.Problems)
	}

	r.stop(0)
	r.stop(1)
	code, out, errb = r.status(t)
	if code != ExitFailed || !strings.Contains(errb, "health: unhealthy") ||
		!strings.Contains(out, "docker.io: down: no replica answers; pulls bypass the mirror and go to the upstream") ||
		!strings.Contains(errb, "no replica answers (m1, m2, m3)") {
		t.Fatalf("no replica: exit %d\n%s\n%s", code, out, errb)
	}
}

// Without replica_nodes, status has no replica section (the endpoint
// check is the one cache's).
func TestMirrorStatusNoReplicaSection(t *testing.T) {
	l := newStatusLab(t)
	code, out, errb := l.run(t, statusInv, "-o", "json")
	if code != ExitOK || strings.Contains(out, `"replicas"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
}
