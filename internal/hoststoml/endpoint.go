package hoststoml

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"
)

// Endpoint is a registry endpoint as containerd resolves a hosts.toml entry:
// scheme, host[:port] and the API root path. Host is lower-cased without
// the scheme's default port so that two spellings of one server compare
// equal; Path follows containerd's rule ("/v2" appended unless the path
// already ends so or override_path is set).
type Endpoint struct {
	Scheme string `json:"scheme"`
	Host   string `json:"host"`
	Path   string `json:"path"`
}

func (e Endpoint) String() string { return e.Scheme + "://" + e.Host + e.Path }

// endpointOf resolves a server or [host."..."] key the way containerd's
// parseHostConfig does: no leading "http" means https, then the /v2 rule.
// Its quirks are kept on purpose ("httpbin.org" starts with "http", so it
// is parsed without a scheme and gives no host; "https://m/" gets "//v2").
func endpointOf(raw string, overridePath bool) (Endpoint, error) {
	s := raw
	if !strings.HasPrefix(s, "http") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return Endpoint{}, fmt.Errorf("cannot parse %q as a URL: %v", raw, err)
	}
	p := u.Path
	if p != "" {
		p = path.Clean(p)
		if !strings.HasSuffix(p, "/v2") && !overridePath {
			p += "/v2"
		}
	} else if !overridePath {
		p = "/v2"
	}
	return Endpoint{Scheme: strings.ToLower(u.Scheme), Host: canonicalHost(u.Scheme, u.Host), Path: p}, nil
}

// canonicalHost lower-cases host[:port] and drops the scheme's default port.
func canonicalHost(scheme, hostport string) string {
	h := strings.ToLower(hostport)
	switch strings.ToLower(scheme) {
	case "https":
		h = strings.TrimSuffix(h, ":443")
	case "http":
		h = strings.TrimSuffix(h, ":80")
	}
	return h
}

// isLocalhost is containerd's docker.IsLocalhost: localhost or a loopback IP.
func isLocalhost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultServer is the endpoint containerd uses for a registry whose
// hosts.toml has no server line (config.ConfigureHosts): Docker Hub's
// registry-1.docker.io, for localhost http unless the port is 443 or
// absent, else https://<registry>.
func defaultServer(registry string) Endpoint {
	if registry == DockerHub {
		return Endpoint{Scheme: "https", Host: "registry-1.docker.io", Path: "/v2"}
	}
	scheme := "https"
	if isLocalhost(registry) {
		if _, port, err := net.SplitHostPort(registry); err == nil && port != "443" {
			scheme = "http"
		}
	}
	return Endpoint{Scheme: scheme, Host: canonicalHost(scheme, registry), Path: "/v2"}
}

// sameServer says whether two server endpoints reach the same registry. For
// Docker Hub every https spelling (docker.io, index.docker.io,
// registry-1.docker.io) counts: containerd's own documentation writes
// server = "https://docker.io".
//
// Paths compare cleaned: a server written with a trailing "/" gets "//v2"
// from containerd; it is meant as the same server, and refusing a file for
// that slash would help nobody.
func sameServer(registry string, a, b Endpoint) bool {
	a.Path, b.Path = path.Clean(a.Path), path.Clean(b.Path)
	if a == b {
		return true
	}
	return registry == DockerHub && a.Scheme == "https" && b.Scheme == "https" &&
		a.Path == b.Path && dockerHubAliases[a.Host] && dockerHubAliases[b.Host]
}

// URLError is a mirror or server URL swarmctl will not write.
type URLError struct {
	What string // "mirror", "server", "ca"
	URL  string // as given, any password masked
	Rule string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.What, e.URL, e.Rule)
}

// cleanURL validates a URL swarmctl writes into hosts.toml and returns its
// canonical spelling: scheme and host lower-cased, default port dropped,
// no trailing "/". A path is allowed only when allowPath (a mirror may serve
// a registry under a path); it must already be clean.
func cleanURL(what, raw string, allowPath bool) (string, error) {
	bad := func(rule string) (string, error) { return "", &URLError{What: what, URL: maskURL(raw), Rule: rule} }
	if raw == "" {
		return bad("empty")
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' || r == '\\' }) >= 0 {
		return bad("contains whitespace, control characters, '\"' or '\\'")
	}
	if !strings.Contains(raw, "://") {
		return bad("no scheme: write https://" + strings.TrimLeft(raw, "/:"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("not a valid URL: " + err.Error())
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return bad("scheme must be http or https, not " + strconv.Quote(u.Scheme))
	case u.User != nil:
		return bad("must not contain user:password")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case strings.Contains(raw, "?"):
		return bad("must not have a query (?...)")
	case strings.Contains(raw, "#"):
		return bad("must not have a fragment (#...)")
	}
	host := strings.ToLower(u.Host)
	if _, _, err := splitHostPort(host); err != nil {
		return bad(err.Error())
	}
	if h := strings.ToLower(u.Hostname()); !strings.HasPrefix(host, "[") {
		if err := checkDNSName(strings.ReplaceAll(h, "_", "x")); err != nil {
			return bad(err.Error())
		}
	}
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	if p != "" {
		if !allowPath {
			return bad("must not have a path (" + strconv.Quote(u.Path) + ")")
		}
		if path.Clean(p) != p {
			return bad("path " + strconv.Quote(u.Path) + " is not clean (no '//', '.' or '..')")
		}
	}
	return scheme + "://" + canonicalHost(scheme, host) + p, nil
}

func maskURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// keyNorm is the form Remove matches [host."..."] keys by: the canonical
// URL when the key parses as one, else the key itself.
func keyNorm(key string) string {
	if c, err := cleanURL("mirror", key, true); err == nil {
		return c
	}
	return key
}
