package daemonjson

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// ValidateMirror checks a registry mirror URL the way dockerd does, plus
// the rules that make it usable as a Docker Hub mirror: http or https, a
// host, a port in range, no path beyond "/", no query, fragment or
// user:password, no whitespace or control characters. It returns the
// normalised form (see NormalizeMirror), e.g. "https://m.example.com/".
// Errors are *MirrorError.
func ValidateMirror(raw string) (string, error) {
	bad := func(rule string) (string, error) {
		return "", &MirrorError{URL: masked(raw), Rule: rule}
	}
	if raw == "" {
		return bad("empty")
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return bad("contains whitespace or control characters")
	}
	if !strings.Contains(raw, "://") {
		return bad("no scheme: write https://" + strings.TrimLeft(raw, "/:"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL itself is already in the message
		}
		return bad("not a valid URL: " + err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https, not " + strconv.Quote(u.Scheme))
	case u.User != nil:
		return bad("must not contain user:password (configure registry credentials on the mirror instead)")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case strings.Contains(raw, "?"):
		return bad("must not have a query (?...)")
	case strings.Contains(raw, "#"):
		return bad("must not have a fragment (#...)")
	case u.Path != "" && u.Path != "/":
		return bad("must not have a path (" + strconv.Quote(u.Path) + "); a mirror serves /v2/ at its root")
	}
	if h := u.Hostname(); !strings.HasPrefix(u.Host, "[") && strings.IndexFunc(h, func(r rune) bool {
		return !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return bad("host " + strconv.Quote(h) + " is not a DNS name or IP address (letters, digits, '-', '.')")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port " + p + " out of range")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	return NormalizeMirror(raw), nil
}

// masked hides a password so it never reaches an error message or a log.
func masked(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// NormalizeMirror returns the form used to compare mirror URLs: scheme and
// host lower-cased, the scheme's default port dropped, a trailing "/" (as
// `docker info` reports them). "HTTPS://M.example.com:443" and
// "https://m.example.com" both give "https://m.example.com/". Strings that
// do not parse as URLs are only trimmed and given the trailing slash, so
// they still compare equal to themselves.
func NormalizeMirror(u string) string {
	u = strings.TrimSpace(u)
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.Opaque != "" {
		return strings.TrimRight(u, "/") + "/"
	}
	path := strings.TrimRight(p.EscapedPath(), "/") + "/"
	return p.Scheme + "://" + hostPort(p) + path
}

// MirrorHost returns the host[:port] of a mirror URL as dockerd matches it
// against "insecure-registries": lower-cased, without the scheme's default
// port ("http://10.0.0.5:5000/" -> "10.0.0.5:5000", "https://M.example.com"
// -> "m.example.com"). It returns "" for something that is not a URL.
func MirrorHost(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || p.Host == "" {
		return ""
	}
	return hostPort(p)
}

func hostPort(p *url.URL) string {
	host := strings.ToLower(p.Hostname())
	port := p.Port()
	if (p.Scheme == "https" && port == "443") || (p.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// normInsecure is the comparison form of an insecure-registries entry
// (host[:port] or a CIDR; dockerd also accepts an http:// prefix).
func normInsecure(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "http://")
	return strings.TrimRight(s, "/")
}
