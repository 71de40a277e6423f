package lab

import (
	"os"
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
