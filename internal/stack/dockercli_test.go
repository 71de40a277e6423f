package stack

import (
	"bytes"
	"os/exec"
	"path/filepath"
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
					Labels map[string]string `yaml:"labels"`
				} `yaml:"deploy"`
				Volumes []map[string]any `yaml:"volumes"`
			} `yaml:"services"`
		}
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Errorf("%s: docker's output is not YAML: %v", f, err)
			continue
		}
		s, ok := doc.Services[ServiceSuffix]
		if !ok || len(s.Volumes) != 2 {
			t.Errorf("%s: docker sees %+v", f, doc.Services)
		}
	}
}
