package sshtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FakeSudo writes a `sudo` into dir/bin that appends its arguments (one
// line per call) to dir/sudo.log, insists on -n, and runs the rest as the
// current user. With FAKE_SUDO_PASSWORD=1 in its environment it fails like
// a sudo that needs a password. Add the returned PATH=... entry to
// Config.Env so commands run by the server find it first.
func FakeSudo(t testing.TB, dir string) (pathEnv, logFile string) {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile = filepath.Join(dir, "sudo.log")
	script := `#!/bin/sh
printf '%s\n' "$*" >>'` + strings.ReplaceAll(logFile, "'", `'\''`) + `'
if [ -n "$FAKE_SUDO_PASSWORD" ]; then echo "sudo: a password is required" >&2; exit 1; fi
[ "$1" = -n ] || { echo "fake sudo: want -n" >&2; exit 99; }
shift
[ "$1" = -- ] && shift
exec "$@"
`
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + bin + ":" + os.Getenv("PATH"), logFile
}
