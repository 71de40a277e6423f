package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/textdiff"
)

// FileChange is one rendered file compared with the manager's copy.
type FileChange struct {
	Path   string      `json:"path"`
	Mode   fs.FileMode `json:"mode"`
	Exists bool        `json:"exists"`
	// Changed: the content differs (or the file is missing).
	Changed bool `json:"changed"`
	// Diff is a unified diff with secrets redacted ("" when unchanged).
	Diff string `json:"diff,omitempty"`
	// SecretChanged: only a hidden value (the password) differs, so Diff
	// shows nothing but the file still gets written.
	SecretChanged bool `json:"secret_changed,omitempty"`
	// ModeWrong: a secret file exists with a mode other than 0600.
	ModeWrong  bool   `json:"mode_wrong,omitempty"`
	RemoteMode string `json:"remote_mode,omitempty"`
	Secret     bool   `json:"secret,omitempty"`
}

// Plan is what `mirror install` would do on the manager.
type Plan struct {
	Manager string       `json:"manager"`
	Stack   string       `json:"stack"`
	Service string       `json:"service"`
	Files   []FileChange `json:"files"`

	ServiceExists bool `json:"service_exists"`
	DataDirExists bool `json:"data_dir_exists"`
	// Network is the external network the labels need ("" = none).
	Network       string `json:"network,omitempty"`
	NetworkExists bool   `json:"network_exists,omitempty"`

	// Deploy: `docker stack deploy` runs (stack file changed or service missing).
	Deploy bool `json:"deploy"`
	// Restart: the registry config changed under a running service, whose
	// tasks must restart to read it (`docker service update --force`).
	Restart bool `json:"restart"`
	// Reasons say why Deploy/Restart are set, for humans.
	Reasons []string `json:"reasons"`
}

// Changed reports whether install would change anything on the manager.
func (p Plan) Changed() bool {
	if p.Deploy || p.Restart || !p.DataDirExists || (p.Network != "" && !p.NetworkExists) {
		return true
	}
	for _, f := range p.Files {
		if f.Changed || f.ModeWrong {
			return true
		}
	}
	return false
}

// file returns the change for one path.
func (p Plan) file(path string) (FileChange, bool) {
	for _, f := range p.Files {
		if f.Path == path {
			return f, true
		}
	}
	return FileChange{}, false
}

// ComputePlan reads the manager's current files and swarm state and compares
// them with r. It changes nothing. Diffs never contain a secret: password
// values (ours and whatever the node holds) are redacted.
func ComputePlan(ctx context.Context, h nodes.Host, r Rendered) (Plan, error) {
	v := r.Values
	p := Plan{Manager: h.Name(), Stack: v.StackName, Service: v.Service(), Files: []FileChange{}, Reasons: []string{}}
	secrets := r.Secrets()

	var stackChanged, configChanged bool
	for _, f := range r.Files() {
		fc := FileChange{Path: f.Path, Mode: f.Mode, Secret: f.Secret}
		// A symbolic link planted there is refused, not read: its target
		// would show in the diff, and the write would follow it.
		var old []byte
		err := remote(ctx, "read "+f.Path, func(ctx context.Context) (err error) {
			old, err = nodes.ReadRegularFile(ctx, h, f.Path)
			return err
		})
		var nr *nodes.NotRegularError
		switch {
		case errors.As(err, &nr):
			return Plan{}, fmt.Errorf("%s: %w; remove it, or choose another path (--config-file, --stack-file)", h.Name(), err)
		case errors.Is(err, fs.ErrNotExist):
			fc.Changed = true
		case err != nil:
			return Plan{}, fmt.Errorf("%s: %w", h.Name(), nodes.Unnamed(h.Name(), err)) // "read <path>: ..."
		default:
			fc.Exists = true
			fc.Changed = !bytes.Equal(old, f.Data)
		}
		if fc.Changed {
			oldShown := RedactFile(old, secrets)
			newShown := RedactFile(f.Data, secrets)
			oldName := f.Path
			if !fc.Exists {
				oldName = "/dev/null"
			}
			fc.Diff = textdiff.Unified(oldName, f.Path+" (rendered)", oldShown, newShown, 3)
			fc.SecretChanged = fc.Diff == ""
		}
		if f.Secret && fc.Exists {
			out, err := run(ctx, h, "stat", "-c", "%a", f.Path)
			if err != nil {
				return Plan{}, err
			}
			fc.RemoteMode = strings.TrimSpace(out)
			fc.ModeWrong = fc.RemoteMode != "600"
		}
		if fc.Changed && f.Path == v.StackFile {
			stackChanged = true
		}
		if fc.Changed && f.Path == v.ConfigFile {
			configChanged = true
		}
		p.Files = append(p.Files, fc)
	}

	exists, err := serviceExists(ctx, h, v.Service())
	if err != nil {
		return Plan{}, err
	}
	p.ServiceExists = exists

	if _, err := run(ctx, h, "test", "-d", v.DataDir); err == nil {
		p.DataDirExists = true
	} else if _, ok := exitStatus(err); !ok {
		return Plan{}, err // run names the node and the command
	}

	if v.NeedsNetwork() {
		p.Network = v.Network
		ok, err := networkExists(ctx, h, v.Network)
		if err != nil {
			return Plan{}, err
		}
		p.NetworkExists = ok
	}

	switch {
	case !p.ServiceExists:
		p.Deploy = true
		p.Reasons = append(p.Reasons, fmt.Sprintf("service %s does not exist", p.Service))
	case stackChanged:
		p.Deploy = true
		p.Reasons = append(p.Reasons, v.StackFile+" changed")
	}
	if configChanged && p.ServiceExists {
		p.Restart = true
		p.Reasons = append(p.Reasons, v.ConfigFile+" changed: the running registry must restart to read it")
	}
	return p, nil
}

// serviceExists asks the manager whether the swarm service exists.
func serviceExists(ctx context.Context, h nodes.Host, svc string) (bool, error) {
	_, err := run(ctx, h, "docker", "service", "inspect", "--format", "{{.ID}}", svc)
	if err == nil {
		return true, nil
	}
	if msg, ok := exitStatus(err); ok && strings.Contains(msg, "no such service") {
		return false, nil
	}
	return false, err
}

// networkExists checks the external network the Traefik labels name: it must
// be a swarm-scoped overlay network, or the service cannot join it.
func networkExists(ctx context.Context, h nodes.Host, name string) (bool, error) {
	out, err := run(ctx, h, "docker", "network", "inspect", "--format", "{{.Driver}} {{.Scope}}", name)
	if err != nil {
		if msg, ok := exitStatus(err); ok && (strings.Contains(msg, "no such network") || strings.Contains(msg, "not found")) {
			return false, nil
		}
		return false, err
	}
	if f := strings.Fields(out); len(f) != 2 || f[0] != "overlay" || f[1] != "swarm" {
		return false, fmt.Errorf("%s: network %s is %q, not a swarm overlay network: a swarm service cannot join it (use another --network)", h.Name(), name, strings.TrimSpace(out))
	}
	return true, nil
}

// dirs are the directories install creates.
func dirs(v Values) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range []string{path.Dir(v.StackFile), path.Dir(v.ConfigFile), v.DataDir} {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
