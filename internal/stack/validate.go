package stack

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// FieldError is one invalid value. Field is the inventory key under mirror:,
// Flag the command-line flag that sets it; File and Line say where the
// inventory sets it (empty when a flag or a default did).
type FieldError struct {
	Field string
	Flag  string
	Msg   string
	File  string
	Line  int
}

func (e *FieldError) Error() string { return e.prefix() + ": " + e.Msg }

// prefix is "[file:line: ]mirror.<field> (--<flag>)".
func (e *FieldError) prefix() string {
	p := "mirror." + e.Field
	if e.Flag != "" {
		p += " (--" + e.Flag + ")"
	}
	if e.File != "" && e.Line > 0 {
		p = fmt.Sprintf("%s:%d: %s", e.File, e.Line, p)
	}
	return p
}

// fieldError is a problem with the setting mirror.<field>, named with the
// flag the declaration (inventory.Mirror) gives it.
func fieldError(field, msg string) *FieldError {
	return &FieldError{Field: field, Flag: inventory.MirrorFlag(field), Msg: msg}
}

// fieldError is fieldError located at the line of the inventory that set
// field (when the inventory did).
func (v Values) fieldError(field, msg string) *FieldError {
	e := fieldError(field, msg)
	if l := v.Lines[field]; l > 0 && v.Source != "" {
		e.File, e.Line = v.Source, l
	}
	return e
}

// at is "file:line: " for an inventory line, "" for none.
func (v Values) at(field string, line int) string {
	if line == 0 {
		line = v.Lines[field]
	}
	if line == 0 || v.Source == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d: ", v.Source, line)
}

// registryError is a problem with entry i of mirror.registries, at its line.
func (v Values) registryError(i int, msg string) *FieldError {
	r := v.Registries[i]
	e := &FieldError{Field: fmt.Sprintf("registries[%d] (%s)", i, r.Registry), Flag: inventory.MirrorFlag("registries"), Msg: msg}
	if r.Line > 0 && v.Source != "" {
		e.File, e.Line = v.Source, r.Line
	}
	return e
}

var (
	stackNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$`)
	networkRE   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)
	traefikName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$`)
	labelRE     = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	imageRE     = regexp.MustCompile(`^` +
		// optional registry host[:port]/
		`(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?` +
		// path components
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
		// :tag and @digest
		`(?::[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?` +
		`(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`)
	constraintRE = regexp.MustCompile(`^[^=!]+(==|!=)[^=!]+$`)
)

// Validate checks every value a user can type, before any node is touched.
// It reports all problems at once; no message repeats the password.
func (v Values) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, v.fieldError(field, fmt.Sprintf(format, a...)))
	}

	switch {
	case v.FQDN == "" && v.Traefik != TraefikNone && v.Traefik != TraefikAuto:
		bad("fqdn", "required with Traefik %s labels (the Host rule): set it, or choose --traefik none (a published port only) or auto (labels only where a Traefik runs)", v.Traefik)
	case v.FQDN != "":
		if err := checkFQDN(v.FQDN); err != nil {
			bad("fqdn", "%q %v", v.FQDN, err)
		}
	}
	if v.URL != "" {
		if err := checkURL(v.URL); err != nil {
			bad("url", "%q %v", v.URL, err)
		}
	}
	errs = append(errs, v.validateRegistries()...)
	if len(v.Image) > 255 || !imageRE.MatchString(v.Image) {
		bad("image", "%q is not an image reference (like registry:2 or host:5000/registry:3)", v.Image)
	}
	if !stackNameRE.MatchString(v.StackName) {
		bad("stack", "%q: use letters, digits, _ and - (starting with a letter or digit, at most 63)", v.StackName)
	}

	paths := map[string]string{}
	for _, p := range []struct{ field, val string }{
		{"stack_file", v.StackFile},
		{"config_file", v.ConfigFile},
		{"data_dir", v.DataDir},
	} {
		if err := checkPath(p.val); err != nil {
			bad(p.field, "%q %v", p.val, err)
			continue
		}
		if other, dup := paths[p.val]; dup {
			bad(p.field, "%q is also the %s", p.val, other)
		}
		paths[p.val] = p.field
	}
	if v.StackFile != "" && v.DataDir != "" && strings.HasPrefix(v.StackFile, strings.TrimSuffix(v.DataDir, "/")+"/") {
		bad("stack_file", "%q lies inside data_dir %q (the registry owns that directory)", v.StackFile, v.DataDir)
	}
	if v.ConfigFile != "" && v.DataDir != "" && strings.HasPrefix(v.ConfigFile, strings.TrimSuffix(v.DataDir, "/")+"/") {
		bad("config_file", "%q lies inside data_dir %q (the registry owns that directory)", v.ConfigFile, v.DataDir)
	}

	switch v.Traefik {
	case TraefikV1, TraefikV2, TraefikV3:
		if !networkRE.MatchString(v.Network) {
			bad("network", "%q is not a network name (letters, digits, _ . -)", v.Network)
		}
	case TraefikAuto:
		if v.Network != "" && !networkRE.MatchString(v.Network) {
			bad("network", "%q is not a network name (letters, digits, _ . -)", v.Network)
		}
	case TraefikNone:
	default:
		bad("traefik", "%q: want auto, v1, v2, v3 or none", v.Traefik)
	}
	if v.Traefik == TraefikV2 || v.Traefik == TraefikV3 || v.Traefik == TraefikAuto {
		if v.Entrypoint != "" || v.Traefik != TraefikAuto {
			if !traefikName.MatchString(v.Entrypoint) {
				bad("entrypoint", "%q is not a Traefik entrypoint name", v.Entrypoint)
			}
		}
		if v.CertResolver != "" || v.Traefik != TraefikAuto {
			if !traefikName.MatchString(v.CertResolver) {
				bad("cert_resolver", "%q is not a Traefik certificate resolver name", v.CertResolver)
			}
		}
	}

	if v.Publish < 0 || v.Publish > 65535 {
		bad("publish", "%d: want a port 1-65535 (0 = do not publish)", v.Publish)
	}
	switch v.PublishMode {
	case PublishIngress, PublishHost:
	default:
		bad("publish_mode", "%q: want ingress or host", v.PublishMode)
	}
	if v.Publish == 0 && v.Traefik == TraefikNone {
		bad("publish", "with no Traefik labels (traefik none, or auto finding no Traefik to route by) the mirror must publish a port, or nothing can reach it")
	}

	for i, c := range v.Constraints {
		switch {
		case strings.ContainsFunc(c, unicode.IsControl) || !utf8.ValidString(c):
			bad("constraints", "constraint %d %q contains control characters or newlines", i+1, c)
		case !constraintRE.MatchString(c):
			bad("constraints", "constraint %d %q: want <attribute>==<value> or <attribute>!=<value>", i+1, c)
		}
	}
	if v.Replicas < 1 || v.Replicas > 100 {
		bad("replicas", "%d: want 1-100", v.Replicas)
	}
	errs = append(errs, v.validateReplicas()...)
	errs = append(errs, v.validateTLS()...)

	switch {
	case v.UpstreamUsername != "" && v.UpstreamPassword == "":
		bad("upstream_password_file", "a password is needed with upstream user %q (file or environment variable)", v.UpstreamUsername)
	case v.UpstreamUsername == "" && v.UpstreamPassword != "":
		bad("upstream_username", "required when an upstream password is given")
	}
	if v.UpstreamUsername != "" && (strings.ContainsFunc(v.UpstreamUsername, unicode.IsControl) || !utf8.ValidString(v.UpstreamUsername) || len(v.UpstreamUsername) > 256) {
		bad("upstream_username", "%q contains control characters or is too long", v.UpstreamUsername)
	}
	if v.UpstreamPassword != "" && (strings.ContainsFunc(v.UpstreamPassword, unicode.IsControl) || !utf8.ValidString(v.UpstreamPassword) || len(v.UpstreamPassword) > 4096) {
		// Never echo the password itself.
		bad("upstream_password_file", "the password contains control characters (a trailing newline is removed), invalid UTF-8, or is too long")
	}

	if v.OTLPEndpoint != "" {
		if err := checkURL(v.OTLPEndpoint); err != nil {
			bad("otlp_endpoint", "%q %v", v.OTLPEndpoint, err)
		} else if !v.RegistryV3() {
			bad("otlp_endpoint", "needs a registry:3 image (registry:2 has no OpenTelemetry); image is %q", v.Image)
		}
	}
	if v.TTL != "" {
		d, err := time.ParseDuration(v.TTL)
		switch {
		case err != nil:
			bad("ttl", "%q is not a duration (like 168h)", v.TTL)
		case d < 0:
			bad("ttl", "%q is negative", v.TTL)
		case !v.RegistryV3():
			bad("ttl", "needs a registry:3 image (registry:2 keeps cached content 7 days, fixed); image is %q", v.Image)
		}
	}
	return errors.Join(errs...)
}

// checkFQDN applies RFC 1123 host name syntax: dot-separated labels of
// letters, digits and hyphens, 1-63 each, 253 in all, no trailing dot.
func checkFQDN(s string) error {
	if len(s) > 253 {
		return errors.New("is longer than 253 characters")
	}
	for _, l := range strings.Split(s, ".") {
		if !labelRE.MatchString(l) {
			return errors.New("is not a host name (RFC 1123: labels of letters, digits and inner hyphens, separated by dots)")
		}
	}
	return nil
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) || !utf8.ValidString(s) {
		return errors.New("contains spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must start with http:// or https://")
	case u.User != nil:
		return errors.New("must not contain user:password (give credentials separately)")
	case u.Host == "" || u.Opaque != "":
		return errors.New("has no host")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return errors.New("must not have a query or fragment")
	case strings.ContainsAny(s, `"'\`+"`"+`$;&|<>{}`):
		return errors.New("contains characters a registry URL never has")
	}
	host := u.Hostname()
	if strings.HasPrefix(host, "[") || strings.Contains(host, ":") {
		return nil // IPv6 literal, already parsed by net/url
	}
	if err := checkFQDN(host); err != nil {
		return fmt.Errorf("host %q %v", host, err)
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("is empty")
	case strings.ContainsFunc(p, unicode.IsControl) || !utf8.ValidString(p):
		return errors.New("contains control characters")
	case strings.ContainsAny(p, `:,"'\`+"`"+`$`):
		return errors.New(`must not contain : , quotes, backslashes, backquotes or $`)
	case !path.IsAbs(p):
		return errors.New("must be an absolute path")
	case path.Clean(p) != p:
		return fmt.Errorf("is not clean (use %q)", path.Clean(p))
	case p == "/":
		return errors.New("must not be /")
	}
	return nil
}
