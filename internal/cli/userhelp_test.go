package cli

import (
	"os"
	"strings"
	"testing"
)

// The default SSH user falls back to the local user name, like OpenSSH
// (nodes.localUser), not to root: --help and README.md must say so.
func TestUserFlagDocumentsLocalUserDefault(t *testing.T) {
	d, _, _ := testDeps(nil)
	f := NewRootCmd(d).PersistentFlags().Lookup("user")
	if f == nil {
		t.Fatal("no --user flag")
	}
	if strings.Contains(f.Usage, "else root") || !strings.Contains(f.Usage, "local user") {
		t.Errorf("--user help = %q, want the local user name as the fallback", f.Usage)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `--user` |") {
			if strings.Contains(line, "else root") || !strings.Contains(line, "local user") {
				t.Errorf("README.md: %s", line)
			}
			return
		}
	}
	t.Error("README.md has no --user row")
}
