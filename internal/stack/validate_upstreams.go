package stack

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/inventory"
)

// maxServiceName is swarm's limit on a service name (a DNS label).
const maxServiceName = 63

// validateRegistries checks the upstreams: names, URLs, credentials, the
// names and ports derived from them, and that none is the mirror itself.
func (v Values) validateRegistries() []error {
	var errs []error
	bad := func(i int, format string, a ...any) {
		errs = append(errs, v.registryError(i, fmt.Sprintf(format, a...)))
	}
	seen := map[string]int{}
	slugs := map[string]string{}
	for i, r := range v.Registries {
		name, err := hoststoml.NormalizeRegistry(r.Registry)
		switch {
		case err != nil:
			bad(i, "%v", err)
			continue
		case name != r.Registry:
			bad(i, "write %s (the name dockerd looks it up by)", name)
			continue
		}
		if j, dup := seen[name]; dup {
			bad(i, "%s is listed twice (also entry %d)", name, j)
			continue
		}
		seen[name] = i
		slug := Slug(name)
		if other, dup := slugs[slug]; dup && name != DockerHub {
			bad(i, "%s and %s give the same service name suffix %q", other, name, slug)
		}
		slugs[slug] = name

		if name == DockerHub && v.RemoteURL != "" {
			r.RemoteURL = v.RemoteURL // the top-level key is docker.io's
		}
		if err := checkURL(r.RemoteURL); err != nil {
			if name == DockerHub {
				errs = append(errs, v.fieldError("remote_url", fmt.Sprintf("%q %v", r.RemoteURL, err)))
			} else {
				bad(i, "remote_url %q %v", r.RemoteURL, err)
			}
		}
		if r.URL != "" {
			if err := checkURL(r.URL); err != nil {
				bad(i, "url %q %v", r.URL, err)
			}
		}
		if r.Publish < 0 || r.Publish > 65535 {
			bad(i, "publish %d: want a port 1-65535", r.Publish)
		}
		if name == DockerHub {
			continue // docker.io's credentials are the top-level upstream_* (checked in Validate)
		}
		pw := v.Passwords[name]
		switch {
		case r.Username != "" && pw == "":
			bad(i, "a password is needed with user %q (password_file or password_env)", r.Username)
		case r.Username == "" && pw != "":
			bad(i, "username is required when a password is given")
		}
		if r.Username != "" && (strings.ContainsFunc(r.Username, unicode.IsControl) || !utf8.ValidString(r.Username) || len(r.Username) > 256) {
			bad(i, "username %q contains control characters or is too long", r.Username)
		}
		if pw != "" && (strings.ContainsFunc(pw, unicode.IsControl) || !utf8.ValidString(pw) || len(pw) > 4096) {
			bad(i, "the password contains control characters (a trailing newline is removed), invalid UTF-8, or is too long")
		}
	}
	if len(errs) > 0 {
		return errs
	}

	// What the names and ports derived from them must satisfy.
	eps := v.Endpoints()
	ports := map[int]string{}
	mirrors := map[string]bool{} // host:port of every URL nodes use, and Traefik hosts
	if hp := urlHostPort(v.URL); hp != "" {
		mirrors[hp] = true
	}
	if v.FQDN != "" {
		mirrors[v.FQDN+":443"] = true
	}
	for i, e := range eps {
		if len(e.Service) > maxServiceName {
			bad(i, "service name %s is longer than %d characters: use a shorter --stack", e.Service, maxServiceName)
		} else if n := len(objectName(v.StackName, e.Slug+"-config", nil)); n > maxObjectName {
			bad(i, "its config's swarm name would be %d characters, over swarm's %d: use a shorter --stack", n, maxObjectName)
		}
		if e.Host != "" && e.Registry != DockerHub {
			if err := checkFQDN(e.Host); err != nil {
				bad(i, "Traefik host %q %v", e.Host, err)
			}
		}
		if e.Publish != 0 {
			if e.Publish > 65535 {
				bad(i, "port %d (publish + %d) is not a port: lower --publish or set this entry's publish", e.Publish, e.Publish-v.Publish)
			} else if other, dup := ports[e.Publish]; dup {
				bad(i, "port %d is also %s's: set publish on one of them", e.Publish, other)
			}
			ports[e.Publish] = e.Registry
		}
		for _, u := range e.URLs {
			if hp := urlHostPort(u); hp != "" {
				mirrors[hp] = true
			}
		}
		if e.Host != "" {
			mirrors[e.Host+":443"] = true
		}
	}
	for i, e := range eps {
		if mirrors[registryHostPort(e.Registry)] {
			bad(i, "%s is the mirror itself: nodes would send its pulls to themselves", e.Registry)
		}
		if hp := urlHostPort(e.RemoteURL); hp != "" && mirrors[hp] {
			bad(i, "remote_url %s is the mirror itself: the cache would pull from itself", e.RemoteURL)
		}
	}
	return errs
}

// validateReplicas checks the replica nodes: one cache per node.
func (v Values) validateReplicas() []error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, v.fieldError(field, fmt.Sprintf(format, a...)))
	}
	seen := map[string]bool{}
	for _, n := range v.ReplicaNodes {
		if err := inventory.ValidateName(n); err != nil {
			bad("replica_nodes", "%v", err)
			continue
		}
		if seen[n] {
			bad("replica_nodes", "%s is listed twice: each replica runs on its own node", n)
		}
		seen[n] = true
	}
	switch {
	case v.Replicas > 1 && len(v.ReplicaNodes) == 0:
		bad("replicas", "%d independent caches need the nodes they run on: list %d swarm nodes in mirror.replica_nodes (--replica-node)", v.Replicas, v.Replicas)
	case len(v.ReplicaNodes) > 0 && len(v.ReplicaNodes) != v.Replicas:
		bad("replicas", "%d, but mirror.replica_nodes lists %d nodes: one cache runs on each (omit replicas to take their number)", v.Replicas, len(v.ReplicaNodes))
	}
	if v.PerNode() && v.PublishMode == PublishIngress && v.Publish != 0 {
		bad("publish_mode", "ingress would spread each URL's pulls over every replica's cache: with replica_nodes each node publishes its own replica (host)")
	}
	return errs
}

// validateTLS checks the files that make the registry serve HTTPS itself
// and the CA nodes trust it with. Key material never appears in a message.
func (v Values) validateTLS() []error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, v.fieldError(field, fmt.Sprintf(format, a...)))
	}
	if v.CAFile != "" {
		if n, err := countCerts(v.CAPEM); err != nil {
			bad("ca_file", "%s: %v", v.CAFile, err)
		} else if n == 0 {
			bad("ca_file", "%s holds no PEM certificate", v.CAFile)
		}
	}
	switch {
	case v.TLSCert == "" && v.TLSKey == "":
		return errs
	case v.TLSCert == "":
		bad("tls_cert", "required with tls_key")
		return errs
	case v.TLSKey == "":
		bad("tls_key", "required with tls_cert")
		return errs
	}
	if v.Traefik != TraefikNone && v.Traefik != TraefikAuto { // auto: checked again once decided
		bad("tls_cert", "with Traefik %s, Traefik serves HTTPS: tls_cert and tls_key are for traefik none", v.Traefik)
	}
	if n, err := countCerts(v.TLSCertPEM); err != nil || n == 0 {
		bad("tls_cert", "%s holds no PEM certificate", v.TLSCert)
	} else if _, err := tls.X509KeyPair(v.TLSCertPEM, v.TLSKeyPEM); err != nil {
		// crypto/tls's messages name the problem, never the key's bytes.
		bad("tls_key", "%s does not go with %s: %v", v.TLSKey, v.TLSCert, err)
	}
	if u, err := url.Parse(v.URL); err == nil && u.Scheme == "http" {
		bad("url", "%q is http, but the registry serves https (tls_cert)", v.URL)
	}
	return errs
}

// countCerts counts the PEM certificates in b; anything that is not a
// certificate block, or one that does not parse, is an error.
func countCerts(b []byte) (int, error) {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return n, nil
		}
		if blk.Type != "CERTIFICATE" {
			return n, fmt.Errorf("holds a %s block, want only CERTIFICATE blocks", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return n, fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
}

// urlHostPort is a URL's lower-case host:port with the scheme's default
// port filled in ("" when it does not parse).
func urlHostPort(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// registryHostPort is a registry name's host:port (https's 443 by default).
func registryHostPort(reg string) string {
	if reg == DockerHub {
		return "registry-1.docker.io:443"
	}
	return urlHostPort("https://" + reg)
}
