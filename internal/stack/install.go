package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/probe"
)

// DefaultWait bounds convergence and the health check when Options.Wait is 0.
const DefaultWait = 3 * time.Minute

// InstallOptions tune Install.
type InstallOptions struct {
	// Wait bounds waiting for the service to converge and answer /v2/
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
}

// InstallResult is what Install did.
type InstallResult struct {
	Plan           Plan     `json:"plan"`
	DryRun         bool     `json:"dry_run"`
	Wrote          []string `json:"wrote"`
	NetworkCreated bool     `json:"network_created,omitempty"`
	Deployed       bool     `json:"deployed"`
	Restarted      bool     `json:"restarted"`
	// Converged: running tasks == replicas (false when not waited).
	Converged bool   `json:"converged"`
	Running   int    `json:"running"`
	Replicas  int    `json:"replicas"`
	Tasks     []Task `json:"tasks,omitempty"`
	// Health is the GET /v2/ check from the manager (nil: not waited for).
	// With nothing published it runs inside the task's container on the
	// manager; Health.NotChecked says why when that was not possible.
	Health *Health `json:"health,omitempty"`
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
// DryRun) network, directories, files, deploy or restart, wait, health.
// Unchanged values redeploy nothing.
func Install(ctx context.Context, h nodes.Host, r Rendered, o InstallOptions) (InstallResult, error) {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(Redact(fmt.Sprintf(format, a...), r.Secrets()))
		}
	}
	v := r.Values
	res := InstallResult{DryRun: o.DryRun, Replicas: v.Replicas, Wrote: []string{}}
	plan, err := ComputePlan(ctx, h, r)
	if err != nil {
		return res, err
	}
	res.Plan = plan
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
		{"directories", func() error { return ensureDirs(ctx, h, r, plan, logf) }},
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
	if err := waitConverged(wctx, h, r, plan, o, &res, logf); err != nil {
		return res, err
	}
	if err := checkHealth(wctx, h, r, o, &res, logf); err != nil {
		return res, err
	}
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

func ensureDirs(ctx context.Context, h nodes.Host, r Rendered, p Plan, logf func(string, ...any)) error {
	need := !p.DataDirExists
	for _, f := range p.Files {
		need = need || !f.Exists
	}
	if !need {
		return nil
	}
	d := dirs(r.Values)
	logf("%s: mkdir -p %s", h.Name(), strings.Join(d, " "))
	_, err := run(ctx, h, append([]string{"mkdir", "-p"}, d...)...)
	return err
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

func deploy(ctx context.Context, h nodes.Host, r Rendered, p Plan, o InstallOptions, res *InstallResult, logf func(string, ...any)) error {
	v := r.Values
	if p.Deploy {
		args := []string{"docker", "stack", "deploy", "-c", v.StackFile}
		if o.ResolveImage != "" {
			args = append(args, "--resolve-image", o.ResolveImage)
		}
		args = append(args, v.StackName)
		logf("%s: docker stack deploy -c %s %s (%s)", h.Name(), v.StackFile, v.StackName, strings.Join(p.Reasons, "; "))
		if _, err := run(ctx, h, args...); err != nil {
			return err
		}
		res.Deployed = true
	}
	if p.Restart {
		logf("%s: restarting %s to load the new registry config", h.Name(), v.Service())
		if _, err := run(ctx, h, "docker", "service", "update", "--force", "--detach", "--quiet", v.Service()); err != nil {
			return err
		}
		res.Restarted = true
	}
	return nil
}

// waitConverged polls until the service has Replicas running tasks, no
// desired-running task elsewhere, and no update in progress. After a change
// to an existing service it needs two consecutive good polls, so an update
// the orchestrator has not started yet is not mistaken for convergence.
func waitConverged(ctx context.Context, h nodes.Host, r Rendered, p Plan, o InstallOptions, res *InstallResult, logf func(string, ...any)) error {
	svc := r.Values.Service()
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	need := 1
	if p.ServiceExists && (p.Deploy || p.Restart) {
		need = 2
	}
	good := 0
	last := ""
	for {
		state, tasks, running, err := serviceState(ctx, h, svc, r.Values.Replicas)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			res.Running, res.Tasks = running, tasks
			switch {
			case strings.HasPrefix(state, "paused"), strings.HasPrefix(state, "rollback"):
				return &ConvergeError{Service: svc, Reason: "update " + state, Tasks: allTasks(ctx, h, svc, tasks)}
			case state == "ok":
				good++
			default:
				good = 0
			}
			if good >= need {
				res.Converged = true
				logf("%s: %s running %d/%d", h.Name(), svc, running, r.Values.Replicas)
				return nil
			}
			if msg := fmt.Sprintf("%d/%d running (%s)", running, r.Values.Replicas, state); msg != last {
				logf("%s: %s %s", h.Name(), svc, msg)
				last = msg
			}
		}
		if err := sleep(ctx, poll); err != nil {
			// Timed out: report every task's state and error.
			return &ConvergeError{Service: svc, Reason: fmt.Sprintf("%d/%d tasks running when the wait ended", res.Running, r.Values.Replicas),
				Tasks: allTasks(context.WithoutCancel(ctx), h, svc, res.Tasks)}
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

// checkHealth GETs /v2/ from the manager until the registry answers 200
// (or 401 when auth is on). Through the published port: ingress answers on
// the manager's loopback, host mode only on the nodes running a task. With
// nothing published (Traefik only), inside a running task's container on
// the manager (docker exec; the registry image's own sh and wget); when
// that is not possible the result says "not checked" and why, which is not
// reported as success.
func checkHealth(ctx context.Context, h nodes.Host, r Rendered, o InstallOptions, res *InstallResult, logf func(string, ...any)) error {
	v := r.Values
	next := func(ctx context.Context) (healthProbe, error) {
		url, err := healthURL(ctx, h, v, res.Tasks)
		return healthProbe{Health: Health{URL: url, Via: HealthViaPublished}, cmd: probe.Cmd(url, probeTimeout)}, err
	}
	if v.Publish == 0 {
		next = func(ctx context.Context) (healthProbe, error) { return taskProbe(ctx, h, v.Service(), res.Tasks) }
	}
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	notChecked := func(p healthProbe, why string) error {
		res.Health = &Health{URL: p.URL, Via: p.Via, NotChecked: why}
		logf("%s: registry not checked from the manager: %s", h.Name(), why)
		return nil
	}
	var p healthProbe
	var lastErr error
	for {
		var err error
		p, err = next(ctx)
		var nc notCheckedError
		switch {
		case errors.As(err, &nc):
			return notChecked(p, string(nc))
		case err == nil:
			hl := p.Health
			var out nodes.Output
			rerr := remote(ctx, "health check", func(ctx context.Context) (err error) { out, err = h.Run(ctx, p.cmd); return err })
			pr, _ := probe.Of(out, rerr)
			hl.Status = pr.Status
			hl.OK = rerr == nil && pr.Answers()
			if !(rerr != nil && ctx.Err() != nil && res.Health != nil) {
				// A probe killed by the deadline says nothing about the
				// registry: keep the last real answer in the result.
				res.Health = &hl
			}
			if hl.OK {
				logf("%s: GET %s%s: %d", h.Name(), hl.URL, p.where(), pr.Status)
				return nil
			}
			switch msg, isExit := exitStatus(rerr); {
			case rerr != nil && ctx.Err() != nil && lastErr != nil:
				// Cut short by the deadline: keep the last real answer.
			case isExit && hl.Via == HealthViaTask && strings.Contains(msg, "executable file not found"):
				// docker exec found no sh (exit 127 too, before NoTool).
				return notChecked(p, fmt.Sprintf("the registry image has no sh to run a check inside container %s", hl.Container))
			case pr.NoTool:
				if hl.Via == HealthViaTask {
					return notChecked(p, fmt.Sprintf("the registry image has neither curl nor wget to GET %s inside container %s", hl.URL, hl.Container))
				}
				return fmt.Errorf("%s: cannot check %s: neither curl nor wget on the manager", h.Name(), hl.URL)
			case rerr != nil:
				lastErr = rerr
			case pr.Err != "":
				lastErr = errors.New(pr.Err)
			default:
				lastErr = fmt.Errorf("HTTP status %q", strconv.Itoa(pr.Status))
			}
		case ctx.Err() == nil || lastErr == nil:
			lastErr = err
		}
		if err := sleep(ctx, poll); err != nil {
			where := ""
			if p.Via == HealthViaTask {
				where = " inside its container"
			}
			return fmt.Errorf("%s: the registry did not answer GET /v2/%s in time: %v", h.Name(), where, lastErr)
		}
	}
}

// probeTimeout bounds one GET /v2/ from the manager.
const probeTimeout = 5 * time.Second

// healthProbe is one GET /v2/ from the manager: where, and the command.
type healthProbe struct {
	Health
	cmd nodes.Cmd
}

// where says where the probe ran, for messages ("" or " inside container X").
func (p healthProbe) where() string {
	if p.Via == HealthViaTask {
		return " inside container " + p.Container
	}
	return ""
}

// notCheckedError ends the health check without a verdict, saying why.
type notCheckedError string

func (e notCheckedError) Error() string { return string(e) }

// healthURL picks where the published port answers from the manager.
func healthURL(ctx context.Context, h nodes.Host, v Values, tasks []Task) (string, error) {
	port := strconv.Itoa(v.Publish)
	if v.PublishMode != PublishHost {
		return "http://127.0.0.1:" + port + "/v2/", nil
	}
	for _, t := range tasks {
		if t.Node == "" || !strings.HasPrefix(t.CurrentState, "Running") {
			continue
		}
		out, err := run(ctx, h, "docker", "node", "inspect", "--format",
			"{{if .ManagerStatus}}{{.ManagerStatus.Addr}}{{else}}{{.Status.Addr}}{{end}}", t.Node)
		if err != nil {
			return "", err
		}
		addr := strings.TrimSpace(out)
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
		if net.ParseIP(addr) == nil {
			return "", fmt.Errorf("node %s has no usable address (%q)", t.Node, addr)
		}
		return "http://" + net.JoinHostPort(addr, port) + "/v2/", nil
	}
	return "", fmt.Errorf("no running task of %s to check", v.Service())
}

// inTaskURL is where the registry answers inside its own container.
var inTaskURL = "http://127.0.0.1:" + strconv.Itoa(ContainerPort) + "/v2/"

// taskProbe finds a running task container of svc on the manager and
// probes the registry inside it; when none runs here the check ends as
// not checked.
func taskProbe(ctx context.Context, h nodes.Host, svc string, tasks []Task) (healthProbe, error) {
	p := healthProbe{Health: Health{URL: inTaskURL, Via: HealthViaTask}}
	cid, err := localTaskContainer(ctx, h, svc, tasks)
	if err != nil {
		return p, err
	}
	if cid == "" {
		var on []string
		for _, t := range tasks {
			if strings.HasPrefix(t.CurrentState, "Running") && t.Node != "" {
				on = append(on, t.Node)
			}
		}
		return p, notCheckedError(fmt.Sprintf("nothing is published and no task of %s runs on the manager (running on: %s); GET /v2/ was only tried through the mirror URL",
			svc, orDash(strings.Join(on, ", "))))
	}
	p.Container = cid
	// The one probe script, run by the image's own sh.
	p.cmd = nodes.Cmd{Args: []string{"docker", "exec", cid, "sh", "-c", probe.Script.Text(), probe.Script.Name(), inTaskURL, probe.Seconds(probeTimeout)}, Sudo: true}
	return p, nil
}

// localTaskContainer is the ID of a running container on the manager that
// belongs to one of tasks ("" when none runs here).
func localTaskContainer(ctx context.Context, h nodes.Host, svc string, tasks []Task) (string, error) {
	out, err := run(ctx, h, "docker", "ps", "--filter", "label=com.docker.swarm.service.name="+svc, "--filter", "status=running",
		"--format", `{{.ID}} {{.Label "com.docker.swarm.task.id"}}`)
	if err != nil {
		return "", err
	}
	want := map[string]bool{}
	for _, t := range tasks {
		if strings.HasPrefix(t.CurrentState, "Running") {
			want[t.ID] = true
		}
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && want[f[1]] {
			return f[0], nil
		}
	}
	return "", nil
}
