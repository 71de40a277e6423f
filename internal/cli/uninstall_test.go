package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/report"
)

// uninstallManager is a manager whose stack "registry" has one service
// and one network; it records what it was asked.
func uninstallManager() *fakehost.Host {
	return fakehost.New("m1", nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		line := strings.Join(c.Args, " ")
		switch {
		case c.Script.Name() == "facts.sh":
			return nodes.Output{Stdout: []byte(swarmFacts("m1", `{}`, "[]", true))}, nil
		case strings.HasPrefix(line, "docker service ls"):
			return nodes.Output{Stdout: []byte("registry_registry-mirror\n")}, nil
		case strings.HasPrefix(line, "docker network ls"):
			return nodes.Output{Stdout: []byte("registry_default\n")}, nil
		}
		return nodes.Output{}, exitErr(c, "unexpected command "+line)
	})
}

// uninstall --dry-run reads and says what would go; --purge asks, and
// without a terminal needs --yes; --wait 0 means "do not wait" (and a
// purge must wait).
func TestUninstallDryRunAndPurgeConsent(t *testing.T) {
	inv := writeInventory(t, "nodes:\n  - {host: m1, role: manager}\n")
	mgr := uninstallManager()
	dial := func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) { return mgr, nil }

	d, out, errb := testDeps(dial)
	if code := Run(context.Background(), d, []string{"mirror", "uninstall", "-i", inv, "--dry-run", "--purge"}); code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, errb)
	}
	for _, w := range []string{"would remove stack registry through m1: services registry_registry-mirror; networks registry_default",
		"would delete on m1: /var/data/config/registry/registry.yml, /var/data/registry/registry-mirror-config.yml, /var/data/registry/registry-mirror-data"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	for _, c := range mgr.Commands {
		if l := strings.Join(c.Args, " "); strings.Contains(l, "stack rm") || strings.HasPrefix(l, "rm ") {
			t.Errorf("dry run ran %q", l)
		}
	}

	mgr = uninstallManager()
	d, out, errb = testDeps(dial)
	code := Run(context.Background(), d, []string{"mirror", "uninstall", "-i", inv, "--purge", "-o", "json"})
	var doc MirrorUninstallResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != ExitError || doc.Error == nil || doc.Error.Code != report.ErrConsentRequired || !strings.Contains(errb.String(), "DELETE /var/data/config/registry/registry.yml") {
		t.Errorf("purge without --yes: exit %d %s\n%s", code, out, errb)
	}
	for _, c := range mgr.Commands {
		if l := strings.Join(c.Args, " "); strings.Contains(l, "stack rm") {
			t.Errorf("purge without consent ran %q", l)
		}
	}

	d, _, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "uninstall", "-i", inv, "--purge", "--wait", "0"}); code != ExitError || !strings.Contains(errb.String(), "--purge waits") {
		t.Errorf("--purge --wait 0: exit %d\n%s", code, errb)
	}
}
