package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/probe"
)

// checkHealth GETs /v2/ of one upstream's cache from the manager until the
// registry answers 200 (or 401 when auth is on), every replica of it.
// Through the published port: ingress answers on the manager's loopback,
// host mode only on the nodes running a task (each replica node's
// address). With nothing published (Traefik only), inside a running
// task's container on the manager (docker exec; the registry image's own
// sh and wget); when that is not possible the result says "not checked"
// and why, which is not reported as success.
func checkHealth(ctx context.Context, h nodes.Host, r Rendered, e Endpoint, o InstallOptions, sr *ServiceResult, logf func(string, ...any)) error {
	v := r.Values
	scheme := "http"
	if v.TLSCert != "" {
		scheme = "https"
	}
	var probes []func(ctx context.Context) (healthProbe, error)
	switch {
	case e.Publish == 0:
		probes = append(probes, func(ctx context.Context) (healthProbe, error) { return taskProbe(ctx, h, e.Service, scheme, sr.Tasks) })
	case v.PerNode():
		for _, rep := range e.Replicas {
			probes = append(probes, func(ctx context.Context) (healthProbe, error) {
				url, err := nodeURL(ctx, h, rep.Node, scheme, e.Publish)
				return healthProbe{Health: Health{URL: url, Via: HealthViaPublished, Node: rep.Node}, cmd: probe.Cmd(url, probeTimeout)}, err
			})
		}
	default:
		probes = append(probes, func(ctx context.Context) (healthProbe, error) {
			url, err := healthURL(ctx, h, v, e, scheme, sr.Tasks)
			return healthProbe{Health: Health{URL: url, Via: HealthViaPublished}, cmd: probe.Cmd(url, probeTimeout)}, err
		})
	}
	for _, next := range probes {
		hl, err := probeUntil(ctx, h, next, o, logf)
		sr.Health = append(sr.Health, hl)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", e.Service, e.Registry, err)
		}
	}
	return nil
}

// probeUntil runs the probes next gives until one answers, the registry
// cannot be checked (Health.NotChecked), or ctx ends.
func probeUntil(ctx context.Context, h nodes.Host, next func(context.Context) (healthProbe, error), o InstallOptions, logf func(string, ...any)) (Health, error) {
	poll := o.Poll
	if poll <= 0 {
		poll = time.Second
	}
	var res *Health
	notChecked := func(p healthProbe, why string) (Health, error) {
		logf("%s: registry not checked from the manager: %s", h.Name(), why)
		return Health{URL: p.URL, Via: p.Via, Node: p.Node, NotChecked: why}, nil
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
			out, rerr := h.Run(ctx, p.cmd)
			pr, _ := probe.Of(out, rerr)
			hl.Status = pr.Status
			hl.OK = rerr == nil && pr.Answers()
			if !(rerr != nil && ctx.Err() != nil && res != nil) {
				// A probe killed by the deadline says nothing about the
				// registry: keep the last real answer in the result.
				res = &hl
			}
			if hl.OK {
				logf("%s: GET %s%s: %d", h.Name(), hl.URL, p.where(), pr.Status)
				return hl, nil
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
				return *res, fmt.Errorf("%s: cannot check %s: neither curl nor wget on the manager", h.Name(), hl.URL)
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
			hl := p.Health
			if res != nil {
				hl = *res
			}
			return hl, fmt.Errorf("%s: the registry did not answer GET /v2/%s in time: %v", h.Name(), where, lastErr)
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
func healthURL(ctx context.Context, h nodes.Host, v Values, e Endpoint, scheme string, tasks []Task) (string, error) {
	port := strconv.Itoa(e.Publish)
	if v.PublishMode != PublishHost {
		return scheme + "://127.0.0.1:" + port + "/v2/", nil
	}
	for _, t := range tasks {
		if t.Node == "" || !strings.HasPrefix(t.CurrentState, "Running") {
			continue
		}
		return nodeURL(ctx, h, t.Node, scheme, e.Publish)
	}
	return "", fmt.Errorf("no running task of %s to check", e.Service)
}

// nodeURL is GET /v2/ at a swarm node's address and a published port.
func nodeURL(ctx context.Context, h nodes.Host, node, scheme string, port int) (string, error) {
	out, err := run(ctx, h, "docker", "node", "inspect", "--format",
		"{{if .ManagerStatus}}{{.ManagerStatus.Addr}}{{else}}{{.Status.Addr}}{{end}}", node)
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(out)
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if net.ParseIP(addr) == nil {
		return "", fmt.Errorf("node %s has no usable address (%q)", node, addr)
	}
	return scheme + "://" + net.JoinHostPort(addr, strconv.Itoa(port)) + "/v2/", nil
}

// inTaskURL is where the registry answers inside its own container.
func inTaskURL(scheme string) string {
	return scheme + "://127.0.0.1:" + strconv.Itoa(ContainerPort) + "/v2/"
}

// taskProbe finds a running task container of svc on the manager and
// probes the registry inside it; when none runs here the check ends as
// not checked.
func taskProbe(ctx context.Context, h nodes.Host, svc, scheme string, tasks []Task) (healthProbe, error) {
	p := healthProbe{Health: Health{URL: inTaskURL(scheme), Via: HealthViaTask}}
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
	p.cmd = nodes.Cmd{Args: []string{"docker", "exec", cid, "sh", "-c", probe.Script.Text(), probe.Script.Name(), p.URL, probe.Seconds(probeTimeout)}, Sudo: true}
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
