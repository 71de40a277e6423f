package status

import (
	"fmt"
	"strings"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/probe"
	"github.com/swarmctl/swarmctl/internal/report"
)

// Health of the whole setup; the CLI maps it to exit codes 0, 1, 2.
// Unchecked wins over Degraded: when the registry service, the endpoint
// or every node could not be checked, the verdict is unknown.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unchecked = "could-not-check"
)

// Node is one node's line in the report.
type Node struct {
	Name       string              `json:"name"`
	Address    string              `json:"address"`
	Reachable  bool                `json:"reachable"`
	Error      string              `json:"error,omitempty"`
	Role       string              `json:"role,omitempty"`
	Hostname   string              `json:"hostname,omitempty"`
	Service    string              `json:"service,omitempty"`
	DaemonJSON string              `json:"daemon_json,omitempty"`
	Mirror     *member.MirrorState `json:"mirror,omitempty"`
	// Discovered: in the swarm but not in the inventory.
	Discovered bool `json:"discovered,omitempty"`
	// Registries: per upstream, how the node pulls it through the mirror
	// (see NodeRegistry); CA: with mirror.ca_file, "ok" or "missing: <paths>".
	Registries []NodeRegistry `json:"registries,omitempty"`
	CA         string         `json:"ca,omitempty"`
}

// NodeRegistry is how one node pulls one upstream through the mirror.
type NodeRegistry struct {
	Registry string `json:"registry"`
	// State: mirrored (in effect), pending (nodes configure would still
	// change something), not-possible (Reason, Fix) or error (Reason).
	State string `json:"state"`
	// Via: hosts.toml or daemon.json (the route, also when pending).
	Via    string `json:"via,omitempty"`
	Reason string `json:"reason,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the JSON document of `mirror status`: the shared header
// (problems, warnings, error), then the verdict and what was checked.
type Report struct {
	report.Header
	Health string `json:"health"`
	// Unchecked lists what could not be checked, and why (also in
	// Problems); any entry makes Health "could-not-check".
	Unchecked   []string     `json:"unchecked"`
	MirrorURLs  []string     `json:"mirror_urls"`
	Stack       *Stack       `json:"stack,omitempty"`
	Endpoint    *Endpoint    `json:"endpoint,omitempty"`
	FromManager *FromManager `json:"from_manager,omitempty"`
	Cache       *Cache       `json:"cache,omitempty"`
	// Replicas and ReplicaSets: every independent cache
	// (mirror.replica_nodes), and each upstream's verdict (replicas.go).
	Replicas    []Replica    `json:"replicas,omitempty"`
	ReplicaSets []ReplicaSet `json:"replica_sets,omitempty"`
	Nodes       []Node       `json:"nodes"`

	// Upstreams: each cache seen past the mirror (upstream.go).
	Upstreams []Upstream `json:"upstreams,omitempty"`
	// CA: mirror.ca_file on the nodes and the mirror's chain (ca.go).
	CA *CA `json:"ca,omitempty"`
}

// NoMirrorURL explains an endpoint that could not be checked for want of
// a URL.
const NoMirrorURL = "mirror endpoint and cache: not checked: no mirror URL (" + MirrorURLHint + ")"

// MirrorURLHint says where a mirror URL comes from.
const MirrorURLHint = "pass --mirror URL, or set mirror.url or mirror.fqdn in the inventory"

// Judge fills Health, Problems, Unchecked and Warnings from the facts in
// r. Entries the caller already put in Problems, Unchecked or Warnings
// are kept. Call it once.
func (r *Report) Judge(services []Service) {
	r.Problems = append([]report.Problem{}, r.Problems...)
	r.Unchecked = append([]string{}, r.Unchecked...)
	r.Warnings = append([]string{}, r.Warnings...)
	problem := func(code, node, format string, a ...any) {
		r.Problems = append(r.Problems, report.Problem{Code: code, Node: node, Message: fmt.Sprintf(format, a...)})
	}
	unchecked := func(code, msg string) {
		r.Unchecked = append(r.Unchecked, msg)
		problem(code, "", "%s", msg)
	}
	reachable := 0
	for _, n := range r.Nodes {
		switch {
		case !n.Reachable:
			problem(report.ProblemUnreachable, n.Name, "unreachable: %s", n.Error)
		case n.Mirror == nil:
			reachable++
			problem(report.ProblemNodeError, n.Name, "%s", n.Error)
		case n.Mirror.FileError != "":
			reachable++
			problem(report.ProblemDaemonJSONInvalid, n.Name, "%s is not valid: %s", n.DaemonJSON, n.Mirror.FileError)
		case n.Error != "":
			reachable++
			problem(report.ProblemNodeError, n.Name, "%s", n.Error)
		case !n.Mirror.Configured:
			reachable++
			problem(report.ProblemNotConfigured, n.Name, "not configured (%s does not list the mirror)", n.DaemonJSON)
		case !n.Mirror.Applied:
			reachable++
			problem(report.ProblemPending, n.Name, "configured but not applied: docker is waiting for a reload/restart")
		default:
			reachable++
		}
		if strings.HasPrefix(n.CA, "missing") && !r.caReported(n.Name) {
			problem(report.ProblemCAMissing, n.Name, "mirror CA %s: pulls over HTTPS through the mirror fail on the certificate (run `swarmctl nodes configure`)", n.CA)
		}
		for _, u := range n.Registries {
			switch {
			case u.State == "error":
				problem(report.ProblemNodeError, n.Name, "%s: %s", u.Registry, u.Reason)
			case u.State == "pending" && u.Via == "hosts.toml":
				problem(report.ProblemPending, n.Name, "%s: hosts.toml does not list the mirror yet (run `swarmctl nodes configure`)", u.Registry)
			}
		}
	}
	if s := r.Stack; s != nil {
		switch {
		case s.Error != "" && !s.Found:
			// The query failed: the service's state is unknown, which is
			// not the same as "not deployed".
			unchecked(report.ProblemServiceUnchecked, fmt.Sprintf("stack %s: service %s not checked: %s", s.Name, s.Service, s.Error))
		case !s.Found:
			problem(report.ProblemServiceMissing, "", "stack %s: service %s not found (run `swarmctl mirror install`)", s.Name, s.Service)
		case s.DesiredReplicas == 0:
			problem(report.ProblemServiceScaledDown, "", "service %s is scaled to 0 replicas", s.Service)
		case s.RunningReplicas < s.DesiredReplicas:
			msg := fmt.Sprintf("service %s: %d/%d replicas running", s.Service, s.RunningReplicas, s.DesiredReplicas)
			if s.LastError != "" {
				msg += ": " + s.LastError
			}
			problem(report.ProblemReplicasShort, "", "%s", msg)
		}
	}
	if r.Endpoint == nil && len(r.MirrorURLs) == 0 {
		unchecked(report.ProblemEndpointUnchecked, NoMirrorURL)
	}
	if e := r.Endpoint; e != nil {
		switch {
		case !e.Reachable:
			problem(report.ProblemEndpointDown, "", "mirror %s: unreachable: %s", e.URL, e.Error)
		case !e.Healthy():
			problem(report.ProblemEndpointStatus, "", "mirror %s: GET /v2/ answered HTTP %d", e.URL, e.Status)
		}
		if e.TLS != nil && (e.TLS.Error != "" || !e.TLS.Valid) && !r.caTrusts(e.URL) {
			problem(report.ProblemTLSInvalid, "", "mirror %s: TLS certificate not valid: %s", e.URL, e.TLS.Error)
		} else if e.TLS != nil && e.TLS.DaysToExpiry < 14 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("mirror %s: TLS certificate expires in %d days", e.URL, e.TLS.DaysToExpiry))
		}
	}
	if fm := r.FromManager; fm != nil && fm.Error != "" {
		problem(report.ProblemFromManager, fm.Manager, "the mirror as seen from this manager: %s", fm.Error)
	} else if fm != nil && fm.Status != 0 && !probe.Answers(fm.Status) {
		problem(report.ProblemFromManager, fm.Manager, "the mirror as seen from this manager: HTTP %d", fm.Status)
	}
	for _, s := range services {
		if !FromDockerHub(s.Image) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("service %s uses %s: not from Docker Hub, so registry-mirrors never applies to it", s.Name, stripDigest(s.Image)))
		}
	}
	r.judgeUpstreams(problem)
	r.judgeCA(problem)
	if reachable == 0 {
		unchecked(report.ProblemNodesUnchecked, "nodes: not checked: no node could be reached")
	}
	noPath := r.judgeReplicas(problem)
	switch {
	case len(r.Unchecked) > 0:
		r.Health = Unchecked
	case noPath:
		r.Health = Unhealthy
	case len(r.Problems) > 0:
		r.Health = Degraded
	default:
		r.Health = Healthy
	}
}

// caReported: the CA check (judgeCA) already names a missing or different
// CA file on node, with more detail than the node's CA column.
func (r *Report) caReported(node string) bool {
	if r.CA == nil {
		return false
	}
	for _, n := range r.CA.Nodes {
		if n.Node == node && (n.State == CAMissing || n.State == CADiffers) {
			return true
		}
	}
	return false
}
