package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/status"
)

// replicaEndpoints are the inventory's upstreams when they run one cache
// per replica node (mirror.replica_nodes), for status to check each
// replica; nil otherwise. No password, key or certificate is read: only
// names, ports and addresses matter here (a certificate's presence makes
// the replicas' URLs https). A mirror section that does not resolve is
// a warning: the rest of status does not depend on it.
func replicaEndpoints(inv *inventory.Inventory, stackName string) ([]stack.Endpoint, string) {
	m := inventoryMirror(inv)
	if len(m.ReplicaNodes) == 0 {
		return nil, ""
	}
	if stackName != "" {
		m.StackName = stackName
	}
	cert := m.TLSCert
	m.UpstreamPasswordFile, m.UpstreamPasswordEnv = "", ""
	m.CAFile, m.TLSCert, m.TLSKey = "", "", ""
	for i := range m.Registries {
		m.Registries[i].PasswordFile, m.Registries[i].PasswordEnv = "", ""
	}
	v, err := stack.FromInventory(m, inv.Nodes)
	if err != nil {
		return nil, "replicas not checked one by one: " + err.Error()
	}
	v.TLSCert = cert
	v.Defaults()
	var out []stack.Endpoint
	for _, e := range v.Endpoints() {
		if len(e.Replicas) > 0 && e.Replicas[0].URL != "" {
			out = append(out, e)
		}
	}
	return out, ""
}

// printReplicas prints every replica (health and cache) and, per
// upstream, whether pulls still have a path through the mirror.
func printReplicas(w io.Writer, r *status.Report) {
	if len(r.Replicas) == 0 {
		return
	}
	fmt.Fprintln(w, "Replicas (each node tries them in its list's order, its own node's first):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  REGISTRY\tNODE\tURL\tHEALTH\tTASK\tCACHE")
	for _, rep := range r.Replicas {
		health := "down: " + rep.Error
		if rep.Healthy {
			health = fmt.Sprintf("HTTP %d in %d ms", rep.Status, rep.LatencyMS)
		}
		task := "-"
		if rep.Task != nil {
			task = rep.Task.CurrentState
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", rep.Registry, rep.Node, rep.URL, health, dash(task), replicaCache(rep.Cache))
	}
	tw.Flush()
	for _, s := range r.ReplicaSets {
		switch s.Health {
		case status.ReplicasHealthy:
			fmt.Fprintf(w, "  %s: all %d replicas answer\n", s.Registry, s.Replicas)
		case status.ReplicasDegraded:
			fmt.Fprintf(w, "  %s: degraded: %d of %d replicas answer (down: %s); pulls still go through the mirror\n",
				s.Registry, s.Answering, s.Replicas, strings.Join(s.Down, ", "))
		default:
			fmt.Fprintf(w, "  %s: down: no replica answers; pulls bypass the mirror and go to the upstream\n", s.Registry)
		}
	}
}

// replicaCache is one replica's cache in a cell: what was read, and
// what could not be.
func replicaCache(c status.Cache) string {
	var parts []string
	if !strings.HasPrefix(c.Error, "catalog: ") {
		parts = append(parts, fmt.Sprintf("%d repositories", len(c.Repositories)))
	}
	if c.DiskNode != "" {
		parts = append(parts, report.HumanBytes(c.DiskBytes)+" on disk")
	}
	if c.Error != "" {
		parts = append(parts, c.Error)
	}
	return strings.Join(parts, ", ")
}
