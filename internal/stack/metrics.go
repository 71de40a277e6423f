package stack

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/regmetrics"
)

var metricsScript = nodes.MustScript(scriptFiles, "scripts/registry-metrics.sh")

// TaskNodes are the hostnames of the nodes running a task of service,
// asked of a manager.
func TaskNodes(ctx context.Context, mgr nodes.Host, service string) ([]string, error) {
	out, err := mgr.Run(ctx, nodes.Cmd{Sudo: true,
		Args: []string{"docker", "service", "ps", service, "--filter", "desired-state=running", "--format", "{{.Node}}"}})
	if err != nil {
		return nil, fmt.Errorf("docker service ps %s on %s: %w", service, mgr.Name(), nodes.Unnamed(mgr.Name(), err))
	}
	return strings.Fields(string(out.Stdout)), nil
}

// ReadMetrics reads the proxy counters of service's registry on h, the
// node running its task (registry:3's Prometheus page, MetricsURLInTask,
// from inside the container).
func ReadMetrics(ctx context.Context, h nodes.Host, service string) (regmetrics.Stats, error) {
	out, err := h.Run(ctx, nodes.Cmd{Script: metricsScript, ScriptArgs: []string{service, MetricsURLInTask}, Sudo: true})
	if err != nil {
		return regmetrics.Stats{}, fmt.Errorf("metrics of %s on %s: %w", service, h.Name(), nodes.Unnamed(h.Name(), err))
	}
	s, err := regmetrics.Parse(bytes.NewReader(out.Stdout), "text/plain; version=0.0.4")
	if err != nil {
		return s, fmt.Errorf("metrics of %s on %s: %w", service, h.Name(), err)
	}
	return s, nil
}
