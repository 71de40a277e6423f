package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPurgeDataScriptInRealShell runs the purge script in sh: what the
// registry wrote goes, the directory goes when nothing else is left, and a
// user's own file keeps it (and itself).
func TestPurgeDataScriptInRealShell(t *testing.T) {
	run := func(d string) string {
		out, err := exec.Command("sh", "-c", purgeDataScript.Text(), purgeDataScript.Name(), d).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	d := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(d, "docker", "registry", "v2"), 0o755)
	os.WriteFile(filepath.Join(d, "scheduler-state.json"), []byte("{}"), 0o644)
	if out := run(d); out != "" {
		t.Errorf("output %q", out)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("data dir still there: %v", err)
	}
	os.MkdirAll(filepath.Join(d, "docker"), 0o755)
	os.WriteFile(filepath.Join(d, "mine.txt"), []byte("x"), 0o644)
	if out := run(d); out != "kept" {
		t.Errorf("output %q, want kept", out)
	}
	if _, err := os.Stat(filepath.Join(d, "mine.txt")); err != nil {
		t.Errorf("user file removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d, "docker")); !os.IsNotExist(err) {
		t.Errorf("registry tree kept: %v", err)
	}
}
