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

// A data directory the registry does not own (--data-dir /var/lib, where
// docker keeps its own "docker" tree) loses nothing but the registry's own
// layout (docker/registry): the purge used to rm -rf <dir>/docker. A
// symbolic link on the way is not followed.
func TestPurgeDataScriptKeepsWhatTheRegistryDidNotWrite(t *testing.T) {
	run := func(d string) string {
		out, err := exec.Command("sh", "-c", purgeDataScript.Text(), purgeDataScript.Name(), d).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// Like /var/lib: docker's own data root next to what a registry wrote.
	d := filepath.Join(t.TempDir(), "lib")
	for _, p := range []string{"docker/containers/c1/config.v2.json", "docker/image/overlay2/repositories.json", "docker/registry/v2/blobs/x", "dpkg/status"} {
		os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755)
		os.WriteFile(filepath.Join(d, p), []byte("x"), 0o644)
	}
	if out := run(d); out != "kept" {
		t.Errorf("output %q, want kept", out)
	}
	for _, p := range []string{"docker/containers/c1/config.v2.json", "docker/image/overlay2/repositories.json", "dpkg/status"} {
		if _, err := os.Stat(filepath.Join(d, p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(d, "docker/registry")); !os.IsNotExist(err) {
		t.Errorf("the registry's tree kept: %v", err)
	}

	// Links: the data directory itself, or its docker/ entry, pointing
	// elsewhere. Nothing behind them is removed.
	other := filepath.Join(t.TempDir(), "other")
	os.MkdirAll(filepath.Join(other, "registry", "v2"), 0o755)
	os.WriteFile(filepath.Join(other, "registry", "v2", "precious"), []byte("x"), 0o644)
	viaDocker := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(viaDocker, 0o755)
	os.Symlink(other, filepath.Join(viaDocker, "docker"))
	viaDir := filepath.Join(t.TempDir(), "data-link")
	os.MkdirAll(filepath.Join(other, "docker"), 0o755)
	os.Symlink(filepath.Join(other, ".."), viaDir) // any link: not followed
	for _, d := range []string{viaDocker, viaDir} {
		if out := run(d); out != "kept" {
			t.Errorf("%s: output %q, want kept", d, out)
		}
		if _, err := os.Stat(filepath.Join(other, "registry", "v2", "precious")); err != nil {
			t.Errorf("%s: followed a link: %v", d, err)
		}
	}
}
