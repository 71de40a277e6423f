package hoststoml

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// CertsDir is where dockerd (rootful, Linux) looks for per-registry
// configuration: moby daemon/pkg/registry CertsDir.
const CertsDir = "/etc/docker/certs.d"

// DockerHub is the registry name under which dockerd looks up Docker Hub's
// hosts.toml: the domain of a normalised reference (docker.io/library/x).
const DockerHub = "docker.io"

// containerd uses https://registry-1.docker.io for docker.io when
// hosts.toml has no server (config.ConfigureHosts).

// dockerHubAliases are names people write for Docker Hub. Images are
// referenced (and so looked up) as docker.io; these names would otherwise
// give a directory dockerd never reads for Hub images.
var dockerHubAliases = map[string]bool{
	"docker.io":            true,
	"index.docker.io":      true,
	"registry-1.docker.io": true,
}

// RegistryError is a registry name that cannot name a certs.d directory
// dockerd would read.
type RegistryError struct {
	Name string
	Rule string
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("invalid registry %q: %s", e.Name, e.Rule)
}

// NormalizeRegistry validates a registry name as image references spell
// their domain (host[:port], a DNS name, an IPv4 address, [IPv6] or
// localhost) and returns the name of the directory dockerd reads for it:
// the Docker Hub names docker.io, index.docker.io and registry-1.docker.io
// all give "docker.io". A name without '.', ':' and other than localhost is
// refused: in an image reference it is a Docker Hub namespace, not a
// registry. Upper case is refused too: dockerd looks the directory up by
// the name exactly as the image reference spells it.
func NormalizeRegistry(name string) (string, error) {
	bad := func(rule string) (string, error) { return "", &RegistryError{Name: name, Rule: rule} }
	switch {
	case name == "":
		return bad("empty")
	case strings.Contains(name, "://"):
		return bad("a registry name, not a URL: write " + hostOfURL(name))
	case strings.ContainsAny(name, "/\\"):
		return bad("a registry is host[:port], without a path")
	case name == "_default":
		return bad("_default is containerd's fallback for every registry, not a registry")
	case strings.ToLower(name) != name:
		return bad("write it in lower case (" + strings.ToLower(name) + "): dockerd looks certs.d/<registry> up as image references spell it")
	}
	if dockerHubAliases[name] {
		return DockerHub, nil
	}
	host, port, err := splitHostPort(name)
	if err != nil {
		return bad(err.Error())
	}
	if !strings.HasPrefix(host, "[") {
		if err := checkDNSName(host); err != nil {
			return bad(err.Error())
		}
		if port == "" && !strings.Contains(host, ".") && host != "localhost" {
			return bad("an image reference reads a name without '.' or ':port' as a Docker Hub namespace: give a domain (" + host + ".example.com) or host:port")
		}
	}
	return name, nil
}

// splitHostPort splits host[:port] where host may be an [IPv6] literal.
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("unclosed '[' in IPv6 address")
		}
		host, rest := s[:end+1], s[end+1:]
		inner := host[1:end]
		if inner == "" || strings.Trim(inner, "0123456789abcdef:") != "" {
			return "", "", fmt.Errorf("%s is not an IPv6 address", host)
		}
		if rest == "" {
			return host, "", nil
		}
		if rest[0] != ':' {
			return "", "", fmt.Errorf("unexpected %q after the IPv6 address", rest)
		}
		return host, rest[1:], checkPort(rest[1:])
	}
	host, port, found := strings.Cut(s, ":")
	if !found {
		return s, "", nil
	}
	return host, port, checkPort(port)
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
		return fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return nil
}

// checkDNSName accepts lower-case DNS labels (letters, digits, inner '-')
// joined by single dots, which also covers IPv4 addresses.
func checkDNSName(h string) error {
	if h == "" {
		return fmt.Errorf("no host")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return fmt.Errorf("host %q has an empty label (leading, trailing or double '.')", h)
		}
		if len(label) > 63 {
			return fmt.Errorf("host %q has a label longer than 63 characters", h)
		}
		for i, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(label)-1
			if !ok {
				return fmt.Errorf("host %q: %q is not allowed there (letters, digits, inner '-')", h, r)
			}
		}
	}
	return nil
}

func hostOfURL(s string) string {
	_, rest, _ := strings.Cut(s, "://")
	host, _, _ := strings.Cut(rest, "/")
	return host
}

// Dir is the directory dockerd reads for a registry (as NormalizeRegistry
// returns it): /etc/docker/certs.d/<host[:port]>. It is the name Docker's
// own documentation uses for certificates; see LookupDirs for a directory
// that would take precedence.
func Dir(registry string) string { return path.Join(CertsDir, registry) }

// HostsPath is Dir(registry)/hosts.toml.
func HostsPath(registry string) string { return path.Join(Dir(registry), "hosts.toml") }

// CAPath is where a CA certificate for host[:port] goes by Docker's
// convention, /etc/docker/certs.d/<host[:port]>/ca.crt. For a mirror with a
// company CA, pass it as Mirror.CAPath: with a hosts.toml, containerd reads
// only the `ca` it names, never the mirror's own certs.d directory.
func CAPath(host string) string { return path.Join(Dir(host), "ca.crt") }

// LookupDirs lists the directories dockerd tries for a registry, in order;
// the first that EXISTS is used, even without a hosts.toml in it (containerd
// config.HostDirFromRoot). For host:port the "host_port_" spelling comes
// first: if it exists on a node, a hosts.toml written to Dir(registry) is
// never read there. "_default" applies only when neither exists, so writing
// Dir(registry) also takes the registry out of a _default/hosts.toml.
func LookupDirs(registry string) []string {
	var dirs []string
	if i := strings.LastIndexByte(registry, ':'); i > 0 {
		dirs = append(dirs, path.Join(CertsDir, registry[:i]+"_"+registry[i+1:]+"_"))
	}
	return append(dirs, Dir(registry), path.Join(CertsDir, "_default"))
}
