package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// swarmctlBin returns the swarmctl binary under test: $SWARMCTL_BIN (make
// e2e builds it), else one built from this checkout once per run.
func swarmctlBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("SWARMCTL_BIN"); p != "" {
			binPath = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "swarmctl-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "swarmctl")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/swarmctl")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building swarmctl: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// result of one swarmctl run.
type result struct {
	Code           int
	Stdout, Stderr string
}

// swarmctl runs the binary with args and extra environment, as a user would,
// with HOME pointed at an empty directory so the tester's own ~/.ssh is
// never used.
func swarmctl(t testing.TB, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, swarmctlBin(t), args...)
	home := t.TempDir()
	cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running swarmctl %s: %v", strings.Join(args, " "), err)
	}
	r := result{code, out.String(), errb.String()}
	t.Logf("$ swarmctl %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.Stdout, r.Stderr)
	return r
}
