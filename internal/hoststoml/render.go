package hoststoml

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// The capabilities swarmctl gives a mirror. Never "referrers": containerd
// before 2.2 (Docker before 29.1) refuses the whole file for it.
const mirrorCapabilities = `["pull", "resolve"]`

const (
	tableMarkerLine = MarkerTable + ": pull-through mirror; swarmctl rewrites or removes this table, change its inventory instead"
	fileMarkerFmt   = MarkerFile + ": hosts.toml for %s; swarmctl deletes this file once nothing but its own content is left"
)

// quote writes s as a TOML basic string.
func quote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\u%04X`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// mirrorBlock is one [host."..."] table swarmctl owns, as lines without
// line ends: the marker, the header, the keys.
type mirrorBlock struct {
	key   string // canonical URL, the table's key
	ep    Endpoint
	lines []string
}

func renderMirror(key string, ep Endpoint, m Mirror) mirrorBlock {
	lines := []string{
		tableMarkerLine,
		"[host." + quote(key) + "]",
		"  capabilities = " + mirrorCapabilities,
	}
	if m.CAPath != "" {
		lines = append(lines, "  ca = "+quote(m.CAPath))
	}
	if m.OverridePath {
		lines = append(lines, "  override_path = true")
	}
	return mirrorBlock{key: key, ep: ep, lines: lines}
}

// renderRoot is the top of a file swarmctl creates: the marker, the server
// and, when the directory already holds certificates, the ca and client
// keys that keep them in force (containerd stops reading a directory's
// *.crt, *.cert and *.key once a hosts.toml is there; loadCertFiles).
func renderRoot(registry, server string, certFiles []string) []string {
	lines := []string{fmt.Sprintf(fileMarkerFmt, registry), "server = " + quote(server)}
	dir := Dir(registry)
	names := slices.Clone(certFiles)
	slices.Sort(names)
	var cas, clients []string
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, ".crt"):
			cas = append(cas, quote(path.Join(dir, n)))
		case strings.HasSuffix(n, ".cert"):
			cert := quote(path.Join(dir, n))
			key := strings.TrimSuffix(n, ".cert") + ".key"
			if slices.Contains(names, key) {
				clients = append(clients, "["+cert+", "+quote(path.Join(dir, key))+"]")
			} else {
				clients = append(clients, cert) // the key is in the same file
			}
		}
	}
	if len(cas) > 0 {
		lines = append(lines, "ca = ["+strings.Join(cas, ", ")+"]")
	}
	if len(clients) > 0 {
		lines = append(lines, "client = ["+strings.Join(clients, ", ")+"]")
	}
	return lines
}
