package stack

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
	yaml "go.yaml.in/yaml/v3"
)

// UninstallOptions tune Uninstall.
type UninstallOptions struct {
	// Purge also removes the stack file, the registry configs, the TLS
	// files and every cache's data (only the tree the registry wrote:
	// <data_dir>/docker, then data_dir itself if empty), on the manager and
	// on each replica node.
	Purge bool
	// Wait bounds waiting for services and stack networks to go (0 =
	// DefaultWait; negative = run docker stack rm once and do not wait;
	// not with Purge).
	Wait time.Duration
	// DryRun only reads: which services and networks the stack has, and
	// what a purge would remove.
	DryRun bool
	// Poll is the interval between checks (0 = 1s).
	Poll time.Duration
	Log  func(string)
	// NodeHost returns a connection to the swarm node with this hostname
	// (nil when there is none), to wait there until the registry's task
	// containers are gone and, with Purge, to remove a replica's data. The
	// manager h itself needs none.
	NodeHost func(hostname string) nodes.Host
}

// UninstallResult is what Uninstall did.
type UninstallResult struct {
	Removed bool `json:"removed"` // the stack existed and was removed
	// Services and Networks are what the stack had when uninstall began.
	Services []string `json:"services"`
	Networks []string `json:"networks"`
	// WouldPurge is what a purge removes (a dry run with Purge).
	WouldPurge []string `json:"would_purge,omitempty"`
	// Unlabelled are the nodes the replica label was taken off.
	Unlabelled []string `json:"unlabelled,omitempty"`
	// Unchecked lists nodes that ran a registry task but could not be
	// asked whether its container is gone (not connected), or whose
	// replica data could not be purged.
	Unchecked []string `json:"unchecked,omitempty"`
	// Purged are the paths removed (node:path for a replica node's data).
	Purged []string `json:"purged"`
	// Kept lists paths purge left because they hold files swarmctl did not write.
	Kept []string `json:"kept,omitempty"`
}

//go:embed scripts/*.sh
var scriptFiles embed.FS

// purgeDataScript removes what the registry wrote in its data directory.
var purgeDataScript = nodes.MustScript(scriptFiles, "scripts/purge-data.sh")

// Uninstall removes the stack through the manager h and waits until its
// services and networks are gone, and its task containers too (on h, and
// on the nodes o.NodeHost reaches), and takes the replica label off the
// nodes; with Purge it then removes the files and data of every upstream,
// those v lists and those the deployed stack file still names. v gives
// the stack name and paths (Defaults and Validate applied).
func Uninstall(ctx context.Context, h nodes.Host, v Values, o UninstallOptions) (UninstallResult, error) {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	res := UninstallResult{Purged: []string{}, Services: []string{}, Networks: []string{}}
	if err := v.validateUninstall(o.Purge); err != nil {
		return res, err
	}
	if o.Purge && o.Wait < 0 {
		return res, errors.New("a purge waits for the registry to stop: give it a wait")
	}
	wait, poll := o.Wait, o.Poll
	if wait == 0 {
		wait = DefaultWait
	}
	noWait := wait < 0
	if noWait {
		wait = DefaultWait // bounds the commands themselves
	}
	if poll <= 0 {
		poll = time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	services, networks, err := stackResources(wctx, h, v.StackName)
	if err != nil {
		return res, err
	}
	res.Services, res.Networks = append(res.Services, services...), append(res.Networks, networks...)
	// What the deployed stack file names (upstreams since taken out of
	// the inventory): read before anything goes.
	var deployed deployedStack
	if o.Purge {
		if b, err := h.ReadFile(wctx, v.StackFile); err == nil {
			_ = yaml.Unmarshal(b, &deployed) // unreadable: purge what v names
		}
	}
	if o.DryRun {
		res.Removed = len(services)+len(networks) > 0
		if o.Purge {
			files, shared, perNode := purgeTargets(v, deployed)
			res.WouldPurge = append(files, shared...)
			for _, d := range perNode {
				res.WouldPurge = append(res.WouldPurge, path.Join(d, "<replica node>"))
			}
		}
		return res, nil
	}
	// Where the registry's tasks run: once the services are gone the
	// manager no longer lists them, and their containers may still stop.
	var taskNodes []string
	for _, svc := range services {
		out, err := run(wctx, h, "docker", "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", svc)
		if err == nil {
			for _, n := range strings.Fields(out) {
				if !slices.Contains(taskNodes, n) {
					taskNodes = append(taskNodes, n)
				}
			}
		}
	}
	if len(services)+len(networks) > 0 {
		res.Removed = true
		for {
			logf("%s: docker stack rm %s", h.Name(), v.StackName)
			// docker stack rm can fail to remove a network whose endpoints
			// are still going away: retried below until all is gone.
			_, rmErr := run(wctx, h, "docker", "stack", "rm", v.StackName)
			if noWait {
				if rmErr != nil {
					return res, rmErr
				}
				logf("%s: docker stack rm %s done; not waiting for it to go (--wait 0)", h.Name(), v.StackName)
				return res, nil
			}
			services, networks, err = stackResources(wctx, h, v.StackName)
			if err == nil && len(services)+len(networks) == 0 {
				break
			}
			if err := sleep(wctx, poll); err != nil {
				if rmErr != nil {
					return res, fmt.Errorf("stack %s not removed in time: %w", v.StackName, rmErr)
				}
				return res, fmt.Errorf("%s: stack %s not removed in time: services %v, networks %v remain", h.Name(), v.StackName, services, networks)
			}
		}
		logf("%s: stack %s removed", h.Name(), v.StackName)
	} else {
		logf("%s: stack %s is not deployed", h.Name(), v.StackName)
	}
	unlabelled, err := removeLabels(wctx, h, v.StackName, logf)
	res.Unlabelled = unlabelled
	if err != nil {
		return res, err
	}
	// The task containers must be gone (a re-install may bind the same
	// host port; a purge must not pull the data from under one): on this
	// node, and on every node that ran a task and that we can reach.
	hosts := []nodes.Host{h}
	for _, n := range taskNodes {
		var nh nodes.Host
		if o.NodeHost != nil {
			nh = o.NodeHost(n)
		}
		switch {
		case nh == nil:
			res.Unchecked = append(res.Unchecked, n)
			logf("%s: cannot check that the registry's container on %s is gone (not connected)", h.Name(), n)
		case nh.Name() != h.Name():
			hosts = append(hosts, nh)
		}
	}
	for _, nh := range hosts {
		if err := waitNoContainers(wctx, nh, v.StackName, poll); err != nil {
			if o.Purge {
				return res, fmt.Errorf("%w; not purging", err)
			}
			return res, err
		}
	}
	if !o.Purge {
		return res, nil
	}
	return res, purge(wctx, h, v, deployed, taskNodes, o, &res, logf)
}

// purge removes every file install wrote on the manager and the data of
// every cache: on the manager for single-replica upstreams, on each
// replica node for per-node ones.
func purge(ctx context.Context, h nodes.Host, v Values, deployed deployedStack, taskNodes []string, o UninstallOptions, res *UninstallResult, logf func(string, ...any)) error {
	files, shared, perNode := purgeTargets(v, deployed)
	for _, p := range files {
		if _, err := run(ctx, h, "rm", "-f", "--", p); err != nil {
			return err
		}
		res.Purged = append(res.Purged, p)
	}
	purgeDir := func(nh nodes.Host, dir, shown string) error {
		var out nodes.Output
		err := remote(ctx, "purge "+dir, func(ctx context.Context) (err error) {
			out, err = nh.Run(ctx, nodes.Cmd{Script: purgeDataScript, ScriptArgs: []string{dir}, Sudo: true})
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: purge %s: %w", nh.Name(), dir, nodes.Unnamed(nh.Name(), err))
		}
		if strings.TrimSpace(string(out.Stdout)) == "kept" {
			res.Kept = append(res.Kept, shown)
			logf("%s: kept %s: it holds files the registry did not write", nh.Name(), dir)
		} else {
			res.Purged = append(res.Purged, shown)
		}
		return nil
	}
	for _, d := range shared {
		if err := purgeDir(h, d, d); err != nil {
			return err
		}
	}
	if len(perNode) > 0 {
		replicaNodes := append([]string(nil), v.ReplicaNodes...)
		for _, n := range taskNodes {
			if !slices.Contains(replicaNodes, n) {
				replicaNodes = append(replicaNodes, n)
			}
		}
		for _, n := range replicaNodes {
			var nh nodes.Host
			if o.NodeHost != nil {
				nh = o.NodeHost(n)
			}
			if nh == nil {
				res.Unchecked = append(res.Unchecked, n)
				logf("%s: not connected: its replica data is not purged", n)
				continue
			}
			for _, d := range perNode {
				if err := purgeDir(nh, path.Join(d, n), n+":"+path.Join(d, n)); err != nil {
					return err
				}
				// The parent goes too when that leaves it empty.
				_, _ = run(ctx, nh, "rmdir", "--", d)
			}
		}
	}
	logf("%s: purged %s", h.Name(), strings.Join(res.Purged, ", "))
	return nil
}

// purgeTargets are what a purge removes: the files install wrote on the
// manager, the data directories there (single-replica upstreams) and the
// directories holding one <hostname> directory per replica node, for
// every upstream v lists and every one the deployed stack still names.
func purgeTargets(v Values, deployed deployedStack) (files, shared, perNode []string) {
	files, shared, perNode = []string{v.StackFile}, []string{}, []string{}
	add := func(list *[]string, p string) {
		if p != "" && !slices.Contains(*list, p) && checkPath(p) == nil {
			*list = append(*list, p)
		}
	}
	eps := v.Endpoints()
	for _, e := range eps {
		add(&files, e.ConfigFile)
		if v.PerNode() {
			add(&perNode, e.DataDir)
		} else {
			add(&shared, e.DataDir)
		}
	}
	if v.TLSCert != "" || v.TLSKey != "" {
		dir := path.Dir(v.ConfigFile)
		add(&files, path.Join(dir, "registry-mirror-tls-cert.pem"))
		add(&files, path.Join(dir, "registry-mirror-tls-key.pem"))
	}
	for _, f := range ownFiles(deployed, v) {
		add(&files, f)
	}
	for _, svc := range deployed.Services {
		for _, vol := range svc.Volumes {
			if vol.Type != "bind" || vol.Target != "/var/lib/registry" {
				continue
			}
			if d, ok := strings.CutSuffix(vol.Source, "/{{.Node.Hostname}}"); ok {
				add(&perNode, d)
			} else {
				add(&shared, vol.Source)
			}
		}
	}
	return files, shared, perNode
}

// waitNoContainers waits until no container of the stack runs on h.
func waitNoContainers(ctx context.Context, h nodes.Host, stack string, poll time.Duration) error {
	for {
		out, err := run(ctx, h, "docker", "ps", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%s: the registry's container is still running (the wait ended)", h.Name())
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return nil
		}
		if err := sleep(ctx, poll); err != nil {
			return fmt.Errorf("%s: the registry's container is still running", h.Name())
		}
	}
}

// stackResources lists the stack's services and networks by the namespace
// label docker stack deploy sets.
func stackResources(ctx context.Context, h nodes.Host, stack string) (services, networks []string, err error) {
	label := "label=com.docker.stack.namespace=" + stack
	out, err := run(ctx, h, "docker", "service", "ls", "--filter", label, "--format", "{{.Name}}")
	if err != nil {
		return nil, nil, err
	}
	services = strings.Fields(out)
	out, err = run(ctx, h, "docker", "network", "ls", "--filter", label, "--format", "{{.Name}}")
	if err != nil {
		return nil, nil, err
	}
	return services, strings.Fields(out), nil
}

// validateUninstall checks the values Uninstall uses on the manager; with
// purge also that nothing it deletes is a system path (systemPath).
func (v Values) validateUninstall(purge bool) error {
	var errs []error
	if !stackNameRE.MatchString(v.StackName) {
		errs = append(errs, fieldError("stack", fmt.Sprintf("%q is not a stack name", v.StackName)))
	}
	for _, p := range []struct {
		field, val string
		dir        bool
	}{
		{"stack_file", v.StackFile, false}, {"config_file", v.ConfigFile, false}, {"data_dir", v.DataDir, true},
	} {
		if err := checkPath(p.val); err != nil {
			errs = append(errs, fieldError(p.field, fmt.Sprintf("%q %v", p.val, err)))
			continue
		}
		if purge {
			if why := systemPath(p.val, p.dir); why != "" {
				errs = append(errs, fieldError(p.field, fmt.Sprintf("%q %s: --purge deletes only what mirror install wrote; refusing a system path", p.val, why)))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckPurge refuses, for --purge, a stack file, config file or data
// directory that is a system path (the callers' exit-2 check before any
// node is touched; Uninstall checks it again).
func (v Values) CheckPurge() error {
	var errs []error
	for _, e := range unwrapJoin(v.validateUninstall(true)) {
		var fe *FieldError
		if errors.As(e, &fe) && strings.Contains(fe.Msg, "refusing a system path") {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

func unwrapJoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// systemDirs are directories --purge never deletes, nor files directly in.
var systemDirs = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true, "/lib": true, "/lib32": true,
	"/lib64": true, "/libx32": true, "/media": true, "/mnt": true, "/opt": true, "/proc": true, "/root": true, "/run": true,
	"/sbin": true, "/srv": true, "/sys": true, "/tmp": true, "/usr": true, "/usr/local": true, "/var": true,
	"/var/lib": true, "/var/log": true, "/var/cache": true, "/var/tmp": true, "/var/run": true, "/var/spool": true,
	"/var/mail": true, "/var/backups": true, "/var/local": true, "/var/opt": true,
}

// systemTrees are trees nothing of the registry's lives in: the system's
// own files and the container engines' data.
var systemTrees = []string{"/proc", "/sys", "/dev", "/run", "/boot", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
	"/libx32", "/var/lib/docker", "/var/lib/docker-latest", "/var/lib/containerd", "/var/lib/dpkg", "/var/lib/apt"}

// systemPath says why p (a directory to purge, else a file to delete) is
// a system path, "" when it is not.
func systemPath(p string, dir bool) string {
	if dir && systemDirs[p] {
		return "is a system directory"
	}
	if !dir && systemDirs[path.Dir(p)] {
		return "is in a system directory (" + path.Dir(p) + ")"
	}
	for _, t := range systemTrees {
		if p == t || strings.HasPrefix(p, t+"/") {
			return "is inside " + t
		}
	}
	return ""
}
