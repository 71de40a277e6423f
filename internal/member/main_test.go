package member

import (
	"os"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes/fakedocker"
)

// The test binary doubles as a fake docker (fakedocker) for the scripts
// that ask a manager about the swarm.
func TestMain(m *testing.M) {
	fakedocker.Main()
	os.Exit(m.Run())
}
