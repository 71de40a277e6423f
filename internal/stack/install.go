package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// DefaultWait bounds convergence and the health check when Options.Wait is 0.
const DefaultWait = 3 * time.Minute

// InstallOptions tune Install.
type InstallOptions struct {
	// Wait bounds waiting for the services to converge and answer /v2/
	// (0 = DefaultWait; negative = do not wait or check).
	Wait time.Duration
	// CreateNetwork creates a missing external network (overlay, attachable)
	// instead of failing.
	CreateNetwork bool
	// DryRun computes the plan (read-only commands) and stops.
	DryRun bool
	// ResolveImage is passed to `docker stack deploy --resolve-image`
	// (always|changed|never; "" = docker's default).
	ResolveImage string
	// Poll is the interval between convergence checks (0 = 1s).
	Poll time.Duration
	// Log receives progress lines (for stderr); nil = silent. Lines never
	// contain a secret.
	Log func(string)
	// NodeHost returns a connection to the swarm node with this hostname
	// (nil when there is none): install creates each replica node's data
	// directories through it.
	NodeHost func(hostname string) nodes.Host
}

func (o InstallOptions) nodeHost(_ nodes.Host, hostname string) nodes.Host {
	if o.NodeHost == nil {
		return nil
	}
	return o.NodeHost(hostname)
}

// InstallResult is what Install did.
type InstallResult struct {
	Plan           Plan     `json:"plan"`
	DryRun         bool     `json:"dry_run"`
	Wrote          []string `json:"wrote"`
	NetworkCreated bool     `json:"network_created,omitempty"`
	Deployed       bool     `json:"deployed"`
	Restarted      bool     `json:"restarted"`
	// Labelled and Unlabelled are the nodes whose replica label changed.
	Labelled   []string `json:"labelled,omitempty"`
	Unlabelled []string `json:"unlabelled,omitempty"`
	// Converged: every service runs all its tasks (false when not waited).
	Converged bool `json:"converged"`
	// Running and Replicas count the tasks of every service.
	Running  int    `json:"running"`
	Replicas int    `json:"replicas"`
	Tasks    []Task `json:"tasks,omitempty"`
	// Health is docker.io's GET /v2/ check from the manager (nil: not
	// waited for); Services has every upstream's. With nothing published
	// it runs inside the task's container on the manager;
	// Health.NotChecked says why when that was not possible.
	Health   *Health         `json:"health,omitempty"`
	Services []ServiceResult `json:"services"`
	// Cleaned are the swarm configs and secrets of earlier installs that
	// no service uses any more (removed), and the registry configs of
	// upstreams taken out (deleted from the manager).
	Cleaned []string `json:"cleaned,omitempty"`
	// Warnings are problems that did not fail the install.
	Warnings []string `json:"warnings,omitempty"`
}

// ServiceResult is one upstream's service after install.
type ServiceResult struct {
	Registry  string   `json:"registry"`
	Service   string   `json:"service"`
	Converged bool     `json:"converged"`
	Running   int      `json:"running"`
	Desired   int      `json:"desired"`
	Tasks     []Task   `json:"tasks,omitempty"`
	Health    []Health `json:"health,omitempty"`
}

// Task is one task of the registry service, in the field names every
// swarmctl document uses for a task (as mirror status's).
type Task struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Image        string `json:"image"`
	Node         string `json:"node"`
	DesiredState string `json:"desired_state"`
	CurrentState string `json:"current_state"`
	Error        string `json:"error,omitempty"`
}

// DockerTask is one line of `docker service ps --format '{{json .}}'`,
// in docker's field names.
type DockerTask struct {
	ID           string `json:"ID"`
	Name         string `json:"Name"`
	Image        string `json:"Image"`
	Node         string `json:"Node"`
	DesiredState string `json:"DesiredState"`
	CurrentState string `json:"CurrentState"`
	Error        string `json:"Error"`
}

// Health is one GET /v2/ answer.
type Health struct {
	URL    string `json:"url"`
	Status int    `json:"http_status"`
	OK     bool   `json:"ok"`
	// Via is how the manager reached the registry: HealthViaPublished or
	// HealthViaTask.
	Via string `json:"via,omitempty"`
	// Node is the replica node checked (replica_nodes only).
	Node string `json:"node,omitempty"`
	// Container is the task container probed (HealthViaTask).
	Container string `json:"container,omitempty"`
	// NotChecked, when set, says why the registry was not checked from the
	// manager: OK is false but that is not a failure of the registry.
	NotChecked string `json:"not_checked,omitempty"`
}

// How checkHealth reached the registry.
const (
	// HealthViaPublished: GET /v2/ through the published port.
	HealthViaPublished = "published-port"
	// HealthViaTask: nothing is published; GET 127.0.0.1:5000/v2/ inside
	// the task's container on the manager (docker exec).
	HealthViaTask = "task-container"
)

// ConvergeError is a service that did not reach its replicas in time; Tasks
// carries docker's view, with each task's error.
type ConvergeError struct {
	Service string
	Reason  string
	Tasks   []Task
}

func (e *ConvergeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service %s did not converge: %s", e.Service, e.Reason)
	for _, t := range e.Tasks {
		if t.Error != "" || !strings.HasPrefix(t.CurrentState, "Running") {
			fmt.Fprintf(&b, "\n  %s on %s: %s", strings.TrimSpace(t.Name), orDash(t.Node), t.CurrentState)
			if t.Error != "" {
				fmt.Fprintf(&b, ": %s", t.Error)
			}
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Install brings the registry stack on the manager h to r: plan, then (unless
// DryRun) network, node labels, directories, files, deploy or restart,
// wait, health, clean-up. Unchanged values redeploy nothing.
func Install(ctx context.Context, h nodes.Host, r Rendered, o InstallOptions) (InstallResult, error) {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(Redact(fmt.Sprintf(format, a...), r.Secrets()))
		}
	}
	res := InstallResult{DryRun: o.DryRun, Wrote: []string{}, Services: []ServiceResult{}}
	plan, err := ComputePlan(ctx, h, r, o)
	if err != nil {
		return res, err
	}
	res.Plan = plan
	res.Warnings = append(res.Warnings, r.Values.PortWarnings()...)
	if plan.Network != "" && !plan.NetworkExists && !o.CreateNetwork {
		return res, fmt.Errorf("%s: network %s does not exist; the Traefik labels need it. Create it (docker network create --driver overlay --attachable %s) or pass --create-network", h.Name(), plan.Network, plan.Network)
	}
	if o.DryRun {
		return res, nil
	}

	steps := []struct {
		name string
		fn   func() error
	}{
		{"network", func() error { return ensureNetwork(ctx, h, plan, &res, logf) }},
		{"labels", func() error { return ensureLabels(ctx, h, plan, &res, logf) }},
		{"directories", func() error { return ensureDirs(ctx, h, r, plan, o, logf) }},
		{"files", func() error { return writeFiles(ctx, h, r, plan, &res, logf) }},
		{"deploy", func() error { return deploy(ctx, h, r, plan, o, &res, logf) }},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return res, err
		}
	}
	if o.Wait < 0 {
		return res, nil
	}
	wait := o.Wait
	if wait == 0 {
		wait = DefaultWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	res.Converged = true
	for _, e := range r.Endpoints {
		sr := ServiceResult{Registry: e.Registry, Service: e.Service, Desired: len(e.Replicas)}
		err := waitConverged(wctx, h, e.Service, sr.Desired, plan, o, &sr, logf)
		res.Running += sr.Running
		res.Replicas += sr.Desired
		res.Tasks = append(res.Tasks, sr.Tasks...)
		if err != nil {
			res.Converged = false
			res.Services = append(res.Services, sr)
			return res, err
		}
		err = checkHealth(wctx, h, r, e, o, &sr, logf)
		if (e.Registry == DockerHub || res.Health == nil) && len(sr.Health) > 0 {
			hl := sr.Health[0]
			res.Health = &hl
		}
		res.Services = append(res.Services, sr)
		if err != nil {
			return res, err
		}
	}
	cleanUp(ctx, h, r, plan, &res, logf)
	return res, nil
}

func ensureNetwork(ctx context.Context, h nodes.Host, p Plan, res *InstallResult, logf func(string, ...any)) error {
	if p.Network == "" || p.NetworkExists {
		return nil
	}
	logf("%s: creating overlay network %s", h.Name(), p.Network)
	if _, err := run(ctx, h, "docker", "network", "create", "--driver", "overlay", "--attachable", p.Network); err != nil {
		return err
	}
	res.NetworkCreated = true
	return nil
}

func ensureLabels(ctx context.Context, h nodes.Host, p Plan, res *InstallResult, logf func(string, ...any)) error {
	if err := applyPlacement(ctx, h, p.Placement, logf); err != nil {
		return err
	}
	if p.Placement != nil {
		res.Labelled, res.Unlabelled = p.Placement.Label, p.Placement.Unlabel
	}
	return nil
}

// ensureDirs creates the files' directories and the single-replica data
// directories on the manager, and each replica node's data directories
// on that node.
func ensureDirs(ctx context.Context, h nodes.Host, r Rendered, p Plan, o InstallOptions, logf func(string, ...any)) error {
	need := false
	for _, f := range p.Files {
		need = need || !f.Exists
	}
	for _, d := range p.DataDirs {
		need = need || (!d.Exists && d.Node == "")
	}
	if need {
		d := managerDirs(r, p)
		logf("%s: mkdir -p %s", h.Name(), strings.Join(d, " "))
		if _, err := run(ctx, h, append([]string{"mkdir", "-p"}, d...)...); err != nil {
			return err
		}
	}
	for _, d := range p.DataDirs {
		if d.Exists || d.Node == "" {
			continue
		}
		nh := o.nodeHost(h, d.Node)
		if nh == nil {
			return &PlacementError{Msg: fmt.Sprintf("replica node %s is not connected", d.Node)}
		}
		logf("%s: mkdir -p %s", nh.Name(), d.Path)
		if _, err := run(ctx, nh, "mkdir", "-p", d.Path); err != nil {
			return err
		}
	}
	return nil
}

// writeFiles writes the changed files without following a symbolic link
// planted at their paths (nodes.ReplaceFile): a secret file is written
// 0600 and root-owned from its first byte, and one whose mode is wrong is
// written again rather than chmodded (chmod would follow a link).
func writeFiles(ctx context.Context, h nodes.Host, r Rendered, p Plan, res *InstallResult, logf func(string, ...any)) error {
	for _, f := range r.Files() {
		fc, _ := p.file(f.Path)
		fixMode := f.Secret && fc.Exists && fc.ModeWrong
		if !fc.Changed && !fixMode {
			continue
		}
		if fixMode {
			logf("%s: chmod 600 %s (was %s): writing it again, 0600", h.Name(), f.Path, fc.RemoteMode)
		}
		logf("%s: writing %s (mode %04o)", h.Name(), f.Path, f.Mode)
		if err := remote(ctx, "write "+f.Path, func(ctx context.Context) error {
			return nodes.ReplaceFile(ctx, h, f.Path, f.Data, f.Mode, f.Secret)
		}); err != nil {
			return fmt.Errorf("%s: %w", h.Name(), nodes.Unnamed(h.Name(), err))
		}
		if fc.Changed {
			res.Wrote = append(res.Wrote, f.Path)
		}
	}
	return nil
}

// deploy runs docker stack deploy --prune (a service no longer in the
// stack file goes: an upstream taken out), or restarts the services whose
// config changed under an unchanged stack file.
func deploy(ctx context.Context, h nodes.Host, r Rendered, p Plan, o InstallOptions, res *InstallResult, logf func(string, ...any)) error {
	v := r.Values
	for _, svc := range p.Recreate {
		logf("%s: docker service rm %s (its mode changes; the data stays)", h.Name(), svc)
		if _, err := run(ctx, h, "docker", "service", "rm", svc); err != nil {
			return err
		}
	}
	if p.Deploy {
		args := []string{"docker", "stack", "deploy", "--prune", "-c", v.StackFile}
		if o.ResolveImage != "" {
			args = append(args, "--resolve-image", o.ResolveImage)
		}
		args = append(args, v.StackName)
		logf("%s: docker stack deploy --prune -c %s %s (%s)", h.Name(), v.StackFile, v.StackName, strings.Join(p.Reasons, "; "))
		if _, err := run(ctx, h, args...); err != nil {
			return err
		}
		res.Deployed = true
	}
	if p.Restart && !p.Deploy {
		for _, svc := range p.RestartServices {
			logf("%s: restarting %s to load the new registry config", h.Name(), svc)
			if _, err := run(ctx, h, "docker", "service", "update", "--force", "--detach", "--quiet", svc); err != nil {
				return err
			}
		}
		res.Restarted = true
	}
	return nil
}

// waitConverged polls until the service has want running tasks, no
// desired-running task elsewhere, and no update in progress. After a change
// to an existing service it needs two consecutive good polls, so an update
// the orchestrator has not started yet is not mistaken for convergence.
func waitConverged(ctx context.Context, h nodes.Host, svc string, want int, p Plan, o InstallOptions, sr *ServiceResult, logf func(string, ...any)) error {
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	need := 1
	existed := false
	for _, s := range p.Services {
		if s.Service == svc {
			existed = s.Exists
		}
	}
	if existed && (p.Deploy || p.Restart) {
		need = 2
	}
	good := 0
	last := ""
	for {
		state, tasks, running, err := serviceState(ctx, h, svc, want)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			sr.Running, sr.Tasks = running, tasks
			switch {
			case strings.HasPrefix(state, "paused"), strings.HasPrefix(state, "rollback"):
				return &ConvergeError{Service: svc, Reason: "update " + state, Tasks: allTasks(ctx, h, svc, tasks)}
			case state == "ok":
				good++
			default:
				good = 0
			}
			if good >= need {
				sr.Converged = true
				logf("%s: %s running %d/%d", h.Name(), svc, running, want)
				return nil
			}
			if msg := fmt.Sprintf("%d/%d running (%s)", running, want, state); msg != last {
				logf("%s: %s %s", h.Name(), svc, msg)
				last = msg
			}
		}
		if err := sleep(ctx, poll); err != nil {
			// Timed out: report every task's state and error.
			return &ConvergeError{Service: svc, Reason: fmt.Sprintf("%d/%d tasks running when the wait ended", sr.Running, want),
				Tasks: allTasks(context.WithoutCancel(ctx), h, svc, sr.Tasks)}
		}
	}
}

// serviceState reads the update state and the desired-running tasks.
// state is "ok" when converged, else a short description.
func serviceState(ctx context.Context, h nodes.Host, svc string, replicas int) (state string, tasks []Task, running int, err error) {
	out, err := run(ctx, h, "docker", "service", "inspect", "--format", "{{json .UpdateStatus}}", svc)
	if err != nil {
		return "", nil, 0, err
	}
	var us struct{ State, Message string }
	if s := strings.TrimSpace(out); s != "" && s != "null" && s != "<no value>" {
		if err := json.Unmarshal([]byte(s), &us); err != nil {
			return "", nil, 0, fmt.Errorf("%s: docker service inspect: unexpected UpdateStatus %q", h.Name(), s)
		}
	}
	tasks, err = listTasks(ctx, h, svc, true)
	if err != nil {
		return "", nil, 0, err
	}
	notRunning := 0
	for _, t := range tasks {
		if strings.HasPrefix(t.CurrentState, "Running") {
			running++
		} else {
			notRunning++
		}
	}
	switch {
	case us.State == "paused" || us.State == "rollback_paused":
		return "paused: " + us.Message, tasks, running, nil
	case strings.HasPrefix(us.State, "rollback"):
		return us.State + ": " + us.Message, tasks, running, nil
	case us.State == "updating":
		return "updating", tasks, running, nil
	case running == replicas && notRunning == 0:
		return "ok", tasks, running, nil
	}
	return fmt.Sprintf("%d starting", notRunning), tasks, running, nil
}

// listTasks parses `docker service ps --no-trunc --format '{{json .}}'`.
func listTasks(ctx context.Context, h nodes.Host, svc string, desiredRunning bool) ([]Task, error) {
	args := []string{"docker", "service", "ps", "--no-trunc", "--format", "{{json .}}"}
	if desiredRunning {
		args = append(args, "--filter", "desired-state=running")
	}
	out, err := run(ctx, h, append(args, svc)...)
	if err != nil {
		return nil, err
	}
	return ParseTasks(out)
}

// ParseTasks parses one JSON task per line.
func ParseTasks(out string) ([]Task, error) {
	tasks := []Task{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		var t DockerTask
		if err := json.Unmarshal([]byte(l), &t); err != nil {
			return nil, fmt.Errorf("docker service ps: unexpected line %q", l)
		}
		tasks = append(tasks, Task(t))
	}
	return tasks, nil
}

// allTasks is the full task history (failed attempts carry the errors);
// fallback when it cannot be read.
func allTasks(ctx context.Context, h nodes.Host, svc string, fallback []Task) []Task {
	t, err := listTasks(ctx, h, svc, false)
	if err != nil {
		return fallback
	}
	return t
}
