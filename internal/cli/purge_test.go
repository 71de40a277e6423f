package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// mirror uninstall --purge refuses system paths with exit 2 before any
// node is dialled.
func TestUninstallPurgeRefusesSystemPathsFirst(t *testing.T) {
	for _, args := range [][]string{{"--data-dir", "/var/lib"}, {"--config-file", "/etc/passwd"}, {"--data-dir", "/var/lib/docker"}} {
		dialled := 0
		d, _, errb := testDeps(func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) {
			dialled++
			return nil, errors.New("refused")
		})
		code := Run(context.Background(), d, append([]string{"mirror", "uninstall", "--purge", "--host", "10.0.0.1"}, args...))
		if code != ExitError || dialled != 0 || !strings.Contains(errb.String(), "refusing a system path") {
			t.Errorf("%v: exit %d, %d dials, stderr %s", args, code, dialled, errb)
		}
	}
}
