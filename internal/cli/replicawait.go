package cli

import (
	"net/url"
	"slices"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// replicasOf are every upstream's replicas that have a URL of their own
// (mirror.replica_nodes without Traefik), whatever URLs the nodes are
// given (--mirror too): they run on their nodes either way.
func replicasOf(v stack.Values) []stack.Replica {
	var out []stack.Replica
	for _, e := range v.Endpoints() {
		for _, rep := range e.Replicas {
			if rep.Node != "" && rep.URL != "" {
				out = append(out, rep)
			}
		}
	}
	return out
}

// ownReplicas are the URLs of the replicas running on node n (its
// replica node is one of its names: inventory name, SSH host, swarm
// hostname, address; or the replica's URL has its address): a restart
// of n waits for them to answer again (configure.NodeWant.Replicas).
func (ns *nodeSide) ownReplicas(n *member.Member, f *member.Facts) []string {
	names := nodeNames(n, f)
	var out []string
	for _, rep := range ns.replicas {
		u, err := url.Parse(rep.URL)
		own := slices.Contains(names, rep.Node) || (err == nil && u.Hostname() != "" && slices.Contains(names, u.Hostname()))
		if own && !slices.Contains(out, rep.URL) {
			out = append(out, rep.URL)
		}
	}
	return out
}
