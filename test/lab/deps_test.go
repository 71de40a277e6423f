package lab

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The lab's own list and .ci/install-lab-deps.sh name the same packages.
func TestDepsMatchInstallScript(t *testing.T) {
	b, err := os.ReadFile("../../.ci/install-lab-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)pkgs="([^"]*)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal(`no pkgs="..." in .ci/install-lab-deps.sh`)
	}
	script := strings.Fields(string(m[1]))
	var ours []string
	for _, d := range depCommands {
		ours = append(ours, d.pkg)
	}
	for _, d := range depFiles {
		ours = append(ours, d.pkg)
	}
	for _, p := range ours {
		if !slices.Contains(script, p) {
			t.Errorf("%s: in test/lab but not installed by .ci/install-lab-deps.sh", p)
		}
	}
	for _, p := range script {
		if !slices.Contains(ours, p) && p != "make" && p != "gcc" && p != "libc6-dev" && p != "shellcheck" {
			t.Errorf("%s: installed by the script but not checked by test/lab", p)
		}
	}
}

func TestMissingPackages(t *testing.T) {
	have := func(c string) bool { return c != "dockerd" && c != "busybox" }
	exists := func(string) bool { return false }
	got := missingPackages(have, exists)
	want := []string{"docker.io", "busybox-static", "ca-certificates"}
	if !slices.Equal(got, want) {
		t.Errorf("missing %v, want %v", got, want)
	}
	if got := missingPackages(func(string) bool { return true }, func(string) bool { return true }); len(got) != 0 {
		t.Errorf("nothing missing, got %v", got)
	}
}

func TestEnsureInotifyRaisesALowLimit(t *testing.T) {
	f := filepath.Join(t.TempDir(), "max_user_instances")
	if err := os.WriteFile(f, []byte("128\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if err := ensureInotify(f, 1024, &log); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != "1024" || !strings.Contains(log.String(), "from 128 to 1024") {
		t.Errorf("limit %q, log %q", b, log.String())
	}
	// A higher limit is left alone.
	os.WriteFile(f, []byte("4096\n"), 0o644)
	if err := ensureInotify(f, 1024, &log); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != "4096" {
		t.Errorf("a higher limit was changed: %q", b)
	}
}
