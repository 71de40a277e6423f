// Package hoststoml edits the containerd hosts.toml files that dockerd reads
// from /etc/docker/certs.d/<registry>/ the way internal/daemonjson edits
// daemon.json: bytes in, bytes out, no I/O. Callers read the file, call
// Apply or Remove, show Result.Changes and Result.Warnings, and write
// Result.Out (or delete the file when Result.Delete).
//
// # What dockerd and containerd actually do
//
// Read in moby (master after docker-v29.7.2, and the tags v28.0.0 to
// docker-v29.7.0) and containerd (main after v2.4.0-beta.0); function names
// are theirs, nothing here is copied from them.
//
// Which engines read hosts.toml. moby daemon/hosts.go (Daemon.RegistryHosts,
// first in v28.0.0) builds the registry hosts for a pull with containerd's
// config.ConfigureHosts and HostDir: config.HostDirFromRoot(registry.CertsDir()).
// registry.CertsDir (daemon/pkg/registry/config.go) is /etc/docker/certs.d
// (rootless: $XDG_CONFIG_HOME/docker/certs.d). RegistryHosts is what the
// containerd image store's resolver uses (daemon/containerd/resolver.go) and
// what BuildKit uses in both image stores; a classic-store `docker pull`
// never reads hosts.toml. Docker 25 to 27 with the containerd store built the
// hosts from daemon.json and the certs.d/<host>/*.crt files, never from
// hosts.toml (v27.5.0 daemon/daemon.go RegistryHosts).
//
// Which directory. containerd's resolver asks for the reference's domain
// (core/remotes/docker/resolver.go: refspec.Hostname()), after distribution
// reference normalisation (splitDockerDomain turns index.docker.io into
// docker.io). So Docker Hub is /etc/docker/certs.d/docker.io/, never
// index.docker.io/ or registry-1.docker.io/. HostDirFromRoot (config_unix.go
// hostPaths) tries, in order, "<host>_<port>_" (hostDirectory turns the last
// ":port" into "_port_"), "<host>:<port>", then "_default", and takes the
// first DIRECTORY that exists, whether or not it holds a hosts.toml: a
// registry directory holding only ca.crt hides _default/hosts.toml. See
// LookupDirs.
//
// How hosts.toml is read (core/remotes/docker/config/hosts.go). loadHostDir:
// an empty hosts.toml (zero bytes) or none means "use the directory's
// *.crt, *.cert/*.key" (loadCertFiles); a file that does not decode, or
// holds a value parseHostConfig rejects (an unknown capability, a `ca` that
// is not a string or list, a bad URL or duration), is logged ("failed to
// decode") and IGNORED as a whole, falling back to those cert files: a
// broken hosts.toml is silent. Once a non-empty hosts.toml is read, the
// directory's cert files are no longer loaded for the server; only
// `ca`/`client` in the file count (Desired.CertFiles keeps them when
// swarmctl creates the file). mergeLegacyConfig's own loadTLSConfig does
// not make up for it: it only runs for a transport without a TLS config,
// and ConfigureHosts always sets one.
// parseHostsFile decodes with go-toml/v2 Unmarshal (unknown keys ignored,
// duplicates and type errors fatal) into: top-level `server` plus the same
// per-host keys at top level for the server; `[host."<url>"]` tables with
// `capabilities` (pull, resolve, push, and referrers only from containerd
// 2.2, i.e. Docker 29.1: any other value rejects the file), `ca` (string or
// list; relative paths are joined to the directory), `client` (string,
// list, or list of [cert, key] pairs), `skip_verify`, `header` (table of
// string or list of strings), `override_path`, and `dial_timeout` (from
// containerd 2.1, Docker 28.3; ignored before). A host or server without
// "http" at the start gets "https://"; a URL path gets "/v2" appended unless
// it already ends so or override_path is set (parseHostConfig).
// getSortedHosts orders the hosts by their `[host.X...]` table headers in
// file order (go-toml's unstable parser): hosts written as dotted keys or an
// inline table are decoded but never tried, and a `[host.X.header]` table
// that is not right after `[host.X]` lists X twice. The resolver then tries
// the hosts in that order and the server last; with no `server`, the server
// is the registry itself over https (docker.io: https://registry-1.docker.io;
// localhost and loopback addresses: http unless the port is 443 or absent).
//
// How daemon.json combines with it. Daemon.RegistryHosts calls
// mergeLegacyConfig when daemon.json has registry-mirrors or
// insecure-registries. mergeLegacyConfig returns the hosts untouched when
// ConfigureHosts gave more than one: "two or more endpoints" counts the
// server, so ANY hosts.toml with at least one [host."..."] table makes
// dockerd ignore, for that registry, both daemon.json's registry-mirrors
// (they only ever apply to docker.io, mirrorsToRegistryHosts) and its
// insecure-registries (no TLS skip, no http fallback for the registry or
// the mirrors). A hosts.toml with only `server` (one endpoint) leaves them
// in force. `docker info` still shows daemon.json's mirrors either way.
// See Check.
//
// # Ownership
//
// swarmctl marks each [host."..."] table it owns with a comment line
// directly above the header (MarkerTable) and a file it creates with a first
// line (MarkerFile). The mark travels with the table when a person moves it,
// so Remove takes out exactly swarmctl's tables wherever they are. A table
// for the same endpoint without the mark is the user's: Apply keeps it and
// does not add its own (Change "kept"), Remove leaves it.
//
// # Order
//
// containerd tries hosts in file order, then the server. swarmctl's tables
// stay together, in the desired order (issue 15: the node's own replica
// first). The group sits where swarmctl's first table already is (so a
// person may move it below their own hosts and it stays there), else before
// the first foreign [host."..."] table (a new mirror is tried first), else at
// the end. Foreign tables keep their order and bytes.
//
// # What is kept
//
// Every byte outside swarmctl's tables is kept as it was: comments, key
// order, quoting, CRLF line ends, blank lines. Inside swarmctl's tables,
// whole-line comments a person added are kept (moved in front of the group
// if the table moves); trailing comments on swarmctl's own key lines and
// keys a person added to swarmctl's tables are rewritten away, as the
// marker says. A [host."<swarmctl's>".header] sub-table cannot be kept apart
// from its table: Apply and Remove refuse.
//
// The TOML library is github.com/pelletier/go-toml/v2, the one containerd
// itself parses hosts.toml with (Docker 28 and 29 vendor v2.2.x): its
// Unmarshal decides what is valid exactly as the engine does, and its
// unstable parser gives the byte ranges that let swarmctl splice its tables
// into a file without re-rendering anything it does not own.
package hoststoml
