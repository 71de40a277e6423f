package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// --host and --limit values with a line break are refused (pflag's
// StringSlice kept the first line only, silently).
func TestHostAndLimitRefuseLineBreaks(t *testing.T) {
	for _, args := range [][]string{
		{"--host", "10.0.0.1\n10.0.0.2"},
		{"--host", "10.0.0.1", "--limit", "10.0.0.1\nw1"},
	} {
		dialled := 0
		d, _, errb := testDeps(func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) {
			dialled++
			return nil, errors.New("refused")
		})
		code := Run(context.Background(), d, append([]string{"nodes", "list"}, args...))
		if code != ExitError || dialled != 0 || !strings.Contains(errb.String(), "line break") {
			t.Errorf("%q: exit %d, %d dials, stderr %s", args, code, dialled, errb)
		}
	}
}

// --connect-timeout 0 is an error, not a silent 10s.
func TestConnectTimeoutZeroRefused(t *testing.T) {
	d, _, errb := testDeps(nil)
	if code := Run(context.Background(), d, []string{"nodes", "list", "--host", "10.0.0.1", "--connect-timeout", "0"}); code != ExitError || !strings.Contains(errb.String(), "--connect-timeout") {
		t.Errorf("exit %d, stderr %s", code, errb)
	}
}

// mirror render --out refuses two files that would be written under one
// name (the second overwrote the first).
func TestRenderOutRefusesSharedBaseNames(t *testing.T) {
	out := t.TempDir()
	d, _, errb := testDeps(nil)
	code := Run(context.Background(), d, []string{"mirror", "render", "--fqdn", "m.example.com", "--out", out,
		"--stack-file", "/srv/a/registry.yml", "--config-file", "/srv/b/registry.yml"})
	if code != ExitError || !strings.Contains(errb.String(), "registry.yml") {
		t.Errorf("exit %d, stderr %s", code, errb)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("wrote %v", ents)
	}
}

// The CI job with nothing but flags and variables: no inventory, a
// manager and a mirror URL. The swarm's members, the manager among them,
// are the nodes configured.
func TestDiscoverWithoutInventory(t *testing.T) {
	t.Chdir(t.TempDir()) // no swarmctl.yaml here
	fs := newFakeSwarm()
	d, out, errb := testDeps(fs.dial)
	code := Run(context.Background(), d, []string{"nodes", "configure", "--discover", "--manager", "10.0.0.1", "--mirror", swarmMirror, "--dry-run", "-o", "json"})
	var doc NodesConfigureResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, errb)
	}
	got := map[string]string{}
	for _, n := range doc.Nodes {
		got[n.Address] = string(n.Outcome)
	}
	for addr, want := range map[string]string{"10.0.0.1": "unchanged", "10.0.0.2": "would-restart", "10.0.0.3": "would-restart", "10.0.0.4": "failed"} {
		if got[addr] != want {
			t.Errorf("%s: %q, want %q (rows %v)\n%s", addr, got[addr], want, got, errb)
		}
	}
	if len(doc.Nodes) != 4 || code != ExitFailed {
		t.Errorf("exit %d, %d rows %v; want the 4 members (w3 is down: exit 1)", code, len(doc.Nodes), got)
	}
	// --limit applies to the members, the manager included.
	d, out, errb = testDeps(fs.dial)
	Run(context.Background(), d, []string{"nodes", "configure", "--discover", "--manager", "10.0.0.1", "--limit", "worker", "--mirror", swarmMirror, "--dry-run", "-o", "json"})
	doc = NodesConfigureResult{}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("--limit worker: %v\n%s", err, errb)
	}
	for _, n := range doc.Nodes {
		if n.Address == "10.0.0.1" {
			t.Errorf("--limit worker configured the manager: %+v", n)
		}
	}
	if len(doc.Nodes) != 3 {
		t.Errorf("--limit worker: %d rows, want the 3 workers", len(doc.Nodes))
	}
	// Without --manager there is nothing to ask: still "no nodes".
	d, _, errb = testDeps(fs.dial)
	if code := Run(context.Background(), d, []string{"nodes", "configure", "--discover", "--mirror", swarmMirror}); code != ExitError || !strings.Contains(errb.String(), "no nodes") {
		t.Errorf("without --manager: exit %d %s", code, errb)
	}
}
