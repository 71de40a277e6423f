package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// A node whose docker never answers (the facts command hangs) fails with
// the step named once its deadline passes; the other nodes are checked,
// and the JSON artifact is written.
func TestHungStepFailsThatNodeOnly(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		name := tg.Host
		h := fakehost.New(name, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			if name == "10.0.0.2" {
				<-hang // docker info never returns
			}
			return nodes.Output{Stdout: []byte(swarmFacts(name, `{}`, "null", false))}, nil
		})
		h.Cancellable = true // as the SSH transport
		return h, nil
	}
	for _, cmd := range [][]string{{"nodes", "list"}, {"mirror", "status", "--no-discover", "--mirror", "http://127.0.0.1:1"}} {
		artifact := filepath.Join(t.TempDir(), "result.json")
		d, out, errb := testDeps(dial)
		args := append(cmd, "--host", "10.0.0.1", "--host", "10.0.0.2", "--step-timeout", "300ms", "-o", "json", "--output-file", artifact)
		done := make(chan int, 1)
		go func() { done <- Run(context.Background(), d, args) }()
		select {
		case code := <-done:
			if code != ExitFailed && code != ExitError {
				t.Errorf("%v: exit %d", cmd, code)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v: still running after 20s: a hung node holds the run", cmd)
		}
		var doc struct {
			Nodes []struct {
				Name, Error string
				Reachable   bool
			} `json:"nodes"`
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Nodes) != 2 {
			t.Fatalf("%v: %v\n%s\n%s", cmd, err, out, errb)
		}
		if doc.Nodes[0].Error != "" || !strings.Contains(doc.Nodes[1].Error, "facts: no answer within 300ms (--step-timeout)") {
			t.Errorf("%v: nodes %+v", cmd, doc.Nodes)
		}
		if b, err := os.ReadFile(artifact); err != nil || !strings.Contains(string(b), "no answer within") {
			t.Errorf("%v: artifact %v", cmd, err)
		}
	}
	d, _, errb := testDeps(dial)
	if code := Run(context.Background(), d, []string{"nodes", "list", "--host", "10.0.0.1", "--step-timeout", "-1s"}); code != ExitError || !strings.Contains(errb.String(), "--step-timeout") {
		t.Errorf("negative --step-timeout: exit %d %s", code, errb)
	}
}

// A manager whose facts ran out of time is named with that reason, not
// called "not a swarm manager".
func TestManagerWhoseFactsTimedOutSaysSo(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		h := fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
			<-hang
			return nodes.Output{}, nil
		})
		h.Cancellable = true
		return h, nil
	}
	d, _, errb := testDeps(dial)
	Run(context.Background(), d, []string{"mirror", "install", "--fqdn", "m.example.com", "--host", "10.0.0.1", "--manager", "10.0.0.1", "--step-timeout", "200ms"})
	if !strings.Contains(errb.String(), "10.0.0.1: facts: no answer within 200ms") || strings.Contains(errb.String(), "not a swarm manager") {
		t.Errorf("stderr %s", errb)
	}
}
