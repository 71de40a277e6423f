// Package inventory loads swarmctl.yaml: the nodes to reach, how to reach
// them, and the desired mirror state.
package inventory

import (
	"fmt"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
)

// Inventory is one parsed inventory file.
type Inventory struct {
	// Path is the file it was loaded from ("" for ad-hoc hosts only).
	Path     string
	Defaults Defaults
	Mirror   Mirror
	Nodes    []Node
}

// Defaults apply to every node that does not set its own value.
type Defaults struct {
	User       string `yaml:"user"`
	Port       int    `yaml:"port"`
	Key        string `yaml:"key"`
	Sudo       *bool  `yaml:"sudo"`
	KnownHosts string `yaml:"known_hosts"`
	SSHConfig  string `yaml:"ssh_config"`
	Bastion    string `yaml:"bastion"`
}

// Node is one entry of the nodes: list.
type Node struct {
	Host string `yaml:"host"`
	Name string `yaml:"name"`
	User string `yaml:"user"`
	Port int    `yaml:"port"`
	Key  string `yaml:"key"`
	Sudo *bool  `yaml:"sudo"`
	// Role is a hint: manager or worker ("" = learn it from the node).
	Role string `yaml:"role"`
	// Line is where the entry starts in the file (for error messages).
	Line int `yaml:"-"`
}

// Mirror is the desired registry mirror, declared once: what `mirror
// install` deploys and `nodes configure` points the nodes at. Each field's
// tags say everything about it: its key under mirror: in the inventory
// (yaml), the flag that overrides it with its help text (flag, usage;
// {default} stands for its default, see stack.DefaultValues; no flag tag:
// no flag), and its name in JSON output (json; "-" = not shown). A new
// setting is one field here, its validation (stack.Values.Validate) and
// its use in the templates. Zero values mean "default".
type Mirror struct {
	// URL nodes put in registry-mirrors, e.g. https://mirror.example.com.
	// Defaults to https://<FQDN>.
	URL string `yaml:"url" json:"url,omitempty" flag:"url" usage:"mirror URL the nodes use (default https://<fqdn>)"`
	// FQDN the mirror is served at (Traefik Host rule).
	FQDN string `yaml:"fqdn" json:"fqdn,omitempty" flag:"fqdn" usage:"host name the mirror is served at (Traefik Host rule)"`
	// Insecure also lists an http mirror in insecure-registries (nodes
	// configure has its own --insecure).
	Insecure bool `yaml:"insecure" json:"-"`

	// RemoteURL is the upstream registry the cache pulls through from.
	RemoteURL string `yaml:"remote_url" json:"remote_url" flag:"remote-url" usage:"upstream registry the cache pulls through from"`
	// Image is the registry image; a tag of major version 3 selects the
	// registry:3 layout (config path, proxy.ttl).
	Image     string `yaml:"image" json:"image" flag:"image" usage:"registry image (a :3 tag selects the registry:3 layout)"`
	StackName string `yaml:"stack" json:"stack" flag:"stack" usage:"stack name"`
	// Traefik is auto (the default: the Traefik the swarm runs, decided at
	// install time), v1 (the recipe's labels), v2, v3 or none.
	Traefik string `yaml:"traefik" json:"traefik" flag:"traefik" usage:"Traefik labels: auto (as the swarm's Traefik) | v1 | v2 | v3 | none"`
	// Network is the external overlay network Traefik reaches the service
	// on. Unused (no network at all) when Traefik is none.
	Network      string `yaml:"network" json:"network,omitempty" flag:"network" usage:"external overlay network Traefik reaches the registry on"`
	Entrypoint   string `yaml:"entrypoint" json:"entrypoint,omitempty" flag:"entrypoint" usage:"Traefik v2/v3 entrypoint"`
	CertResolver string `yaml:"cert_resolver" json:"cert_resolver,omitempty" flag:"cert-resolver" usage:"Traefik v2/v3 certificate resolver"`
	// Publish is the published port: 0 = not published (Traefik only).
	// Without the key (PublishSet false) the recipe's 5000 applies.
	Publish     int      `yaml:"publish" json:"publish" flag:"publish" usage:"published port, 0 = do not publish"`
	PublishMode string   `yaml:"publish_mode" json:"publish_mode,omitempty" flag:"publish-mode" usage:"ingress (routing mesh) | host (only where the task runs)"`
	Constraints []string `yaml:"constraints" json:"constraints,omitempty" flag:"constraint" usage:"placement constraint like node.role==manager (repeatable)"`
	Replicas    int      `yaml:"replicas" json:"replicas" flag:"replicas" usage:"registry replicas"`
	// TTL of cached content (registry:3 only), a Go duration like 168h.
	TTL string `yaml:"ttl" json:"ttl,omitempty" flag:"ttl" usage:"cache TTL, registry:3 only (default 168h; 0 = never expire)"`
	// OTLPEndpoint turns registry:3's OpenTelemetry tracing on, toward
	// this OTLP/HTTP endpoint (off without it).
	OTLPEndpoint string `yaml:"otlp_endpoint" json:"otlp_endpoint,omitempty" flag:"otlp-endpoint" usage:"OTLP/HTTP endpoint for registry:3 traces (default: off)"`
	StackFile    string `yaml:"stack_file" json:"stack_file" flag:"stack-file" usage:"stack file path on the manager"`
	ConfigFile   string `yaml:"config_file" json:"config_file" flag:"config-file" usage:"registry config path on the manager"`
	DataDir      string `yaml:"data_dir" json:"data_dir" flag:"data-dir" usage:"registry data directory on the manager (shared storage)"`
	// Manager is where to deploy from (each command has its own --manager).
	Manager          string `yaml:"manager" json:"-"`
	UpstreamUsername string `yaml:"upstream_username" json:"upstream_username,omitempty" flag:"upstream-username" usage:"user for the upstream registry"`
	// The upstream password is never stored in the inventory itself: name a
	// file (mode 0600 advised) or an environment variable that holds it.
	UpstreamPasswordFile string `yaml:"upstream_password_file" json:"-" flag:"upstream-password-file" usage:"file holding the upstream password"`
	UpstreamPasswordEnv  string "yaml:\"upstream_password_env\" json:\"-\" flag:\"upstream-password-env\" usage:\"`NAME` of the environment variable holding the upstream password\""
	// DeleteEnabled sets the registry's storage.delete.enabled (absent =
	// true, as the recipe; expiry and cleanup need it).
	DeleteEnabled *bool `yaml:"delete_enabled" json:"delete_enabled,omitempty" flag:"delete-enabled" usage:"registry storage.delete.enabled (expiry and cleanup need it)"`

	// Registries are the upstreams mirrored, one pull-through cache each
	// (absent = docker.io alone, the recipe). The top-level remote_url and
	// upstream_* keys describe docker.io's entry.
	Registries []Registry "yaml:\"registries\" json:\"registries,omitempty\" flag:\"registry\" usage:\"upstream to mirror, `NAME[=REMOTE_URL]` (repeatable; default docker.io)\""
	// ReplicaNodes are the swarm nodes (hostnames) that run one independent
	// cache each when replicas > 1; an inventory node of that name (or
	// host) gives the address in the replica's URL.
	ReplicaNodes []string `yaml:"replica_nodes" json:"replica_nodes,omitempty" flag:"replica-node" usage:"swarm node (hostname) running a cache of each upstream (repeatable)"`
	// CAFile is a PEM file of one or more CA certificates the nodes trust
	// the mirror with (certs.d/<mirror host>/ca.crt).
	CAFile string `yaml:"ca_file" json:"ca_file,omitempty" flag:"ca-file" usage:"PEM file of the CA certificates nodes trust the mirror with"`
	// TLSCert and TLSKey make the registry serve HTTPS itself (traefik:
	// none); both go to the swarm as secrets, the key is never printed.
	TLSCert string `yaml:"tls_cert" json:"tls_cert,omitempty" flag:"tls-cert" usage:"certificate chain (PEM) the registry serves HTTPS with (traefik none)"`
	TLSKey  string `yaml:"tls_key" json:"tls_key,omitempty" flag:"tls-key" usage:"private key (PEM) of --tls-cert; never printed"`

	// PublishSet reports that the file (or a flag) set publish, so that
	// publish: 0 ("not published") differs from no key (default 5000).
	PublishSet bool `yaml:"-" json:"-"`
	// Source is the inventory file the section came from and Lines the line
	// of each key in it, for file:line errors ("" / nil for what flags set).
	Source string         `yaml:"-" json:"-"`
	Lines  map[string]int `yaml:"-" json:"-"`
}

// UnmarshalYAML decodes the mirror section, noting whether publish was
// given and refusing a port outside 0-65535 at its line.
func (m *Mirror) UnmarshalYAML(n *yaml.Node) error {
	type plain Mirror
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*m = Mirror(p)
	m.Lines = map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		m.Lines[k.Value] = k.Line
		if k.Value == "registries" {
			if err := checkRegistries(m.Registries); err != nil {
				return err
			}
		}
		if k.Value != "publish" || v.ShortTag() == "!!null" {
			continue
		}
		m.PublishSet = true
		if m.Publish < 0 || m.Publish > 65535 {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf(
				"line %d: mirror.publish %d: want a port 1-65535, or 0 to not publish (omit the key for the default 5000)", v.Line, m.Publish)}}
		}
	}
	return nil
}

// Resolve makes a relative path from the inventory relative to the
// inventory file's directory, so an inventory works from any cwd.
func (inv *Inventory) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || inv.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(inv.Path), p)
}
