package member

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A daemon.json over MaxDaemonJSON is not sent at all: the facts carry
// its size, and the output stays small.
func TestFactsScriptSendsOnlyTheSizeOfAHugeDaemonJSON(t *testing.T) {
	dir := t.TempDir()
	bin := fakeBin(t, "/unused", "/none")
	for _, c := range []struct {
		size    int64
		tooBig  bool
		maxSent int
	}{{MaxDaemonJSON, false, MaxDaemonJSON * 2}, {MaxDaemonJSON + 1, true, 16 << 10}, {300 << 20, true, 16 << 10}} {
		p := filepath.Join(dir, "daemon.json")
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, c.size); err != nil {
			t.Fatal(err)
		}
		out := runFactsScript(t, bin, "docker", p)
		f, err := ParseFacts(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > c.maxSent || f.DaemonJSONTooLarge != c.tooBig || !f.DaemonJSONExists {
			t.Errorf("%d bytes: sent %d, too large %v", c.size, len(out), f.DaemonJSONTooLarge)
		}
		if c.tooBig && (f.DaemonJSONSize != c.size || len(f.DaemonJSON) != 0 || !strings.Contains(f.TooLargeError().Error(), "over the 1024 KiB")) {
			t.Errorf("%d bytes: size %d, %d bytes kept, %v", c.size, f.DaemonJSONSize, len(f.DaemonJSON), f.TooLargeError())
		}
	}
}
