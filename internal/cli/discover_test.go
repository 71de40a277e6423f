package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/swarmctl/swarmctl/internal/member"
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
			case c.Script.Name() == "facts.sh" && name == "m1":
				return out(swarmFacts("m1", good, `["`+swarmMirror+`/"]`, true))
			case c.Script.Name() == "facts.sh":
				return out(swarmFacts(name, `{"log-driver": "journald"}`, "null", false))
			case c.Script.Name() == "swarm-nodes.sh" && name == "m1":
				return out(memberLines(members))
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

// configureRows runs `nodes configure -i inv --dry-run -o json args...`
// against fs and returns each row's outcome by name, the exit code and
// stderr.
func configureRows(t *testing.T, fs *fakeSwarm, inv string, args ...string) (map[string]string, int, string) {
	t.Helper()
	d, out, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, append([]string{"nodes", "configure", "-i", inv, "--dry-run", "-o", "json"}, args...))
	rows := map[string]string{}
	if code == ExitError {
		return rows, code, errb.String()
	}
	var doc NodesConfigureResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %v\n%s\n%s", args, err, out, errb)
	}
	for _, n := range doc.Nodes {
		rows[n.Name] = string(n.Outcome)
	}
	return rows, code, errb.String()
}

// With --discover, a swarm member that is in the inventory but left out by
// --limit stays out (it is not re-added as "discovered"); members missing
// from the inventory are kept when --limit names their swarm role, their
// name or their address.
func TestDiscoverLimitKeepsInventoryNodesOut(t *testing.T) {
	inv := writeInventory(t, swarmInventory) // m1 (role: manager), w1 (no role)
	for _, tc := range []struct {
		limit string
		want  map[string]string
	}{
		{"manager", map[string]string{"m1": "unchanged"}},
		{"m1,worker", map[string]string{"m1": "unchanged", "w2": "would-restart", "w3": "failed"}},
		{"m1,w2", map[string]string{"m1": "unchanged", "w2": "would-restart"}},
		{"m1,10.0.0.4", map[string]string{"m1": "unchanged", "w3": "failed"}},
	} {
		fs := newFakeSwarm()
		rows, code, errs := configureRows(t, fs, inv, "--discover", "--limit", tc.limit)
		if fmt.Sprint(rows) != fmt.Sprint(tc.want) {
			t.Errorf("--limit %s: rows %v, want %v\n%s", tc.limit, rows, tc.want, errs)
		}
		if n := fs.dials["10.0.0.2"]; n != 0 {
			t.Errorf("--limit %s: w1 (in the inventory, left out) dialled %d times", tc.limit, n)
		}
		if wantCode := map[bool]int{true: ExitFailed, false: ExitOK}[tc.want["w3"] != ""]; code != wantCode {
			t.Errorf("--limit %s: exit %d, want %d\n%s", tc.limit, code, wantCode, errs)
		}
	}
}

// When --limit leaves every manager out, discovery asks one of the
// inventory's managers; it is asked only: no row, no change, just the
// facts and the member list.
func TestDiscoverAsksManagerLimitLeftOut(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	for _, tc := range []struct {
		limit string
		want  map[string]string
	}{
		{"w1", map[string]string{"w1": "would-restart"}},
		{"w1,worker", map[string]string{"w1": "would-restart", "w2": "would-restart", "w3": "failed"}},
	} {
		fs := newFakeSwarm()
		rows, code, errs := configureRows(t, fs, inv, "--discover", "--limit", tc.limit)
		if code == ExitError || fmt.Sprint(rows) != fmt.Sprint(tc.want) {
			t.Errorf("--limit %s: exit %d, rows %v, want %v\n%s", tc.limit, code, rows, tc.want, errs)
			continue
		}
		if m1 := fs.hosts["10.0.0.1"]; len(m1.Commands) != 2 || factsRuns(m1) != 1 || len(m1.Writes) != 0 {
			t.Errorf("--limit %s: m1 must be asked only (facts, member list): %d commands", tc.limit, len(m1.Commands))
		}
		if !strings.Contains(errs, "asking m1 (10.0.0.1) for the swarm's members: not selected, so not configured") {
			t.Errorf("--limit %s: stderr:\n%s", tc.limit, errs)
		}
	}
}

// --manager names any inventory node, selected or not, else an ad-hoc host
// reached with the inventory's defaults; a manager that is not selected is
// asked, not configured (not even as a discovered member).
func TestDiscoverManagerFromWholeInventoryOrAdHoc(t *testing.T) {
	inv := writeInventory(t, swarmInventory)
	withM9 := func() *fakeSwarm {
		fs := newFakeSwarm()
		members := "id-m9|m9|manager|ready|active|0.0.0.0|10.0.0.9:2377|reachable|false\n" +
			"id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n" +
			"id-w1|w1|worker|ready|active|10.0.0.2|||\n" +
			"id-w2|w2|worker|ready|active|10.0.0.3|||\n" +
			"id-w3|w3|worker|down|active|10.0.0.4|||\n"
		fs.hosts["10.0.0.9"] = fakehost.New("m9", nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			switch {
			case c.Script.Name() == "facts.sh":
				return nodes.Output{Stdout: []byte(swarmFacts("m9", `{}`, "null", true))}, nil
			case c.Script.Name() == "swarm-nodes.sh":
				return nodes.Output{Stdout: []byte(memberLines(members))}, nil
			}
			return nodes.Output{}, fmt.Errorf("m9: unexpected command %s", nodes.CommandLine(c, true))
		})
		return fs
	}
	for _, tc := range []struct {
		args  []string
		asked string // host asked only
		want  map[string]string
	}{
		{[]string{"--limit", "w1", "--manager", "m1"}, "10.0.0.1", map[string]string{"w1": "would-restart"}},
		{[]string{"--limit", "w1", "--manager", "10.0.0.1"}, "10.0.0.1", map[string]string{"w1": "would-restart"}},
		{[]string{"--manager", "10.0.0.9"}, "10.0.0.9",
			map[string]string{"m1": "unchanged", "w1": "would-restart", "w2": "would-restart", "w3": "failed"}},
		{[]string{"--limit", "m1", "--manager", "root@10.0.0.9:22"}, "10.0.0.9", map[string]string{"m1": "unchanged"}},
	} {
		fs := withM9()
		rows, code, errs := configureRows(t, fs, inv, append([]string{"--discover"}, tc.args...)...)
		if code == ExitError || fmt.Sprint(rows) != fmt.Sprint(tc.want) {
			t.Errorf("%v: exit %d, rows %v, want %v\n%s", tc.args, code, rows, tc.want, errs)
			continue
		}
		if h := fs.hosts[tc.asked]; len(h.Commands) != 2 || factsRuns(h) != 1 || fs.dials[tc.asked] != 1 {
			t.Errorf("%v: %s must be asked only, once: %d commands, %d dials", tc.args, tc.asked, len(h.Commands), fs.dials[tc.asked])
		}
	}

	// The ad-hoc manager is reached with the inventory's defaults.
	fs := withM9()
	var got []nodes.Target
	var mu sync.Mutex
	d, _, errb := testDeps(func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		mu.Lock()
		got = append(got, tg)
		mu.Unlock()
		return fs.dial(ctx, tg, o)
	})
	if code := Run(context.Background(), d, []string{"nodes", "configure", "-i", inv, "--dry-run", "--discover", "--limit", "m1", "--manager", "10.0.0.9"}); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	for _, tg := range got {
		if tg.Host == "10.0.0.9" && tg.User != "root" {
			t.Errorf("ad-hoc manager dialled as user %q, want the inventory's default root", tg.User)
		}
	}
}

// memberLines turns test members written as
// "ID|hostname|role|state|availability|addr|manager addr|reachability|leader"
// lines into what swarm-nodes.sh prints, with the encoder its parser is
// tested against (member.EncodeSwarmNodes).
func memberLines(pipe string) string {
	var ns []member.SwarmNode
	for _, l := range strings.Split(strings.TrimRight(pipe, "\n"), "\n") {
		p := strings.Split(l, "|")
		n := member.SwarmNode{ID: p[0], Hostname: p[1], Role: p[2], State: p[3], Availability: p[4], Addr: p[5],
			Reachability: p[7], Leader: p[8] == "true"}
		if h, _, err := net.SplitHostPort(p[6]); err == nil {
			n.Addr = h
		}
		ns = append(ns, n)
	}
	return string(member.EncodeSwarmNodes(ns))
}

// ipHost is a fake host reached at an IP address, as an SSH host is.
type ipHost struct {
	*fakehost.Host
	addr string
}

func (h ipHost) Addr() string { return h.addr }

// A selected node cannot hide another member from discovery by reporting
// that member's swarm node ID and hostname as its own: the claim counts
// only as far as the manager's list confirms it (here, by the address the
// node was reached at).
func TestDiscoverDoesNotTrustANodesClaimToAnotherMember(t *testing.T) {
	fs := newFakeSwarm()
	w1 := fs.hosts["10.0.0.2"]
	inner := w1.Handler
	w1.Handler = func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() == "facts.sh" {
			return nodes.Output{Stdout: []byte(swarmFacts("w2", `{"log-driver": "journald"}`, "null", false))}, nil
		}
		return inner(h, c)
	}
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		h, err := fs.dial(ctx, tg, o)
		if err != nil {
			return nil, err
		}
		return ipHost{h.(*fakehost.Host), tg.Host + ":22"}, nil
	}
	d, out, errb := testDeps(dial)
	Run(context.Background(), d, []string{"nodes", "configure", "-i", writeInventory(t, swarmInventory), "--discover", "--dry-run", "-o", "json"})
	var doc NodesConfigureResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, errb)
	}
	var found bool
	for _, n := range doc.Nodes {
		found = found || (n.Name == "w2" && n.Address == "10.0.0.3")
	}
	if !found || fs.dials["10.0.0.3"] != 1 {
		t.Errorf("member w2 (10.0.0.3), whose ID w1 claims, was not discovered (dialled %d times):\n%s", fs.dials["10.0.0.3"], errb)
	}
}
