package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// mirror render on stdout is one YAML stream: the stack file, `---`, the
// registry config, each named with where install puts it; redirected to a
// file it is a stack file docker takes.
func TestRenderStdoutSeparatesTheFiles(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  traefik: none\n  url: http://10.0.0.1:5000\n")
	d, out, errb := testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "render", "-i", inv}); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	text := out.String()
	for _, want := range []string{
		"# swarmctl mirror render: stack file registry.yml; mirror install writes it to /var/data/config/registry/registry.yml (mode 0644)\n",
		"\n---\n# swarmctl mirror render: registry config registry-mirror-config.yml; mirror install writes it to /var/data/registry/registry-mirror-config.yml (mode 0644)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout lacks %q:\n%s", want, text)
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not a YAML stream: %v", err)
		}
		docs = append(docs, doc)
	}
	if len(docs) != 2 || docs[0]["services"] == nil || docs[1]["proxy"] == nil {
		t.Fatalf("documents: %v", docs)
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Log("docker CLI not installed: not checked with docker stack config")
		return
	}
	if out, err := exec.Command(docker, "stack", "config", "--help").CombinedOutput(); err != nil {
		t.Logf("this docker CLI has no `stack config`: %s", bytes.TrimSpace(out))
		return
	}
	f := filepath.Join(t.TempDir(), "registry.yml")
	if err := os.WriteFile(f, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := exec.Command(docker, "stack", "config", "-c", f).CombinedOutput(); err != nil || !strings.Contains(string(got), "registry-mirror:") {
		t.Errorf("docker stack config -c (render > file): %v\n%s", err, got)
	}
}
