package stack

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
)

// DockerHub is the registry name of Docker Hub as nodes look it up.
const DockerHub = hoststoml.DockerHub

// Endpoint is one pull-through cache: one upstream registry (a proxy has
// exactly one), its swarm service, files and route, and the URLs nodes
// use for it. Values.Endpoints is the only place these are derived:
// install, uninstall, configure, status, warm and prove all read them here.
type Endpoint struct {
	// Registry is what nodes pull from, normalised (docker.io, ghcr.io,
	// registry.example.com:5000).
	Registry string `json:"registry"`
	// Slug is Registry with '.', ':', '[' and ']' turned into one '-'
	// (ghcr-io, registry-example-com-5000); it names the other upstreams'
	// services, files and Traefik hosts.
	Slug string `json:"slug"`
	// ServiceKey is the service's key in the stack file; Service is its
	// swarm name, <stack>_<ServiceKey>. docker.io keeps today's
	// registry-mirror, so an existing install is updated in place.
	ServiceKey string `json:"service_key"`
	Service    string `json:"service"`
	// RemoteURL is the upstream the cache pulls through from.
	RemoteURL string `json:"remote_url"`
	// Username for the upstream; Password never leaves the registry config
	// (a swarm secret), is never marshalled or printed.
	Username string `json:"username,omitempty"`
	Password string `json:"-"`
	// URLs are the URLs nodes use for this upstream, one per replica in
	// Replicas order (behind Traefik: the one Traefik URL). Empty when
	// nothing says where the mirror is (no url, no fqdn). Give each node
	// URLsFor(its names) so its own replica comes first.
	URLs []string `json:"urls"`
	// Replicas are the independent caches of this upstream.
	Replicas []Replica `json:"replicas"`
	// ConfigFile is the registry config on the manager (mode 0600 with
	// credentials); DataDir the cache's data directory (per replica node
	// with replicas > 1: see Replica.DataDir).
	ConfigFile string `json:"config_file"`
	DataDir    string `json:"data_dir"`
	// Publish is the port published for this cache (0: not published,
	// behind Traefik only).
	Publish int `json:"publish"`
	// Host is the Traefik Host rule ("" with traefik none).
	Host string `json:"host,omitempty"`
}

// Replica is one independent cache of an upstream.
type Replica struct {
	// Node is the swarm node (hostname) it runs on; "" with one replica,
	// which runs wherever the constraints let swarm place it.
	Node string `json:"node,omitempty"`
	// URL is where nodes reach this replica ("" behind Traefik, where the
	// one URL serves all replicas, or when nothing says where it is).
	URL string `json:"url,omitempty"`
	// DataDir is the replica's data directory on its node.
	DataDir string `json:"data_dir"`
}

// Registry debug server: Prometheus metrics and /debug/health, inside the
// task's container only (never published).
const (
	DebugPort = 5001
	// MetricsURLInTask is the registry's Prometheus page as seen from
	// inside its own task container (docker exec): the debug listener is
	// bound to the container's loopback.
	MetricsURLInTask = "http://127.0.0.1:5001/metrics"
)

// Slug turns a registry name into the part of names it gives services,
// files and Traefik hosts: ghcr.io -> ghcr-io.
func Slug(registry string) string {
	s := strings.Map(func(r rune) rune {
		switch r {
		case '.', ':', '[', ']':
			return '-'
		}
		return r
	}, strings.ToLower(registry))
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return strings.Trim(s, "-")
}

// Endpoints derives every pull-through cache from v, which Defaults and
// Validate must have passed: docker.io's keeps today's service name,
// config file, data directory and published port; every other upstream X
// gets service <stack>_registry-mirror-<slug>, config <config dir>/<slug>.yml,
// data directory <data_dir>-<slug>, the port publish+1, publish+2, ... in
// list order (unless it pins its own), and behind Traefik the host
// <slug>.<fqdn>.
//
// URLs (unless the entry sets url):
//   - Traefik: docker.io https://<fqdn> (or mirror.url), others
//     https://<slug>.<fqdn>: one URL, whatever the replicas.
//   - traefik none, one replica: docker.io mirror.url; others mirror.url's
//     scheme and host with their own port.
//   - traefik none with replica_nodes: one URL per replica node, in
//     replica_nodes order: <scheme>://<node address>:<port>, the scheme
//     https with tls_cert, else mirror.url's, else http (url keys give
//     only the scheme then).
func (v Values) Endpoints() []Endpoint {
	var out []Endpoint
	k := 0
	for _, r := range v.Registries {
		slug := Slug(r.Registry)
		e := Endpoint{Registry: r.Registry, Slug: slug, RemoteURL: r.RemoteURL, Username: r.Username, Password: v.Passwords[r.Registry]}
		if r.Registry == DockerHub {
			e.ServiceKey, e.ConfigFile, e.DataDir, e.Publish = ServiceSuffix, v.ConfigFile, v.DataDir, v.Publish
			e.Password = v.UpstreamPassword
			if v.RemoteURL != "" { // the top-level keys are docker.io's
				e.RemoteURL = v.RemoteURL
			}
			if v.UpstreamUsername != "" {
				e.Username = v.UpstreamUsername
			}
			if v.Traefik != TraefikNone {
				e.Host = v.FQDN
			}
		} else {
			k++
			e.ServiceKey = ServiceSuffix + "-" + slug
			e.ConfigFile = path.Join(path.Dir(v.ConfigFile), slug+".yml")
			e.DataDir = v.DataDir + "-" + slug
			if v.Publish != 0 {
				e.Publish = v.Publish + k
			}
			if v.Traefik != TraefikNone && v.FQDN != "" {
				e.Host = slug + "." + v.FQDN
			}
		}
		if r.Publish != 0 {
			e.Publish = r.Publish
		}
		e.Service = v.StackName + "_" + e.ServiceKey
		e.Replicas = v.replicas(e)
		e.URLs = []string{}
		for _, rep := range e.Replicas {
			if rep.URL != "" && !slices.Contains(e.URLs, rep.URL) {
				e.URLs = append(e.URLs, rep.URL)
			}
		}
		if len(e.URLs) == 0 {
			if u := v.sharedURL(e, r); u != "" {
				e.URLs = append(e.URLs, u)
			}
		}
		out = append(out, e)
	}
	return out
}

// replicas lists the caches of one upstream: one with no node (swarm
// places it), or one per replica node.
func (v Values) replicas(e Endpoint) []Replica {
	if !v.PerNode() {
		return []Replica{{DataDir: e.DataDir}}
	}
	var out []Replica
	for _, n := range v.ReplicaNodes {
		rep := Replica{Node: n, DataDir: path.Join(e.DataDir, n)}
		if v.Traefik == TraefikNone && e.Publish != 0 {
			host := n
			if a := v.ReplicaHosts[n]; a != "" {
				host = a
			}
			rep.URL = v.scheme() + "://" + net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(e.Publish))
		}
		out = append(out, rep)
	}
	return out
}

// sharedURL is the one URL of an upstream that does not have one per
// replica ("" when nothing says where the mirror is).
func (v Values) sharedURL(e Endpoint, r registryEntry) string {
	switch {
	case r.Registry == DockerHub:
		return v.URL
	case r.URL != "":
		return r.URL
	case v.Traefik != TraefikNone:
		if e.Host == "" {
			return ""
		}
		return "https://" + e.Host
	}
	u, err := url.Parse(v.URL)
	if v.URL == "" || err != nil || u.Hostname() == "" || e.Publish == 0 {
		return ""
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(e.Publish))
}

// scheme is how nodes reach a replica directly: https when the registry
// serves TLS itself, else mirror.url's scheme, else http.
func (v Values) scheme() string {
	if v.TLSCert != "" {
		return "https"
	}
	if u, err := url.Parse(v.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return u.Scheme
	}
	return "http"
}

// PerNode reports whether every upstream runs one cache per replica node
// (replica_nodes given): a global service on the nodes labelled
// NodeLabelKey()=true.
func (v Values) PerNode() bool { return len(v.ReplicaNodes) > 0 }

// NodeLabel prefixes the swarm node label install sets on the replica
// nodes, swarmctl.mirror.<stack>=true (Values.NodeLabelKey), which the
// per-node services are constrained to.
const NodeLabel = "swarmctl.mirror"

// URLsFor orders e's URLs for one node: the replica running on that node
// first (names are the node's names: swarm hostname, inventory name,
// address), then the others in their stable order.
func (e Endpoint) URLsFor(names ...string) []string {
	own := -1
	for i, rep := range e.Replicas {
		if rep.Node != "" && rep.URL != "" && slices.Contains(names, rep.Node) {
			own = i
			break
		}
	}
	if own < 0 {
		return slices.Clone(e.URLs)
	}
	out := []string{e.Replicas[own].URL}
	for _, u := range e.URLs {
		if u != out[0] {
			out = append(out, u)
		}
	}
	return out
}

// PortWarnings: with traefik none, an upstream other than docker.io
// without its own publish: gets publish+1, +2, ... by its place in
// mirror.registries. Taking one out or reordering them moves the later
// ones' ports, and nodes would ask the wrong cache until nodes configure
// runs again: say so while two or more ports hang on that order.
func (v Values) PortWarnings() []string {
	if v.Traefik != TraefikNone || v.Publish == 0 {
		return nil
	}
	var byOrder []string
	for _, e := range v.Endpoints() {
		if e.Registry == DockerHub {
			continue
		}
		for _, r := range v.Registries {
			if r.Registry == e.Registry && r.Publish == 0 {
				byOrder = append(byOrder, fmt.Sprintf("%s :%d", e.Registry, e.Publish))
			}
		}
	}
	if len(byOrder) < 2 {
		return nil
	}
	return []string{"the published ports of " + strings.Join(byOrder, ", ") + " follow their order in mirror.registries: " +
		"taking one out or reordering them moves the others' ports, and nodes ask the wrong cache until `nodes configure` runs again " +
		"(apply does both); pin each with publish: in its registries entry"}
}
