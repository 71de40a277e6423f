package inventory

import (
	"fmt"
	"reflect"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
)

// Registry is one upstream of mirror.registries: the registry nodes pull
// from and how its pull-through cache reaches it. Zero values mean
// "default" (see stack.Values.Endpoints).
type Registry struct {
	// Registry is host[:port] as image references spell it, normalised:
	// index.docker.io and registry-1.docker.io are docker.io.
	Registry string `yaml:"registry" json:"registry"`
	// RemoteURL is the upstream the cache pulls from (default
	// https://registry-1.docker.io for docker.io, else https://<registry>).
	RemoteURL string `yaml:"remote_url" json:"remote_url,omitempty"`
	Username  string `yaml:"username" json:"username,omitempty"`
	// The password is never in the inventory itself: a file or the name
	// of an environment variable holds it.
	PasswordFile string `yaml:"password_file" json:"-"`
	PasswordEnv  string `yaml:"password_env" json:"-"`
	// URL overrides the URL nodes use for this upstream's cache.
	URL string `yaml:"url" json:"url,omitempty"`
	// Publish pins the port published for this upstream's cache (default:
	// mirror.publish for docker.io, publish+1, +2, ... for the others in
	// list order), so removing an upstream does not move the next one.
	Publish int `yaml:"publish" json:"publish,omitempty"`
	// Line is where the entry starts in the inventory (0: from a flag).
	Line int `yaml:"-" json:"-"`
}

// UnmarshalYAML decodes one entry: a mapping of the keys above, or just the
// registry name as a string. Unknown keys, a name that is not host[:port],
// two password sources and a port out of range are errors at their line.
func (r *Registry) UnmarshalYAML(n *yaml.Node) error {
	lineErr := func(line int, format string, a ...any) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: mirror.registries: ", line) + fmt.Sprintf(format, a...)}}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		r.Registry = n.Value
	case yaml.MappingNode:
		known := map[string]bool{}
		var names []string
		t := reflect.TypeOf(Registry{})
		for i := 0; i < t.NumField(); i++ {
			if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "-" {
				known[k] = true
				names = append(names, k)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !known[k.Value] {
				return lineErr(k.Line, "unknown key %q (known: %s)", k.Value, strings.Join(names, ", "))
			}
		}
		type plain Registry
		var p plain
		if err := n.Decode(&p); err != nil {
			return err
		}
		*r = Registry(p)
	default:
		return lineErr(n.Line, "each entry is a registry name or a mapping with registry: (and remote_url, username, password_file, password_env, url, publish)")
	}
	r.Line = n.Line
	if err := r.normalise(); err != nil {
		return lineErr(n.Line, "%v", err)
	}
	return nil
}

// normalise checks the entry on its own and spells its name as dockerd
// looks it up.
func (r *Registry) normalise() error {
	name, err := hoststoml.NormalizeRegistry(r.Registry)
	if err != nil {
		if r.Registry == "" {
			return fmt.Errorf("an entry has no registry (the name nodes pull from, like ghcr.io)")
		}
		return err
	}
	r.Registry = name
	if r.PasswordFile != "" && r.PasswordEnv != "" {
		return fmt.Errorf("%s: set password_file or password_env, not both", name)
	}
	if r.Publish < 0 || r.Publish > 65535 {
		return fmt.Errorf("%s: publish %d: want a port 1-65535", name, r.Publish)
	}
	return nil
}

// checkRegistries refuses the same registry twice (after normalisation).
func checkRegistries(regs []Registry) error {
	seen := map[string]int{}
	for _, r := range regs {
		if first, dup := seen[r.Registry]; dup {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: mirror.registries: duplicate registry %s (first at line %d)", r.Line, r.Registry, first)}}
		}
		seen[r.Registry] = r.Line
	}
	return nil
}

// ParseRegistryFlag reads one --registry value, NAME or NAME=REMOTE_URL.
// Credentials never come from a flag: only the inventory names them.
func ParseRegistryFlag(s string) (Registry, error) {
	if strings.ContainsAny(s, "\r\n") {
		return Registry{}, fmt.Errorf("--registry %q contains a line break", s)
	}
	name, remote, hasRemote := strings.Cut(strings.TrimSpace(s), "=")
	r := Registry{Registry: strings.TrimSpace(name), RemoteURL: strings.TrimSpace(remote)}
	if hasRemote && r.RemoteURL == "" {
		return Registry{}, fmt.Errorf("--registry %q: nothing after '=' (want NAME or NAME=REMOTE_URL)", s)
	}
	if err := r.normalise(); err != nil {
		return Registry{}, fmt.Errorf("--registry %q: %v", s, err)
	}
	return r, nil
}

// OverlayRegistries is the registries list when --registry flags give
// regs: their list, in their order, each name keeping the inventory's
// settings for it (credentials, url, publish, and remote_url unless the
// flag gives one). The same name twice is an error.
func OverlayRegistries(inv, regs []Registry) ([]Registry, error) {
	out := make([]Registry, 0, len(regs))
	seen := map[string]bool{}
	for _, r := range regs {
		if seen[r.Registry] {
			return nil, fmt.Errorf("--registry %s given twice", r.Registry)
		}
		seen[r.Registry] = true
		merged := r
		for _, ir := range inv {
			if ir.Registry == r.Registry {
				merged = ir
				if r.RemoteURL != "" {
					merged.RemoteURL = r.RemoteURL
				}
			}
		}
		out = append(out, merged)
	}
	return out, nil
}
