package status

import (
	"fmt"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/probe"
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
}

// Report is the JSON document of `mirror status` (schema_version 1).
type Report struct {
	SchemaVersion int      `json:"schema_version"`
	Command       string   `json:"command"`
	Health        string   `json:"health"`
	Problems      []string `json:"problems"`
	// Unchecked lists what could not be checked, and why (also in
	// Problems); any entry makes Health "could-not-check".
	Unchecked   []string     `json:"unchecked"`
	Warnings    []string     `json:"warnings"`
	MirrorURLs  []string     `json:"mirror_urls"`
	Stack       *Stack       `json:"stack,omitempty"`
	Endpoint    *Endpoint    `json:"endpoint,omitempty"`
	FromManager *FromManager `json:"from_manager,omitempty"`
	Cache       *Cache       `json:"cache,omitempty"`
	Nodes       []Node       `json:"nodes"`
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
	r.Problems = append([]string{}, r.Problems...)
	r.Unchecked = append([]string{}, r.Unchecked...)
	r.Warnings = append([]string{}, r.Warnings...)
	unchecked := func(msg string) {
		r.Unchecked = append(r.Unchecked, msg)
		r.Problems = append(r.Problems, msg)
	}
	reachable := 0
	for _, n := range r.Nodes {
		switch {
		case !n.Reachable:
			r.Problems = append(r.Problems, fmt.Sprintf("%s: unreachable: %s", n.Name, n.Error))
		case n.Mirror == nil:
			reachable++
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %s", n.Name, n.Error))
		case n.Mirror.FileError != "":
			reachable++
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %s is not valid: %s", n.Name, n.DaemonJSON, n.Mirror.FileError))
		case !n.Mirror.Configured:
			reachable++
			r.Problems = append(r.Problems, fmt.Sprintf("%s: not configured (%s does not list the mirror)", n.Name, n.DaemonJSON))
		case !n.Mirror.Applied:
			reachable++
			r.Problems = append(r.Problems, fmt.Sprintf("%s: configured but not applied: docker is waiting for a reload/restart", n.Name))
		default:
			reachable++
			if n.Error != "" {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: %s", n.Name, n.Error))
			}
		}
	}
	if s := r.Stack; s != nil {
		switch {
		case s.Error != "" && !s.Found:
			// The query failed: the service's state is unknown, which is
			// not the same as "not deployed".
			unchecked(fmt.Sprintf("stack %s: service %s not checked: %s", s.Name, s.Service, s.Error))
		case !s.Found:
			r.Problems = append(r.Problems, fmt.Sprintf("stack %s: service %s not found (run `swarmctl mirror install`)", s.Name, s.Service))
		case s.DesiredReplicas == 0:
			r.Problems = append(r.Problems, fmt.Sprintf("service %s is scaled to 0 replicas", s.Service))
		case s.RunningReplicas < s.DesiredReplicas:
			msg := fmt.Sprintf("service %s: %d/%d replicas running", s.Service, s.RunningReplicas, s.DesiredReplicas)
			if s.LastError != "" {
				msg += ": " + s.LastError
			}
			r.Problems = append(r.Problems, msg)
		}
	}
	if r.Endpoint == nil && len(r.MirrorURLs) == 0 {
		unchecked(NoMirrorURL)
	}
	if e := r.Endpoint; e != nil {
		switch {
		case !e.Reachable:
			r.Problems = append(r.Problems, fmt.Sprintf("mirror %s: unreachable: %s", e.URL, e.Error))
		case !e.Healthy():
			r.Problems = append(r.Problems, fmt.Sprintf("mirror %s: GET /v2/ answered HTTP %d", e.URL, e.Status))
		}
		if e.TLS != nil && (e.TLS.Error != "" || !e.TLS.Valid) {
			r.Problems = append(r.Problems, fmt.Sprintf("mirror %s: TLS certificate not valid: %s", e.URL, e.TLS.Error))
		} else if e.TLS != nil && e.TLS.DaysToExpiry < 14 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("mirror %s: TLS certificate expires in %d days", e.URL, e.TLS.DaysToExpiry))
		}
	}
	if fm := r.FromManager; fm != nil && fm.Error != "" {
		r.Problems = append(r.Problems, fmt.Sprintf("mirror as seen from %s: %s", fm.Manager, fm.Error))
	} else if fm != nil && fm.Status != 0 && !probe.Answers(fm.Status) {
		r.Problems = append(r.Problems, fmt.Sprintf("mirror as seen from %s: HTTP %d", fm.Manager, fm.Status))
	}
	for _, s := range services {
		if !FromDockerHub(s.Image) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("service %s uses %s: not from Docker Hub, so registry-mirrors never applies to it", s.Name, stripDigest(s.Image)))
		}
	}
	if reachable == 0 {
		unchecked("nodes: not checked: no node could be reached")
	}
	switch {
	case len(r.Unchecked) > 0:
		r.Health = Unchecked
	case len(r.Problems) > 0:
		r.Health = Degraded
	default:
		r.Health = Healthy
	}
}
