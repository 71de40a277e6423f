package stack

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// ReadMetrics runs registry-metrics.sh with the service and the in-task
// URL as arguments and parses the page; TaskNodes asks docker service ps.
func TestReadMetricsAndTaskNodes(t *testing.T) {
	page, err := os.ReadFile("../regmetrics/testdata/registry3-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	h := fakehost.New("m1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		switch {
		case c.Script.Name() == "registry-metrics.sh" && len(c.ScriptArgs) == 2 && c.ScriptArgs[0] == "registry_registry-mirror" && c.ScriptArgs[1] == MetricsURLInTask:
			return nodes.Output{Stdout: page}, nil
		case len(c.Args) > 3 && c.Args[0] == "docker" && c.Args[3] == "registry_registry-mirror":
			return nodes.Output{Stdout: []byte("manager1\n")}, nil
		}
		return nodes.Output{}, errors.New("unexpected " + nodes.CommandLine(c, true))
	})
	s, err := ReadMetrics(context.Background(), h, "registry_registry-mirror")
	if err != nil || !s.BlobKnown || s.Blob.Hits != 3 {
		t.Errorf("stats %+v, %v", s, err)
	}
	ns, err := TaskNodes(context.Background(), h, "registry_registry-mirror")
	if err != nil || len(ns) != 1 || ns[0] != "manager1" {
		t.Errorf("task nodes %v, %v", ns, err)
	}
	bad := fakehost.New("m1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		return nodes.Output{}, &nodes.ExitError{Host: "m1", Status: 3, Stderr: []byte("no running task of registry_registry-mirror on this node")}
	})
	if _, err := ReadMetrics(context.Background(), bad, "registry_registry-mirror"); err == nil || !strings.Contains(err.Error(), "no running task") {
		t.Errorf("no task: %v", err)
	}
}
