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

// A swarm member whose name or address swarmctl does not accept is never
// dialled, but it is not silently dropped either: a warning names it and
// why, it has a failed row, and the run exits non-zero.
func TestDiscoverReportsMembersItWillNotDial(t *testing.T) {
	members := "id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n" +
		"id-w2|w2|worker|ready|active|10.0.0.3|||\n" +
		"id-w4|w 4|worker|ready|active|10.0.0.5|||\n" + // name with a space
		"id-w5|w5|worker|ready|active|10.0.0.6;reboot|||\n" + // address a user could not give
		"id-w6|w6|worker|down|active||||\n" + // no address
		"id-w7|\x1b[31mw7|worker|ready|active|-oProxyCommand|||\n" // both, with a terminal escape
	good := `{"registry-mirrors": ["` + swarmMirror + `"], "experimental": true, "insecure-registries": ["10.0.0.1:5000"]}`
	var mu sync.Mutex
	dialled := map[string]int{}
	hosts := map[string]*fakehost.Host{}
	for name, addr := range map[string]string{"m1": "10.0.0.1", "w1": "10.0.0.2", "w2": "10.0.0.3"} {
		name := name
		hosts[addr] = fakehost.New(name, nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }
			switch {
			case strings.Contains(c.Script, "@@daemonjson") && name == "m1":
				return out(swarmFacts("m1", good, `["`+swarmMirror+`/"]`, true))
			case strings.Contains(c.Script, "@@daemonjson"):
				return out(swarmFacts(name, `{"log-driver": "journald"}`, "null", false))
			case strings.Contains(c.Script, "docker node ls -q") && name == "m1":
				return out(members)
			}
			return nodes.Output{}, fmt.Errorf("%s: unexpected command %s", name, nodes.CommandLine(c, true))
		})
	}
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		mu.Lock()
		defer mu.Unlock()
		dialled[tg.Host]++
		if h, ok := hosts[tg.Host]; ok {
			return h, nil
		}
		t.Errorf("dialled %q (%q)", tg.Host, tg.Name)
		return nil, fmt.Errorf("dial tcp %s:22: connect: no route to host", tg.Host)
	}
	inv := writeInventory(t, swarmInventory)
	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--discover", "--dry-run", "-o", "json"})
	if code != ExitFailed {
		t.Errorf("members left unconfigured must fail the run: exit %d\n%s", code, errb)
	}
	var doc NodesConfigureResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	type row struct{ outcome, address, err string }
	got := map[string]row{}
	for _, n := range doc.Nodes {
		got[n.Name] = row{string(n.Outcome), n.Address, n.Error}
	}
	for name, want := range map[string]row{
		"m1":           {"unchanged", "10.0.0.1", ""},
		"w1":           {"would-restart", "10.0.0.2", ""},
		"w2":           {"would-restart", "10.0.0.3", ""},
		`"w 4"`:        {"failed", "10.0.0.5", `not dialled: node name "w 4": character ' ' is not allowed`},
		"w5":           {"failed", `"10.0.0.6;reboot"`, `not dialled: host "10.0.0.6;reboot": character ';' is not allowed`},
		"w6":           {"failed", "", "not dialled: no address"},
		`"\x1b[31mw7"`: {"failed", `"-oProxyCommand"`, `not dialled: host "-oProxyCommand" must not start with '-'`},
	} {
		g, ok := got[name]
		if !ok {
			t.Errorf("no result row for %s; rows %v", name, got)
			continue
		}
		if g.outcome != want.outcome || g.address != want.address || !strings.Contains(g.err, want.err) {
			t.Errorf("%s: got %+v, want %+v", name, g, want)
		}
	}
	if len(doc.Nodes) != 7 || doc.Summary["failed"] != 4 {
		t.Errorf("%d rows, summary %v", len(doc.Nodes), doc.Summary)
	}
	for _, w := range []string{
		`warning: swarm member "w 4" (node ID id-w4, address 10.0.0.5) is not dialled`,
		`warning: swarm member w5 (node ID id-w5, address "10.0.0.6;reboot") is not dialled, so it is neither checked nor configured: host "10.0.0.6;reboot": character ';' is not allowed`,
		`warning: swarm member w6 (node ID id-w6, address "") is not dialled, so it is neither checked nor configured: the swarm reports no address for it`,
		`warning: swarm member "\x1b[31mw7"`,
	} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb)
		}
	}
	if strings.Contains(errb.String(), "\x1b") {
		t.Errorf("a terminal escape from the swarm reached stderr:\n%q", errb)
	}
	if dialled["10.0.0.5"] != 0 {
		t.Errorf("dialled a member whose name was rejected")
	}
}

// Nodes from the inventory or --host, IPv6 ones without a name included,
// are dialled as before.
func TestDialableAcceptsSelectedNodes(t *testing.T) {
	for _, n := range []Node{
		{Name: "w1", Target: nodes.Target{Host: "10.0.0.2"}},
		{Name: "fd00::5", Target: nodes.Target{Host: "fd00::5"}},
		{Name: "[fd00::5]", Target: nodes.Target{Host: "[fd00::5]"}},
		{Name: "alias", Target: nodes.Target{Host: "alias"}},
	} {
		if err := dialable(n); err != nil {
			t.Errorf("%+v: %v", n, err)
		}
	}
	for _, n := range []Node{
		{Name: `"w 4"`, Target: nodes.Target{Host: "10.0.0.5"}},
		{Name: `"fd00::5"`, Target: nodes.Target{Host: "fd00::5"}},
		{Name: "w5", Target: nodes.Target{Host: `"10.0.0.6;x"`}},
		{Name: "w6", Target: nodes.Target{Host: ""}},
	} {
		if err := dialable(n); err == nil {
			t.Errorf("%+v: accepted", n)
		}
	}
}
