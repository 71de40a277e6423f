package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/status"
)

// swarmFacts is the facts output of a swarm node.
func swarmFacts(hostname, daemonJSON, liveMirrors string, manager bool) string {
	return strings.Join([]string{
		"@@os", "Debian", "@@user", "root", "@@hostname", hostname, "@@service", "docker-latest", "@@active", "active",
		"@@unit", "MainPID=77", "@@envfiles", "@@config", "/etc/docker-latest/daemon.json",
		"@@daemonjson", "present", base64.StdEncoding.EncodeToString([]byte(daemonJSON)),
		"@@info", fmt.Sprintf("%s|true|20.10.24|active|id-%s|10.0.0.1|%t", liveMirrors, hostname, manager),
		"@@leader", fmt.Sprint(manager), "@@end", "",
	}, "\n")
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
			case strings.Contains(c.Script, "@@daemonjson") && name == "m1":
				return out(swarmFacts("m1", good, live, true))
			case strings.Contains(c.Script, "@@daemonjson"):
				return out(swarmFacts(name, `{"log-driver": "journald"}`, "null", false))
			case strings.Contains(c.Script, "docker node ls -q"):
				return out(members)
			case strings.Contains(c.Script, "docker service ls"):
				return out("@@services\nregistry_registry-mirror|registry:2|1/1\n@@tasks\nregistry_registry-mirror.1|m1|Running|Running 5 minutes ago|\n@@v2\n200 0.002\n@@end\n")
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
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "w9: not configured") {
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
