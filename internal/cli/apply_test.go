package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// fakeSwarm is m1 (manager, already configured, in the inventory), w1 (in
// the inventory, not configured), w2 (discovered, not configured) and w3
// (discovered, unreachable).
type fakeSwarm struct {
	mu    sync.Mutex
	hosts map[string]*fakehost.Host
	dials map[string]int
}

const swarmMirror = "http://10.0.0.1:5000"

func newFakeSwarm() *fakeSwarm {
	fs := &fakeSwarm{hosts: map[string]*fakehost.Host{}, dials: map[string]int{}}
	members := "id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n" +
		"id-w1|w1|worker|ready|active|10.0.0.2|||\n" +
		"id-w2|w2|worker|ready|active|10.0.0.3|||\n" +
		"id-w3|w3|worker|down|active|10.0.0.4|||\n"
	good := `{"registry-mirrors": ["` + swarmMirror + `"], "experimental": true, "insecure-registries": ["10.0.0.1:5000"]}`
	for name, addr := range map[string]string{"m1": "10.0.0.1", "w1": "10.0.0.2", "w2": "10.0.0.3"} {
		name := name
		fs.hosts[addr] = fakehost.New(name, nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
			switch {
			case c.Script.Name() == "facts.sh" && name == "m1":
				return out(swarmFacts("m1", good, `["`+swarmMirror+`/"]`, true))
			case c.Script.Name() == "facts.sh":
				return out(swarmFacts(name, `{"log-driver": "journald"}`, "null", false))
			case c.Script.Name() == "swarm-nodes.sh" && name == "m1":
				return out(memberLines(members))
			case name == "m1" && len(c.Args) > 2 && c.Args[0] == "docker" && c.Args[1] == "service" && c.Args[2] == "inspect":
				return nodes.Output{}, exitErr(c, "Error: no such service: registry_registry-mirror")
			case name == "m1" && len(c.Args) > 0 && c.Args[0] == "test":
				return nodes.Output{}, exitErr(c, "")
			}
			return nodes.Output{}, fmt.Errorf("%s: unexpected command %s", name, nodes.CommandLine(c, true))
		})
	}
	return fs
}

func (fs *fakeSwarm) dial(_ context.Context, t nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.dials[t.Host]++
	if h, ok := fs.hosts[t.Host]; ok {
		return h, nil
	}
	return nil, fmt.Errorf("dial tcp %s:22: connect: no route to host", t.Host)
}

// factsRuns counts the facts commands a host received.
func factsRuns(h *fakehost.Host) int {
	n := 0
	for _, c := range h.Commands {
		if c.Script.Name() == "facts.sh" {
			n++
		}
	}
	return n
}

const swarmInventory = "defaults:\n  user: root\nmirror:\n  url: " + swarmMirror + "\n  insecure: true\n  traefik: none\n  publish_mode: host\n" +
	"nodes:\n  - {host: 10.0.0.1, name: m1, role: manager}\n  - {host: 10.0.0.2, name: w1}\n"

func TestConfigureDiscoverConfiguresEveryMember(t *testing.T) {
	fs := newFakeSwarm()
	inv := writeInventory(t, swarmInventory)
	d, out, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--discover", "--dry-run", "-o", "json"})
	if code != ExitFailed {
		t.Errorf("an unreachable discovered node must fail the run: exit %d\n%s", code, errb)
	}
	var doc NodesConfigureResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, n := range doc.Nodes {
		got[n.Name] = string(n.Outcome)
	}
	want := map[string]string{"m1": "unchanged", "w1": "would-restart", "w2": "would-restart", "w3": "failed"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	// Facts are gathered once per node: the discovery connection is reused.
	for addr, h := range fs.hosts {
		if n := factsRuns(h); n != 1 || fs.dials[addr] != 1 {
			t.Errorf("%s: %d facts commands, %d dials; want 1 and 1", h.Name(), n, fs.dials[addr])
		}
	}
	m1 := fs.hosts["10.0.0.1"]
	if len(m1.Commands) != 2 {
		t.Errorf("m1 is already right: want only the facts and the member list, got %d commands", len(m1.Commands))
	}
	if !strings.Contains(errb.String(), "w2 (10.0.0.3): discovered") || !strings.Contains(errb.String(), "w3 (10.0.0.4): discovered, unreachable") {
		t.Errorf("stderr:\n%s", errb)
	}

	// Without --discover only the inventory's nodes are touched.
	fs = newFakeSwarm()
	d, out, _ = testDeps(fs.dial)
	Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--dry-run", "-o", "json"})
	if strings.Contains(out.String(), `"w2"`) || fs.dials["10.0.0.3"] != 0 {
		t.Errorf("w2 touched without --discover:\n%s", out)
	}

	// A --manager that is neither an inventory node nor a valid host is
	// an input error, found before any node is dialled.
	for _, bad := range []string{"m;7", "-oProxyCommand=x", "root@m7:99999"} {
		d, _, _ = testDeps(noDial(t))
		if code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--discover", "--manager", bad}); code != ExitError {
			t.Errorf("--manager %q: exit %d", bad, code)
		}
	}
}

func TestApplyDryRunPhases(t *testing.T) {
	fs := newFakeSwarm()
	inv := writeInventory(t, swarmInventory)
	d, out, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, []string{"apply", "-i", inv, "--dry-run", "-o", "json"})
	if code != ExitFailed {
		t.Errorf("exit %d (w3 unreachable), want 1\n%s", code, errb)
	}
	var doc ApplyResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Command != "apply" || !doc.DryRun || doc.OK || !doc.Changed || len(doc.Phases) != 2 || doc.Install == nil || doc.Configure == nil || doc.Status != nil {
		t.Fatalf("doc %+v", doc)
	}
	if p := doc.Phases[0]; p.Name != "install" || p.Result != "changed" || !strings.Contains(p.Summary, "would change stack registry on m1") {
		t.Errorf("install phase %+v", p)
	}
	// The phase line carries the cause, not only the problem list.
	if p := doc.Phases[1]; p.Name != "configure" || p.Result != "failed" || !strings.Contains(p.Error, "w3") || !strings.Contains(p.Summary, "4 node(s)") ||
		!strings.Contains(p.Summary, "(w3: ") || !strings.Contains(p.Summary, "no route to host") {
		t.Errorf("configure phase %+v", p)
	}
	if len(fs.hosts["10.0.0.1"].Writes) != 0 {
		t.Errorf("dry run wrote on m1")
	}
	for addr, h := range fs.hosts {
		if n := factsRuns(h); n != 1 {
			t.Errorf("%s: %d facts commands, want 1", addr, n)
		}
	}

	// Text: the phase table and the diffs.
	fs = newFakeSwarm()
	d, out, errb = testDeps(fs.dial)
	Run(context.Background(), d, []string{"apply", "-i", inv, "--dry-run"})
	for _, want := range []string{"install    changed", "configure  failed", "# w2: would-restart", "would run docker stack deploy --prune registry on m1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errb.String(), "dry run: nothing was changed") {
		t.Errorf("stderr:\n%s", errb)
	}
}

func TestApplyInvalidInventoryExits2(t *testing.T) {
	for _, body := range []string{
		"mirror:\n  traefik: v7\nnodes:\n  - host: n1\n",
		"mirror:\n  traefik: none\nnodes:\n  - host: n1\n", // no URL for the nodes
		"mirror:\n  fqdn: m.example.com\n  upstream_username: u\nnodes:\n  - host: n1\n",
	} {
		inv := writeInventory(t, body)
		d, _, errb := testDeps(noDial(t))
		if code := Run(context.Background(), d, []string{"apply", "-i", inv}); code != ExitError {
			t.Errorf("%q: exit %d, want 2\n%s", body, code, errb)
		}
	}
}

// apply always discovers; a swarm member that is in the inventory but left
// out by --limit stays out, and discovered members are kept only when
// --limit names their swarm role, name or address.
func TestApplyLimitLeavesInventoryNodesOut(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	for _, tc := range []struct {
		limit, want string
	}{
		{"manager", "m1"},
		{"m1,w2", "m1,w2"},
	} {
		fs := newFakeSwarm()
		d, out, errb := testDeps(fs.dial)
		Run(context.Background(), d, []string{"apply", "-i", inv, "--dry-run", "-o", "json", "--limit", tc.limit})
		var doc ApplyResult
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("%v\n%s\n%s", err, out, errb)
		}
		if doc.Configure == nil {
			t.Fatalf("--limit %s: no configure phase: %+v\n%s", tc.limit, doc, errb)
		}
		var names []string
		for _, n := range doc.Configure.Nodes {
			names = append(names, n.Name)
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("--limit %s: configured %s, want %s", tc.limit, got, tc.want)
		}
		if fs.dials["10.0.0.2"] != 0 {
			t.Errorf("--limit %s: w1 (in the inventory, left out) dialled", tc.limit)
		}
	}
}
