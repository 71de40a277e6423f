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

	RemoteURL    string `yaml:"remote_url"`
	Image        string `yaml:"image"`
	Stack        string `yaml:"stack"`
	Traefik      string `yaml:"traefik"`
	Network      string `yaml:"network"`
	Entrypoint   string `yaml:"entrypoint"`
	CertResolver string `yaml:"cert_resolver"`
	// Publish is the published port: 0 = not published (Traefik only).
	// Without the key (PublishSet false) the recipe's 5000 applies.
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
	// DeleteEnabled sets the registry's storage.delete.enabled (absent =
	// true, as the recipe; expiry and cleanup need it).
	DeleteEnabled *bool `yaml:"delete_enabled"`

	// PublishSet reports that the file (or a flag) set publish, so that
	// publish: 0 ("not published") differs from no key (default 5000).
	PublishSet bool `yaml:"-"`
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
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
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
