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
	if doc.SchemaVersion != 1 || doc.Reachable != 2 || doc.Unreachable != 1 || len(doc.Nodes) != 3 {
		t.Fatalf("doc = %+v", doc)
	}
	if n := doc.Nodes[1]; !n.Mirror.Pending || n.Mirror.Applied || n.Service != "docker" || n.Role != "none" {
		t.Errorf("n2 = %+v %+v", n, n.Mirror)
	}
}
