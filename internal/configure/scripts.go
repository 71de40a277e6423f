package configure

import (
	"embed"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// The remote programs of a configure run, one file per step (scripts/):
// each does its whole job, waits included, in one round trip, with every
// user-supplied value passed as a quoted positional argument. They need
// only a POSIX shell, coreutils, systemd and docker.
//
//go:embed scripts/*.sh
var scriptFiles embed.FS

var (
	backupScript    = nodes.MustScript(scriptFiles, "scripts/backup.sh")
	verifyScript    = nodes.MustScript(scriptFiles, "scripts/verify.sh")
	nodeWaitScript  = nodes.MustScript(scriptFiles, "scripts/node-wait.sh")
	drainWaitScript = nodes.MustScript(scriptFiles, "scripts/drain-wait.sh")
	removeScript    = nodes.MustScript(scriptFiles, "scripts/remove.sh")
)
