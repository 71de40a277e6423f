package hoststoml

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Warning is something the caller must show the operator.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Warning codes.
const (
	// CodeMirrorIgnored: a daemon.json registry-mirrors entry dockerd no
	// longer uses for docker.io because hosts.toml lists endpoints.
	CodeMirrorIgnored = "daemon-json-mirror-ignored"
	// CodeInsecureIgnored: an insecure-registries entry that no longer
	// applies to this registry or its mirrors.
	CodeInsecureIgnored = "insecure-registry-ignored"
	// CodeDaemonJSONUnknown: the file has endpoints and the caller did not
	// say what daemon.json holds.
	CodeDaemonJSONUnknown = "daemon-json-unknown"
	// CodeForeignKept: a table for one of swarmctl's mirrors that is not
	// swarmctl's was left as it is.
	CodeForeignKept = "foreign-table-kept"
	// CodeProblemKept: Remove left a Problem of the file as it was.
	CodeProblemKept = "problem-kept"
	// CodeEngineIgnoresKey: the node's engine ignores a key of the file.
	CodeEngineIgnoresKey = "engine-ignores-key"
)

// DaemonJSON is what a node's daemon.json says about registries.
type DaemonJSON struct {
	Mirrors  []string // registry-mirrors
	Insecure []string // insecure-registries (host[:port] or CIDR)
}

// Endpoints is how many endpoints dockerd counts for the registry: the
// hosts it tries, plus the server (explicit or the registry itself).
func (f *File) Endpoints() int { return len(f.Hosts) + 1 }

// Check applies the engine rule (moby daemon/hosts.go mergeLegacyConfig):
// when a registry's hosts.toml gives two or more endpoints, which is any
// file with a [host."..."] table since the server counts, dockerd ignores
// daemon.json's registry-mirrors and insecure-registries for that registry.
// It returns one warning per daemon.json setting that is lost that way (a
// mirror hosts.toml does not list too; an insecure entry naming the
// registry or one of the endpoints), or, when dj is nil, one warning that
// says the rule is in force. Nothing is returned for a file with a single
// endpoint.
func Check(f *File, registry string, dj *DaemonJSON) []Warning {
	n := f.Endpoints()
	if n < 2 {
		return nil
	}
	why := fmt.Sprintf("hosts.toml for %s lists %d endpoints, and then dockerd (28 and later, containerd image store) uses only those", registry, n)
	if dj == nil {
		return []Warning{{Code: CodeDaemonJSONUnknown, Message: why + ": daemon.json registry-mirrors and insecure-registries do not apply to " + registry + " on this node"}}
	}
	var ws []Warning
	if registry == DockerHub {
		for _, m := range dj.Mirrors {
			ep, ok := legacyMirror(m)
			if ok && f.lists(ep) {
				continue
			}
			ws = append(ws, Warning{Code: CodeMirrorIgnored, Message: fmt.Sprintf(
				"daemon.json registry-mirrors entry %s is not used for docker.io on this node: %s; list it in hosts.toml too or drop it", m, why)})
		}
	}
	// insecure-registries gave an https endpoint TLS skip-verify and an
	// http fallback; an http endpoint in hosts.toml needs neither.
	server := defaultServer(registry)
	if f.Server != nil {
		server = f.Server.Endpoint
	}
	var hosts []string
	for _, h := range append(slices.Clone(f.Hosts), Host{Endpoint: server, SkipVerify: f.Root.SkipVerify}) {
		if h.Endpoint.Scheme == "https" && (h.SkipVerify == nil || !*h.SkipVerify) {
			hosts = append(hosts, h.Endpoint.Host)
		}
	}
	for _, e := range dj.Insecure {
		if hit := insecureHits(e, hosts); hit != "" {
			ws = append(ws, Warning{Code: CodeInsecureIgnored, Message: fmt.Sprintf(
				"daemon.json insecure-registries entry %s no longer applies to https://%s for %s: %s; write http:// or skip_verify = true for it in hosts.toml", e, hit, registry, why)})
		}
	}
	return ws
}

// lists says whether dockerd tries ep among the file's hosts.
func (f *File) lists(ep Endpoint) bool {
	for _, h := range f.Hosts {
		if h.Endpoint == ep {
			return true
		}
	}
	return false
}

// legacyMirror is the endpoint dockerd makes of a daemon.json mirror with
// the containerd store (moby mirrorsToRegistryHosts): the URL's host and
// path with /v2 appended unless it ends so; https when no scheme.
func legacyMirror(m string) (Endpoint, bool) {
	u, err := url.Parse(m)
	if err != nil || u.Host == "" {
		u, err = url.Parse("https://" + m)
		if err != nil || u.Host == "" {
			return Endpoint{}, false
		}
	}
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(p, "/v2") {
		p = path.Join(p, "/v2")
	}
	return Endpoint{Scheme: strings.ToLower(u.Scheme), Host: canonicalHost(u.Scheme, u.Host), Path: p}, true
}

// insecureHits returns the first host an insecure-registries entry covers.
func insecureHits(entry string, hosts []string) string {
	e := strings.TrimRight(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(entry)), "http://"), "/")
	if _, cidr, err := net.ParseCIDR(e); err == nil {
		for _, h := range hosts {
			host := h
			if hh, _, err := net.SplitHostPort(h); err == nil {
				host = hh
			}
			if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && cidr.Contains(ip) {
				return h
			}
		}
		return ""
	}
	for _, h := range hosts {
		if h == e || canonicalHost("https", e) == h {
			return h
		}
	}
	return ""
}
