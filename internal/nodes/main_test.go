package nodes

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Locks taken by the tests (their commands run on this machine) go to a
// private directory of the run, not /run/swarmctl.
func TestMain(m *testing.M) {
	lockDir = filepath.Join(os.TempDir(), fmt.Sprintf("swarmctl-test-locks-%d", os.Getpid()))
	code := m.Run()
	os.RemoveAll(lockDir)
	os.Exit(code)
}
