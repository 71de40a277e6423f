package stack

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// TestGoldenAcceptedByDockerCLI loads every golden stack file with the
// docker CLI's own compose loader (`docker stack config`, client-side only,
// no engine needed). Docker 20.10's CLI lacks the command: the e2e test
// deploys the stack for real there.
func TestGoldenAcceptedByDockerCLI(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed: compose loader check left to the e2e deploy")
	}
	if out, err := exec.Command(docker, "stack", "config", "--help").CombinedOutput(); err != nil {
		t.Skipf("this docker CLI has no `stack config` (%v): %s", err, bytes.TrimSpace(out))
	}
	files, err := filepath.Glob("testdata/*.stack.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden stack files: %v", err)
	}
	for _, f := range files {
		out, err := exec.Command(docker, "stack", "config", "-c", f).CombinedOutput()
		if err != nil {
			t.Errorf("%s: docker rejects it: %v\n%s", f, err, out)
			continue
		}
		var doc struct {
			Services map[string]struct {
				Deploy struct {
					Mode   string            `yaml:"mode"`
					Labels map[string]string `yaml:"labels"`
				} `yaml:"deploy"`
				Volumes []map[string]any `yaml:"volumes"`
				Configs []objectRefDoc   `yaml:"configs"`
				Secrets []objectRefDoc   `yaml:"secrets"`
			} `yaml:"services"`
			Configs map[string]objectDoc `yaml:"configs"`
			Secrets map[string]objectDoc `yaml:"secrets"`
		}
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Errorf("%s: docker's output is not YAML: %v", f, err)
			continue
		}
		if _, ok := doc.Services[ServiceSuffix]; !ok && !strings.HasPrefix(filepath.Base(f), "upstreams-") {
			t.Errorf("%s: docker sees no %s: %+v", f, ServiceSuffix, doc.Services)
		}
		for name, s := range doc.Services {
			// One bind mount (the data), the config as a config or secret
			// at an absolute path, each object declared with its name.
			refs := append(append([]objectRefDoc(nil), s.Configs...), s.Secrets...)
			if len(s.Volumes) != 1 || len(refs) == 0 {
				t.Errorf("%s: %s: docker sees %+v", f, name, s)
			}
			for _, r := range refs {
				o, isConfig := doc.Configs[r.Source]
				if !isConfig {
					o = doc.Secrets[r.Source]
				}
				if !strings.HasPrefix(r.Target, "/") || o.Name == "" || o.File == "" || (r.Mode != 0o444 && r.Mode != 0o400 && r.Mode != 0o644 && r.Mode != 0o600) {
					t.Errorf("%s: %s: object %+v -> %+v", f, name, r, o)
				}
			}
		}
	}
}
