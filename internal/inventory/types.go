// Package inventory loads swarmctl.yaml: the nodes to reach, how to reach
// them, and the desired mirror state.
package inventory

import "path/filepath"

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

// Mirror is the desired registry mirror: what `mirror install` deploys and
// what `nodes configure` points the nodes at. Zero values mean "default".
type Mirror struct {
	// URL nodes put in registry-mirrors, e.g. https://mirror.example.com.
	// Defaults to https://<FQDN>.
	URL string `yaml:"url"`
	// FQDN the mirror is served at (Traefik Host rule).
	FQDN string `yaml:"fqdn"`
	// Insecure also lists an http mirror in insecure-registries.
	Insecure bool `yaml:"insecure"`

	RemoteURL    string   `yaml:"remote_url"`
	Image        string   `yaml:"image"`
	Stack        string   `yaml:"stack"`
	Traefik      string   `yaml:"traefik"`
	Network      string   `yaml:"network"`
	Entrypoint   string   `yaml:"entrypoint"`
	CertResolver string   `yaml:"cert_resolver"`
	Publish      int      `yaml:"publish"`
	PublishMode  string   `yaml:"publish_mode"`
	Constraints  []string `yaml:"constraints"`
	Replicas     int      `yaml:"replicas"`
	TTL          string   `yaml:"ttl"`
	StackFile    string   `yaml:"stack_file"`
	ConfigFile   string   `yaml:"config_file"`
	DataDir      string   `yaml:"data_dir"`
	Manager      string   `yaml:"manager"`
	UpstreamUser string   `yaml:"upstream_username"`
	// The upstream password is never stored in the inventory itself: name a
	// file (mode 0600 advised) or an environment variable that holds it.
	UpstreamPasswordFile string `yaml:"upstream_password_file"`
	UpstreamPasswordEnv  string `yaml:"upstream_password_env"`
}

// Resolve makes a relative path from the inventory relative to the
// inventory file's directory, so an inventory works from any cwd.
func (inv *Inventory) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || inv.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(inv.Path), p)
}
