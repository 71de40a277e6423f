package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/report"
)

// header is the part of every document the tests read.
type header struct {
	SchemaVersion int              `json:"schema_version"`
	Command       string           `json:"command"`
	Error         *report.Error    `json:"error"`
	Problems      []report.Problem `json:"problems"`
	Warnings      []string         `json:"warnings"`
	DurationMS    *int64           `json:"duration_ms"`
}

func readHeader(t *testing.T, b []byte) header {
	t.Helper()
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, b)
	}
	if h.SchemaVersion != SchemaVersion || h.Problems == nil || h.Warnings == nil || h.DurationMS == nil {
		t.Errorf("incomplete header: %s", b)
	}
	return h
}

// A command that fails before it has a result still writes its JSON
// document, with the error object, on stdout (-o json, by flag or
// variable) and in --output-file: a CI job's artifact exists exactly
// when it is needed most.
func TestJSONDocumentOnEveryFailure(t *testing.T) {
	badInv := writeInventory(t, "nodes:\n  - host: a\n    hots: b\n")
	goodInv := writeInventory(t, "nodes:\n  - host: a\n")
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		command string
		code    int
		kind    string
		msg     string
	}{
		{"bad flag value", []string{"nodes", "list", "-o", "json", "--parallel", "x"}, nil, "nodes list", 2, report.ErrUsage, "--parallel"},
		{"unknown flag after -o", []string{"nodes", "configure", "-o", "json", "--dryrun"}, nil, "nodes configure", 2, report.ErrUsage, "--dry-run"},
		{"unknown flag, -o from the environment", []string{"mirror", "status", "--nodiscover"}, map[string]string{"SWARMCTL_OUTPUT": "json"}, "mirror status", 2, report.ErrUsage, "--no-discover"},
		{"inventory", []string{"nodes", "list", "-o", "json", "-i", badInv}, nil, "nodes list", 2, report.ErrInput, `unknown key "hots" (did you mean "host"?)`},
		{"no mirror", []string{"nodes", "configure", "-o", "json", "-i", goodInv}, nil, "nodes configure", 2, report.ErrUsage, "no mirror"},
		{"bad environment value", []string{"apply", "-o", "json", "-i", goodInv}, map[string]string{"SWARMCTL_PARALLEL": "many"}, "apply", 2, report.ErrUsage, "SWARMCTL_PARALLEL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			artifact := filepath.Join(t.TempDir(), "out.json")
			d, out, errb := testDeps(noDial(t))
			d.Getenv = func(k string) string {
				if k == "SWARMCTL_OUTPUT_FILE" {
					return artifact
				}
				return c.env[k]
			}
			code := Run(context.Background(), d, c.args)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, errb)
			}
			for _, b := range [][]byte{out.Bytes(), mustRead(t, artifact)} {
				h := readHeader(t, b)
				if h.Command != c.command || h.Error == nil || h.Error.Code != c.kind || !strings.Contains(h.Error.Message, c.msg) {
					t.Errorf("document %s", b)
				}
			}
			if !strings.Contains(errb.String(), "Error: ") {
				t.Errorf("stderr lacks the error:\n%s", errb)
			}
		})
	}
}

// listDial answers facts for every host but "down".
func listDial(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
	if tg.Host == "down" {
		return nil, errors.New("dial tcp down:22: connect: connection refused")
	}
	return fakehost.New(tg.Host, nil, func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) {
		return nodes.Output{Stdout: []byte(factsOutput(`{}`, `[]`))}, nil
	}), nil
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A successful run's document has no error object; a failed run's names
// what failed as problems with codes and nodes.
func TestJSONErrorObjectAndProblems(t *testing.T) {
	inv := writeInventory(t, "nodes:\n  - {host: ok, name: n1}\n  - {host: down, name: n3}\n")
	d, out, _ := testDeps(listDial)
	if code := Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "-o", "json", "--limit", "n1"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if h := readHeader(t, out.Bytes()); h.Error != nil || len(h.Problems) != 0 || h.Command != "nodes list" {
		t.Errorf("success: %s", out)
	}
	d, out, _ = testDeps(listDial)
	if code := Run(context.Background(), d, []string{"nodes", "list", "-i", inv, "-o", "json"}); code != 1 {
		t.Fatalf("exit %d", code)
	}
	h := readHeader(t, out.Bytes())
	if h.Error == nil || h.Error.Code != report.ErrNodesFailed || len(h.Problems) != 1 ||
		h.Problems[0].Code != report.ProblemUnreachable || h.Problems[0].Node != "n3" || !strings.Contains(h.Problems[0].Message, "refused") {
		t.Errorf("failure: %s", out)
	}
}
