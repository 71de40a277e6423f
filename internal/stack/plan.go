package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

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
	// Diff is a unified diff with secrets redacted ("" when unchanged or
	// Hidden).
	Diff string `json:"diff,omitempty"`
	// SecretChanged: only a hidden value (a password, or the TLS key) differs,
	// so Diff shows nothing but the file still gets written.
	SecretChanged bool `json:"secret_changed,omitempty"`
	// ModeWrong: a secret file exists with a mode other than 0600.
	ModeWrong  bool   `json:"mode_wrong,omitempty"`
	RemoteMode string `json:"remote_mode,omitempty"`
	Secret     bool   `json:"secret,omitempty"`
	Hidden     bool   `json:"hidden,omitempty"`
}

// ServicePlan is one upstream's service.
type ServicePlan struct {
	Registry string `json:"registry"`
	Service  string `json:"service"`
	Exists   bool   `json:"exists"`
	// Mode is the deployed service's mode (replicated or global; "" when
	// it does not exist).
	Mode string `json:"mode,omitempty"`
}

// DirPlan is a directory install creates when missing: on the manager
// (Node "") or on a replica node.
type DirPlan struct {
	Node   string `json:"node,omitempty"`
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
}

// RemovedService is a service of the deployed stack file that the new one
// no longer has (an upstream taken out): docker stack deploy --prune
// removes it; its data directory is kept.
type RemovedService struct {
	Service string `json:"service"`
	DataDir string `json:"data_dir,omitempty"`
}

// Plan is what `mirror install` would do on the manager.
type Plan struct {
	Manager string `json:"manager"`
	Stack   string `json:"stack"`
	// Service is docker.io's service (the first upstream's without it).
	Service  string        `json:"service"`
	Services []ServicePlan `json:"services"`
	Files    []FileChange  `json:"files"`

	// ServiceExists: every upstream's service exists.
	ServiceExists bool `json:"service_exists"`
	// DataDirExists: every data directory exists (DataDirs has each).
	DataDirExists bool      `json:"data_dir_exists"`
	DataDirs      []DirPlan `json:"data_dirs"`
	// Network is the external network the labels need ("" = none).
	Network       string `json:"network,omitempty"`
	NetworkExists bool   `json:"network_exists,omitempty"`
	// Placement: the replica nodes and their label (replica_nodes only).
	Placement *Placement `json:"placement,omitempty"`
	// Removed are services the new stack file drops (--prune removes them).
	Removed []RemovedService `json:"removed,omitempty"`
	// OrphanFiles are registry configs of dropped upstreams on the
	// manager, deleted once the new stack runs.
	OrphanFiles []string `json:"orphan_files,omitempty"`

	// Deploy: `docker stack deploy` runs (stack file changed or a service
	// missing).
	Deploy bool `json:"deploy"`
	// Restart: a registry config changed under a running service whose
	// stack file did not change (a custom template that bind-mounts it):
	// its tasks must restart to read it (`docker service update --force`).
	Restart         bool     `json:"restart"`
	RestartServices []string `json:"restart_services,omitempty"`
	// Recreate are services whose mode changes (one replica <-> replica
	// nodes): swarm cannot change a service's mode, so install removes
	// them before deploying (their data directories stay).
	Recreate []string `json:"recreate,omitempty"`
	// Reasons say why Deploy/Restart are set, for humans.
	Reasons []string `json:"reasons"`
}

// Changed reports whether install would change anything on the manager.
func (p Plan) Changed() bool {
	if p.Deploy || p.Restart || len(p.Recreate) > 0 || !p.DataDirExists || (p.Network != "" && !p.NetworkExists) || len(p.OrphanFiles) > 0 {
		return true
	}
	if p.Placement != nil && (len(p.Placement.Label) > 0 || len(p.Placement.Unlabel) > 0) {
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

// ComputePlan reads the manager's current files and swarm state (and the
// replica nodes' data directories through o.NodeHost) and compares them
// with r. It changes nothing. Diffs never contain a secret: password
// values (ours and whatever the node holds) are redacted, the TLS key is
// never diffed. A replica node that is not in the swarm, not ready or not
// reachable is a *PlacementError.
func ComputePlan(ctx context.Context, h nodes.Host, r Rendered, o InstallOptions) (Plan, error) {
	v := r.Values
	p := Plan{Manager: h.Name(), Stack: v.StackName, Service: r.Endpoints[0].Service, Files: []FileChange{}, Reasons: []string{},
		Services: []ServicePlan{}, DataDirs: []DirPlan{}}
	for _, e := range r.Endpoints {
		if e.Registry == DockerHub {
			p.Service = e.Service
		}
	}
	secrets := r.Secrets()

	var stackChanged bool
	var oldStack []byte
	changedConfig := map[string]bool{}
	for _, f := range r.Files() {
		fc := FileChange{Path: f.Path, Mode: f.Mode, Secret: f.Secret, Hidden: f.Hidden}
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
		if f.Path == v.StackFile {
			oldStack = old
		}
		switch {
		case fc.Changed && f.Hidden:
			fc.SecretChanged = true
		case fc.Changed:
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
		if fc.Changed && f.Registry != "" {
			changedConfig[f.Registry] = true
		}
		p.Files = append(p.Files, fc)
	}

	p.ServiceExists = true
	want := ModeReplicated
	if v.PerNode() {
		want = ModeGlobal
	}
	for _, e := range r.Endpoints {
		mode, err := serviceMode(ctx, h, e.Service)
		if err != nil {
			return Plan{}, err
		}
		sp := ServicePlan{Registry: e.Registry, Service: e.Service, Exists: mode != "", Mode: mode}
		p.Services = append(p.Services, sp)
		p.ServiceExists = p.ServiceExists && sp.Exists
		if sp.Exists && mode != want {
			p.Recreate = append(p.Recreate, e.Service)
			p.Reasons = append(p.Reasons, fmt.Sprintf("%s runs %s and must run %s: swarm cannot change that, so it is removed and created again (data kept)", e.Service, mode, want))
		}
	}

	if v.PerNode() {
		pl, err := planPlacement(ctx, h, v)
		if err != nil {
			return Plan{}, err
		}
		p.Placement = pl
	}
	if err := p.planDataDirs(ctx, h, r, o); err != nil {
		return Plan{}, err
	}

	if v.NeedsNetwork() {
		p.Network = v.Network
		ok, err := networkExists(ctx, h, v.Network)
		if err != nil {
			return Plan{}, err
		}
		p.NetworkExists = ok
	}

	if stackChanged && oldStack != nil {
		p.Removed, p.OrphanFiles = dropped(oldStack, r)
	}
	for _, s := range p.Services {
		if !s.Exists {
			p.Deploy = true
			p.Reasons = append(p.Reasons, fmt.Sprintf("service %s does not exist", s.Service))
		}
	}
	if stackChanged {
		p.Deploy = true
		p.Reasons = append(p.Reasons, v.StackFile+" changed")
	}
	for _, rm := range p.Removed {
		msg := fmt.Sprintf("%s is no longer in the stack: --prune removes it", rm.Service)
		if rm.DataDir != "" {
			msg += fmt.Sprintf(" (its data directory %s is kept)", rm.DataDir)
		}
		p.Reasons = append(p.Reasons, msg)
	}
	if !stackChanged {
		for i, e := range r.Endpoints {
			if changedConfig[e.Registry] && p.Services[i].Exists {
				p.Restart = true
				p.RestartServices = append(p.RestartServices, e.Service)
				p.Reasons = append(p.Reasons, e.ConfigFile+" changed: the running registry must restart to read it")
			}
		}
	}
	return p, nil
}

// planDataDirs lists the data directories and whether they exist: with one
// replica on the manager (the recipe's shared storage), with replica
// nodes on each of them.
func (p *Plan) planDataDirs(ctx context.Context, h nodes.Host, r Rendered, o InstallOptions) error {
	p.DataDirExists = true
	for _, e := range r.Endpoints {
		for _, rep := range e.Replicas {
			nh := h
			if rep.Node != "" {
				if nh = o.nodeHost(h, rep.Node); nh == nil {
					return &PlacementError{Msg: fmt.Sprintf("replica node %s is not connected, so its data directory %s cannot be created: list it in the inventory's nodes (name or host %s)", rep.Node, rep.DataDir, rep.Node)}
				}
			}
			d := DirPlan{Node: rep.Node, Path: rep.DataDir}
			exists, err := dirExists(ctx, nh, rep.DataDir)
			if err != nil {
				return err
			}
			d.Exists = exists
			p.DataDirExists = p.DataDirExists && exists
			p.DataDirs = append(p.DataDirs, d)
		}
	}
	return nil
}

// dirExists asks h whether dir is a directory.
func dirExists(ctx context.Context, h nodes.Host, dir string) (bool, error) {
	_, err := run(ctx, h, "test", "-d", dir)
	if err == nil {
		return true, nil
	}
	if _, ok := exitStatus(err); ok {
		return false, nil
	}
	return false, err
}

// deployedStack is the part of a deployed stack file dropped() reads.
type deployedStack struct {
	Services map[string]struct {
		Volumes []struct {
			Type   string `yaml:"type"`
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"volumes"`
	} `yaml:"services"`
	Configs map[string]struct {
		File string `yaml:"file"`
	} `yaml:"configs"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// dropped compares the deployed stack file with r: the services it has
// that r does not (with their data directories), and the files its
// configs and secrets were made from that r no longer writes. A file that
// does not parse drops nothing.
func dropped(old []byte, r Rendered) (removed []RemovedService, orphans []string) {
	var d deployedStack
	if yaml.Unmarshal(old, &d) != nil {
		return nil, nil
	}
	keep := map[string]bool{}
	for _, e := range r.Endpoints {
		keep[e.ServiceKey] = true
	}
	var keys []string
	for k := range d.Services {
		if !keep[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		rm := RemovedService{Service: r.Values.StackName + "_" + k}
		for _, vol := range d.Services[k].Volumes {
			if vol.Type == "bind" && vol.Target == "/var/lib/registry" {
				rm.DataDir = strings.TrimSuffix(vol.Source, "/{{.Node.Hostname}}")
			}
		}
		removed = append(removed, rm)
	}
	files := map[string]bool{}
	for _, f := range r.Files() {
		files[f.Path] = true
	}
	seen := map[string]bool{}
	for _, f := range ownFiles(d, r.Values) {
		if !files[f] && !seen[f] {
			seen[f] = true
			orphans = append(orphans, f)
		}
	}
	slices.Sort(orphans)
	return removed, orphans
}

// ownFiles are the files the deployed stack's configs and secrets were
// made from that swarmctl wrote: those in the directory it writes them to
// (beside config_file). Any other path the file names is left alone.
func ownFiles(d deployedStack, v Values) []string {
	dir := path.Dir(v.ConfigFile)
	var out []string
	add := func(f string) {
		if path.IsAbs(f) && path.Clean(f) == f && path.Dir(f) == dir && checkPath(f) == nil {
			out = append(out, f)
		}
	}
	for _, c := range d.Configs {
		add(c.File)
	}
	for _, s := range d.Secrets {
		add(s.File)
	}
	return out
}

// Service modes.
const (
	ModeReplicated = "replicated"
	ModeGlobal     = "global"
)

// serviceMode asks the manager for the swarm service's mode ("" when the
// service does not exist).
func serviceMode(ctx context.Context, h nodes.Host, svc string) (string, error) {
	out, err := run(ctx, h, "docker", "service", "inspect", "--format", "{{if .Spec.Mode.Global}}global{{else}}replicated{{end}}", svc)
	if err == nil {
		return strings.TrimSpace(out), nil
	}
	if msg, ok := exitStatus(err); ok && strings.Contains(msg, "no such service") {
		return "", nil
	}
	return "", err
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

// managerDirs are the directories install creates on the manager: those
// of the files, and the data directories of single-replica services.
func managerDirs(r Rendered, p Plan) []string {
	seen := map[string]bool{}
	var out []string
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, f := range r.Files() {
		add(path.Dir(f.Path))
	}
	for _, d := range p.DataDirs {
		if d.Node == "" {
			add(d.Path)
		}
	}
	return out
}
