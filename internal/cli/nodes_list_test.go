package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

func TestNodesListTableJSONAndExit(t *testing.T) {
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		switch tg.Host {
		case "down":
			return nil, errors.New("dial tcp down:22: connect: connection refused")
		case "pending":
			return fakehost.New("pending", nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
				return nodes.Output{Stdout: []byte(factsOutput(`{"registry-mirrors": ["https://m.example.com"], "experimental": true}`, `[]`))}, nil
			}), nil
		default:
			return fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
				return nodes.Output{Stdout: []byte(factsOutput(`{"registry-mirrors": ["https://m.example.com"], "experimental": true}`, `["https://m.example.com/"]`))}, nil
			}), nil
		}
	}
	inv := writeInventory(t, "mirror:\n  url: https://m.example.com\nnodes:\n  - {host: ok, name: n1}\n  - {host: pending, name: n2}\n  - {host: down, name: n3}\n")
	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"nodes", "list", "-i", inv})
	if code != ExitFailed {
		t.Errorf("exit %d, want 1 (a node is unreachable)", code)
	}
	for _, want := range []string{"n1", "applied", "n2", "pending reload/restart", "n3", "unreachable", "/etc/docker/daemon.json", "20.10.24"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errb.String(), "n3: dial tcp down:22: connect: connection refused") || !strings.Contains(errb.String(), "2 reachable, 1 unreachable") {
		t.Errorf("stderr:\n%s", errb)
	}

	d, out, _ = testDeps(dial)
	Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "-o", "json"})
	var doc NodesListResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.SchemaVersion != SchemaVersion || doc.Reachable != 2 || doc.Unreachable != 1 || len(doc.Nodes) != 3 {
		t.Fatalf("doc = %+v", doc)
	}
	if n := doc.Nodes[1]; !n.Mirror.Pending || n.Mirror.Applied || n.Service != "docker" || n.Role != "none" {
		t.Errorf("n2 = %+v %+v", n, n.Mirror)
	}
}

// With --fail-fast, nodes the run never got to are "not attempted", not
// "unreachable" with "context canceled", and the summary does not count
// them as unreachable.
func TestNodesListFailFastNotAttempted(t *testing.T) {
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		switch tg.Host {
		case "down":
			return nil, errors.New("dial tcp down:22: connect: connection refused")
		case "slow": // still connecting when --fail-fast stops the run
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
			return nodes.Output{Stdout: []byte(factsOutput(`{}`, `[]`))}, nil
		}), nil
	}
	inv := writeInventory(t, "nodes:\n  - {host: slow, name: n0}\n  - {host: down, name: n1}\n  - {host: ok, name: n2}\n  - {host: ok2, name: n3}\n")

	d, out, errb := testDeps(dial)
	code := Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "--fail-fast", "--parallel", "2"})
	if code != ExitFailed {
		t.Errorf("exit %d, want 1", code)
	}
	if strings.Contains(out.String()+errb.String(), "context canceled") {
		t.Errorf("output says context canceled:\n%s\n%s", out, errb)
	}
	for _, want := range []string{"n2: not attempted: --fail-fast after an earlier failure", "n3: not attempted: --fail-fast after an earlier failure",
		"n0: not attempted: connecting abandoned (--fail-fast after an earlier failure)", "0 reachable, 1 unreachable, 3 not attempted"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
	if !strings.Contains(out.String(), "not attempted") {
		t.Errorf("table has no not-attempted state:\n%s", out)
	}

	d, out, _ = testDeps(dial)
	Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "--fail-fast", "--parallel", "2", "-o", "json"})
	var doc NodesListResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Reachable != 0 || doc.Unreachable != 1 || doc.NotAttempted != 3 || len(doc.Nodes) != 4 {
		t.Fatalf("doc = %+v", doc)
	}
	for i, n := range doc.Nodes {
		if n.NotAttempted != (i != 1) || n.Reachable {
			t.Errorf("node %d = %+v", i, n)
		}
	}
	if strings.Contains(out.String(), `"not_attempted":false`) {
		t.Errorf("not_attempted should be omitted when false:\n%s", out)
	}
}

// A node's error is printed under its name once, even when the transport's
// error names the node itself (sudo wanting a password).
func TestNodesListNamesANodeOnce(t *testing.T) {
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		return fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
			return nodes.Output{}, &nodes.SudoPasswordError{Host: "n1", User: "ops", Err: &nodes.ExitError{Host: "n1", Status: 1}}
		}), nil
	}
	inv := writeInventory(t, "nodes:\n  - {host: h1, name: n1}\n")
	d, _, errb := testDeps(dial)
	if code := Run(context.Background(), d, []string{"nodes", "list", "-i", inv}); code != ExitFailed {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(errb.String(), "n1: sudo needs a password for user ops") || strings.Contains(errb.String(), "n1: n1") {
		t.Errorf("stderr:\n%s", errb)
	}
	d, out, _ := testDeps(dial)
	Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "-o", "json"})
	if !strings.Contains(out.String(), `"error": "sudo needs a password`) {
		t.Errorf("json:\n%s", out)
	}
}

// withEngine adds the facts script's @@engine lines to a facts output.
func withEngine(out, driverLine, containerd string) string {
	return strings.Replace(out, "@@end\n", "@@engine\n"+driverLine+"\n"+containerd+"\n@@end\n", 1)
}

// nodes list shows each node's containerd version and image store, in the
// table and the JSON; a node whose docker did not say shows "-".
func TestNodesListEngineColumns(t *testing.T) {
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		out := factsOutput(`{}`, `[]`)
		switch tg.Host {
		case "new":
			out = withEngine(out, `native|[["driver-type","io.containerd.snapshotter.v1"]]`, "2.1.9+unknown")
		case "old":
			out = withEngine(out, "vfs|null", "1.6.20~ds1")
		}
		return fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
			return nodes.Output{Stdout: []byte(out)}, nil
		}), nil
	}
	inv := writeInventory(t, "nodes:\n  - {host: new, name: n1}\n  - {host: old, name: n2}\n  - {host: quiet, name: n3}\n")
	d, out, _ := testDeps(dial)
	if code := Run(context.Background(), d, []string{"nodes", "list", "-i", inv}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(out.String(), "\n")
	if f := strings.Fields(lines[0]); len(f) < 9 || f[6] != "DOCKER" || f[7] != "CONTAINERD" || f[8] != "STORE" {
		t.Errorf("header: %q", lines[0])
	}
	for _, want := range []string{"2.1.9+unknown  containerd", "1.6.20~ds1     classic"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if f := strings.Fields(lines[3]); len(f) < 9 || f[7] != "-" || f[8] != "-" {
		t.Errorf("n3 without engine facts: %q", lines[3])
	}

	d, out, _ = testDeps(dial)
	Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "-o", "json"})
	var doc NodesListResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n1, n2, n3 := doc.Nodes[0], doc.Nodes[1], doc.Nodes[2]
	if n1.ImageStore != "containerd" || n1.ContainerdVersion != "2.1.9+unknown" || n1.StorageDriver != "native" || n1.DockerVersion != "20.10.24" {
		t.Errorf("n1 = %+v", n1)
	}
	if n2.ImageStore != "classic" || n2.StorageDriver != "vfs" || n3.ImageStore != "" || n3.ContainerdVersion != "" {
		t.Errorf("n2 = %+v, n3 = %+v", n2, n3)
	}
	if strings.Contains(out.String(), `"image_store":""`) || strings.Contains(out.String(), `"image_store": ""`) {
		t.Errorf("empty fields are written: %s", out)
	}
}
