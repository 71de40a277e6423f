package stack

import (
	"context"
	"slices"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// cleanUp runs once the new stack runs: it deletes the registry configs of
// upstreams taken out from the manager, and removes the stack's swarm
// configs and secrets that no service uses any more (earlier contents: a
// new certificate or config is a new object). What cannot be removed is a
// warning, not a failure: the mirror runs.
func cleanUp(ctx context.Context, h nodes.Host, r Rendered, p Plan, res *InstallResult, logf func(string, ...any)) {
	warn := func(err error) { res.Warnings = append(res.Warnings, r.Redact(err.Error())) }
	for _, f := range p.OrphanFiles {
		logf("%s: deleting %s (its upstream is no longer mirrored)", h.Name(), f)
		if _, err := run(ctx, h, "rm", "-f", "--", f); err != nil {
			warn(err)
			continue
		}
		res.Cleaned = append(res.Cleaned, f)
	}
	keep := map[string]bool{}
	for _, f := range r.Files() {
		if f.SwarmName != "" {
			keep[f.SwarmName] = true
		}
	}
	for _, kind := range []string{"config", "secret"} {
		names, err := stackObjects(ctx, h, kind, r.Values.StackName)
		if err != nil {
			warn(err)
			continue
		}
		for _, n := range names {
			if keep[n] {
				continue
			}
			logf("%s: docker %s rm %s (no service uses it any more)", h.Name(), kind, n)
			if _, err := run(ctx, h, "docker", kind, "rm", n); err != nil {
				warn(err)
				continue
			}
			res.Cleaned = append(res.Cleaned, kind+" "+n)
		}
	}
}

// stackObjects lists the stack's swarm configs or secrets (kind) by the
// namespace label docker stack deploy sets.
func stackObjects(ctx context.Context, h nodes.Host, kind, stack string) ([]string, error) {
	out, err := run(ctx, h, "docker", kind, "ls", "--filter", "label=com.docker.stack.namespace="+stack, "--format", "{{.Name}}")
	if err != nil {
		return nil, err
	}
	names := strings.Fields(out)
	slices.Sort(names)
	return names, nil
}
