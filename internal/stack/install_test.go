package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/probe"
	"github.com/swarmctl/swarmctl/templates"
)

// fakeSwarm answers the docker commands Install and Uninstall run, keeping
// a tiny model of one manager: services (one per stack file service),
// networks, tasks, swarm configs and secrets, nodes and their labels.
type fakeSwarm struct {
	mu          sync.Mutex
	services    map[string]*fakeService // by swarm name
	spec        string                  // stack file content at the last deploy
	networks    map[string]string
	stackNets   []string
	objects     map[string]bool // "config NAME" / "secret NAME"
	nodes       []SwarmNode
	failTasks   string // when set, tasks fail with this error
	deploys     int
	restarts    int
	removed     []string // docker service rm
	dirs        map[string]bool
	modes       map[string]string
	health      string
	healthBy    map[string]string // probe URL -> status (else health)
	rmFailsOnce bool
	containers  int
	taskNodes   []string // hostnames `docker service ps` names for running tasks
	// tasksElsewhere: no task container runs on this manager.
	tasksElsewhere bool
	// execHealth answers the health check run inside a task container;
	// execErr makes docker exec fail with that stderr instead.
	execHealth, execErr string
	execs               int
	objectInUse         string // docker config/secret rm of this name fails: in use
}

// fakeService is one swarm service.
type fakeService struct {
	mode     string
	replicas int
	tasks    []Task
	updating int // polls left reporting UpdateStatus updating
	// lag polls report no update yet after a changed deploy; then the
	// pending update starts (new tasks) and reports updating.
	lag     int
	pending bool
}

func newSwarm() *fakeSwarm {
	return &fakeSwarm{services: map[string]*fakeService{}, networks: map[string]string{}, objects: map[string]bool{},
		dirs: map[string]bool{}, modes: map[string]string{}, health: "200", execHealth: "200", healthBy: map[string]string{},
		nodes: []SwarmNode{{ID: "id-m1", Hostname: "m1", State: "ready", Availability: "active", Labels: map[string]string{}}}}
}

func exit(h *fakehost.Host, c nodes.Cmd, status int, stderr string) (nodes.Output, error) {
	return nodes.Output{}, &nodes.ExitError{Host: h.NameV, Command: nodes.CommandLine(c, true), Status: status, Stderr: []byte(stderr)}
}

func ok(s string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(s)}, nil }

// service is the one service most tests have (docker.io's).
func (s *fakeSwarm) service() *fakeService { return s.services["registry_registry-mirror"] }

// tasks are every service's tasks.
func (s *fakeSwarm) tasks() []Task {
	var out []Task
	for _, svc := range s.services {
		out = append(out, svc.tasks...)
	}
	return out
}

func (s *fakeSwarm) node(ref string) *SwarmNode {
	for i := range s.nodes {
		if s.nodes[i].ID == ref || s.nodes[i].Hostname == ref {
			return &s.nodes[i]
		}
	}
	return nil
}

func (s *fakeSwarm) handle(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.Script.Name() {
	case "probe.sh":
		code := s.health
		if c, ok := s.healthBy[c.ScriptArgs[0]]; ok {
			code = c
		}
		n, _ := strconv.Atoi(code)
		return ok(probe.Output(n, time.Millisecond))
	case "purge-data.sh":
		delete(s.dirs, c.ScriptArgs[0])
		return ok("")
	case "node-labels.sh":
		var b strings.Builder
		for _, n := range s.nodes {
			j, _ := json.Marshal(n)
			b.Write(j)
			b.WriteByte('\n')
		}
		return ok(b.String())
	}
	a := c.Args
	line := strings.Join(a, " ")
	last := a[len(a)-1]
	switch {
	case strings.HasPrefix(line, "docker service inspect --format {{if .Spec.Mode.Global}}"):
		svc := s.services[last]
		if svc == nil {
			return exit(h, c, 1, "Error: no such service: "+last)
		}
		return ok(svc.mode + "\n")
	case strings.HasPrefix(line, "docker service inspect --format {{json .UpdateStatus}}"):
		svc := s.services[last]
		if svc == nil {
			return exit(h, c, 1, "Error: no such service: "+last)
		}
		if svc.lag > 0 {
			svc.lag--
			return ok("null\n")
		}
		if svc.pending {
			svc.pending = false
			s.newTasks(last)
		}
		if svc.updating > 0 {
			svc.updating--
			return ok(`{"State":"updating","Message":"update in progress"}` + "\n")
		}
		return ok("null\n")
	case strings.HasPrefix(line, "docker service ps --no-trunc --format {{json .}}"):
		var b strings.Builder
		if svc := s.services[last]; svc != nil {
			for _, t := range svc.tasks {
				if strings.Contains(line, "desired-state=running") && t.DesiredState != "Running" {
					continue
				}
				j, _ := json.Marshal(DockerTask(t))
				b.Write(j)
				b.WriteByte('\n')
			}
		}
		return ok(b.String())
	case strings.HasPrefix(line, "docker network inspect --format"):
		d, found := s.networks[last]
		if !found {
			return exit(h, c, 1, "Error: No such network: "+last)
		}
		return ok(d + "\n")
	case strings.HasPrefix(line, "docker network create --driver overlay --attachable "):
		s.networks[last] = "overlay swarm"
		return ok("netid\n")
	case a[0] == "test" && a[1] == "-d":
		if !s.dirs[a[2]] {
			return exit(h, c, 1, "")
		}
		return ok("")
	case a[0] == "mkdir" && a[1] == "-p":
		for _, d := range a[2:] {
			s.dirs[d] = true
		}
		return ok("")
	case a[0] == "stat":
		return ok(s.modes[last] + "\n")
	case a[0] == "chmod":
		s.modes[a[2]] = a[1]
		return ok("")
	case strings.HasPrefix(line, "docker node update --label-add "):
		k, v, _ := strings.Cut(a[4], "=")
		s.node(last).Labels[k] = v
		return ok(last + "\n")
	case strings.HasPrefix(line, "docker node update --label-rm "):
		delete(s.node(last).Labels, a[4])
		return ok(last + "\n")
	case strings.HasPrefix(line, "docker stack deploy --prune -c /var/data/config/registry/registry.yml"):
		return s.deploy(h, c)
	case strings.HasPrefix(line, "docker service update --force --detach --quiet "):
		s.restarts++
		s.newTasks(last)
		return ok("")
	case strings.HasPrefix(line, "docker service rm "):
		delete(s.services, last)
		s.removed = append(s.removed, last)
		return ok(last + "\n")
	case strings.HasPrefix(line, "docker node inspect"):
		n := s.node(last)
		if n == nil {
			return exit(h, c, 1, "Error: No such node: "+last)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(n.Hostname, "m"))
		return ok(fmt.Sprintf("10.0.0.%d:2377\n", i+1)) // m1 is 10.0.0.2
	case strings.HasPrefix(line, "docker service ls --filter label=com.docker.stack.namespace=registry"):
		var names []string
		for n := range s.services {
			names = append(names, n)
		}
		slices.Sort(names)
		return ok(strings.Join(names, "\n"))
	case strings.HasPrefix(line, "docker network ls --filter label=com.docker.stack.namespace=registry"):
		return ok(strings.Join(s.stackNets, "\n"))
	case (a[1] == "config" || a[1] == "secret") && a[2] == "ls":
		var names []string
		for o := range s.objects {
			if k, n, _ := strings.Cut(o, " "); k == a[1] {
				names = append(names, n)
			}
		}
		return ok(strings.Join(names, "\n"))
	case (a[1] == "config" || a[1] == "secret") && a[2] == "rm":
		if last == s.objectInUse {
			return exit(h, c, 1, "Error response from daemon: rpc error: code = InvalidArgument desc = "+a[1]+" '"+last+"' is in use by the following service: x")
		}
		delete(s.objects, a[1]+" "+last)
		return ok(last + "\n")
	case line == "docker stack rm registry":
		s.services = map[string]*fakeService{}
		s.objects = map[string]bool{}
		if s.rmFailsOnce {
			s.rmFailsOnce = false
			return exit(h, c, 1, "Failed to remove network registry_default: network has active endpoints")
		}
		s.stackNets = nil
		return ok("Removing service registry_registry-mirror\n")
	case strings.HasPrefix(line, "docker service ps --filter desired-state=running --format {{.Node}} "):
		if s.services[last] == nil {
			return exit(h, c, 1, "no such service: "+last)
		}
		var b strings.Builder
		for _, n := range s.taskNodes {
			b.WriteString(n + "\n")
		}
		return ok(b.String())
	case strings.HasPrefix(line, "docker ps -q --filter label=com.docker.stack.namespace=registry"):
		if s.containers > 0 {
			s.containers--
			return ok("c0ffee\n")
		}
		return ok("")
	case strings.HasPrefix(line, "docker ps --filter label=com.docker.swarm.service.name=") && strings.Contains(line, "--filter status=running --format"):
		svcName := strings.TrimPrefix(a[3], "label=com.docker.swarm.service.name=")
		var b strings.Builder
		b.WriteString("0ld0ld otherservice-task\n")
		if svc := s.services[svcName]; svc != nil {
			for _, t := range svc.tasks {
				if !s.tasksElsewhere && strings.HasPrefix(t.CurrentState, "Running") {
					fmt.Fprintf(&b, "c-%s %s\n", t.ID, t.ID)
				}
			}
		}
		return ok(b.String())
	case len(a) == 9 && a[0] == "docker" && a[1] == "exec" && a[3] == "sh" && a[4] == "-c" && a[6] == "probe.sh" && strings.HasSuffix(a[7], "://127.0.0.1:5000/v2/"):
		s.execs++
		if !strings.HasPrefix(a[2], "c-") {
			return exit(h, c, 1, "Error response from daemon: No such container: "+a[2])
		}
		if s.execErr != "" {
			return exit(h, c, 127, s.execErr)
		}
		code, _ := strconv.Atoi(s.execHealth)
		return ok(probe.Output(code, time.Millisecond))
	case a[0] == "rm" && a[1] == "-f":
		return ok("")
	case a[0] == "rmdir":
		return ok("")
	}
	return exit(h, c, 127, "fake swarm: unexpected command: "+line)
}

// deploy is docker stack deploy --prune: services and objects from the
// stack file, services no longer in it removed.
func (s *fakeSwarm) deploy(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
	data, found := h.File("/var/data/config/registry/registry.yml")
	if !found {
		return exit(h, c, 1, "open: no such file")
	}
	var doc struct {
		Services map[string]struct {
			Deploy struct {
				Mode     string `yaml:"mode"`
				Replicas int    `yaml:"replicas"`
			} `yaml:"deploy"`
		} `yaml:"services"`
		Configs map[string]objectDoc `yaml:"configs"`
		Secrets map[string]objectDoc `yaml:"secrets"`
	}
	if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
		return exit(h, c, 1, err.Error())
	}
	for _, o := range doc.Configs {
		if _, found := h.File(o.File); !found {
			return exit(h, c, 1, "open "+o.File+": no such file or directory")
		}
		s.objects["config "+o.Name] = true
	}
	for _, o := range doc.Secrets {
		if _, found := h.File(o.File); !found {
			return exit(h, c, 1, "open "+o.File+": no such file or directory")
		}
		s.objects["secret "+o.Name] = true
	}
	s.deploys++
	changed := data != s.spec
	s.spec = data
	labelled := 0
	for _, n := range s.nodes {
		if n.Labels["swarmctl.mirror.registry"] == "true" {
			labelled++
		}
	}
	for name := range s.services {
		if _, keep := doc.Services[strings.TrimPrefix(name, "registry_")]; !keep {
			delete(s.services, name)
		}
	}
	for key, d := range doc.Services {
		name := "registry_" + key
		mode, n := "replicated", d.Deploy.Replicas
		if d.Deploy.Mode == "global" {
			mode, n = "global", labelled
		}
		svc := s.services[name]
		if svc != nil && svc.mode != mode {
			return exit(h, c, 1, "failed to update service "+name+": Error response from daemon: rpc error: code = Unimplemented desc = service mode change is not allowed")
		}
		if svc == nil {
			svc = &fakeService{mode: mode, replicas: n}
			s.services[name] = svc
			s.newTasks(name)
			continue
		}
		svc.replicas = n
		if changed {
			// The orchestrator starts the rolling update a moment later.
			svc.lag, svc.pending, svc.updating = 1, true, 2
		}
	}
	if len(s.stackNets) == 0 && !strings.Contains(data, "external: true") {
		s.stackNets = []string{"registry_default"}
	}
	return ok("Creating services\n")
}

// newTasks replaces a service's running tasks (a deploy or forced update).
func (s *fakeSwarm) newTasks(name string) {
	svc := s.services[name]
	for i := range svc.tasks {
		svc.tasks[i].DesiredState = "Shutdown"
		svc.tasks[i].CurrentState = "Shutdown 1 second ago"
	}
	var on []string
	for _, n := range s.nodes {
		if svc.mode == "global" && n.Labels["swarmctl.mirror.registry"] == "true" {
			on = append(on, n.Hostname)
		}
	}
	for i := 0; i < svc.replicas; i++ {
		node := "m1"
		if i < len(on) {
			node = on[i]
		}
		t := Task{ID: fmt.Sprintf("%s-t%d", strings.TrimPrefix(name, "registry_"), len(svc.tasks)), Name: fmt.Sprintf("%s.%d", name, i+1), Image: "registry:3",
			Node: node, DesiredState: "Running", CurrentState: "Running 1 second ago"}
		if s.failTasks != "" {
			t.CurrentState, t.Error = "Rejected 1 second ago", s.failTasks
		}
		svc.tasks = append(svc.tasks, t)
	}
}

func (s *fakeSwarm) mutating(h *fakehost.Host) []string {
	var out []string
	for _, c := range h.Commands {
		if c.Script.Name() != "" && c.Script.Name() != "purge-data.sh" {
			continue
		}
		switch {
		case len(c.Args) > 0 && (c.Args[0] == "mkdir" || c.Args[0] == "chmod" || c.Args[0] == "rm" || c.Args[0] == "rmdir"),
			len(c.Args) > 2 && c.Args[0] == "docker" && (c.Args[2] == "deploy" || c.Args[2] == "create" || c.Args[2] == "update" || c.Args[2] == "rm"):
			out = append(out, strings.Join(c.Args, " "))
		}
	}
	return out
}

func mustRender(t *testing.T, v Values) Rendered {
	t.Helper()
	r, err := Render(templates.FS, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var fast = InstallOptions{Wait: 5 * time.Second, Poll: time.Millisecond}

func newManager() (*fakeSwarm, *fakehost.Host) {
	s := newSwarm()
	s.networks["traefik_public"] = "overlay swarm"
	h := fakehost.New("m1", nil, s.handle)
	h.Replaced = func(p string, mode fs.FileMode) { // what stat then reports
		s.mu.Lock()
		s.modes[p] = strconv.FormatUint(uint64(mode.Perm()), 8)
		s.mu.Unlock()
	}
	return s, h
}

func TestInstallFirstDeploysThenNoOp(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	r := mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}})
	var logs []string
	o := fast
	o.Log = func(l string) { logs = append(logs, l) }

	res, err := Install(ctx, h, r, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Deployed || res.Restarted || !res.Converged || res.Running != 1 || res.Health == nil || !res.Health.OK ||
		res.Health.URL != "http://127.0.0.1:5000/v2/" || len(res.Wrote) != 2 || s.deploys != 1 {
		t.Errorf("first install: %+v deploys=%d", res, s.deploys)
	}
	if got, _ := h.File(r.Stack.Path); got != string(r.Stack.Data) {
		t.Error("stack file not written")
	}
	if !s.dirs["/var/data/registry/registry-mirror-data"] || !s.dirs["/var/data/config/registry"] {
		t.Errorf("dirs %v", s.dirs)
	}
	if !res.Plan.Deploy || res.Plan.ServiceExists || !strings.Contains(res.Plan.Files[1].Diff, "+++ "+r.Stack.Path) {
		t.Errorf("plan %+v", res.Plan)
	}
	if len(logs) == 0 {
		t.Error("no progress lines")
	}

	// Second run with the same values: nothing written, nothing deployed.
	before := len(s.mutating(h))
	writes := len(h.Writes)
	res, err = Install(ctx, h, r, fast)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployed || res.Restarted || len(res.Wrote) != 0 || res.Plan.Changed() || !res.Converged || !res.Health.OK {
		t.Errorf("second install: %+v", res)
	}
	if m := s.mutating(h); len(m) != before || len(h.Writes) != writes || s.deploys != 1 {
		t.Errorf("second install changed the node: %v writes %v", m[before:], h.Writes[writes:])
	}
}

func TestInstallChangedValuesRedeploy(t *testing.T) {
	ctx := context.Background()
	s, h := newManager()
	if _, err := Install(ctx, h, mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}}), fast); err != nil {
		t.Fatal(err)
	}

	// Stack file change: redeploy, no forced restart; the update starts
	// one poll late and must not be mistaken for convergence.
	oldTasks := map[string]bool{}
	for _, tk := range s.tasks() {
		oldTasks[tk.ID] = true
	}
	r2 := mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror2.example.com", Traefik: TraefikV1, Publish: 5000}})
	res, err := Install(ctx, h, r2, fast)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Deployed || res.Restarted || s.deploys != 2 || len(res.Wrote) != 1 || res.Wrote[0] != r2.Stack.Path {
		t.Errorf("stack change: %+v deploys=%d", res, s.deploys)
	}
	if !strings.Contains(res.Plan.Files[1].Diff, "-        - traefik.frontend.rule=Host:mirror.example.com") ||
		!strings.Contains(res.Plan.Files[1].Diff, "+        - traefik.frontend.rule=Host:mirror2.example.com") {
		t.Errorf("diff:\n%s", res.Plan.Files[1].Diff)
	}
	if svc := s.service(); svc.updating != 0 || svc.pending {
		t.Error("Install did not wait out the update")
	}
	for _, tk := range res.Tasks {
		if oldTasks[tk.ID] {
			t.Errorf("converged on the old task %s", tk.ID)
		}
	}

	// Config change (credentials): the config is a new swarm secret, so
	// the stack file changes and the deploy rolls the service; no forced
	// restart; secret file 0600; the old config object is removed once the
	// new one runs; password never in the plan or logs.
	var logs []string
	o := fast
	o.Log = func(l string) { logs = append(logs, l) }
	oldObject := "config " + r2.Configs[0].SwarmName
	if !s.objects[oldObject] {
		t.Fatalf("objects %v lack %s", s.objects, oldObject)
	}
	r3 := mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror2.example.com", Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: "hunter2-secret"})
	s.modes[r3.Configs[0].Path] = "644"
	res, err = Install(ctx, h, r3, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Deployed || res.Restarted || s.restarts != 0 || s.deploys != 3 {
		t.Errorf("config change: %+v", res)
	}
	if s.modes[r3.Configs[0].Path] != "600" {
		t.Errorf("config mode %s, want 600 (chmod before the password is written)", s.modes[r3.Configs[0].Path])
	}
	if s.objects[oldObject] || !s.objects["secret "+r3.Configs[0].SwarmName] || !slices.Contains(res.Cleaned, oldObject) {
		t.Errorf("objects %v cleaned %v", s.objects, res.Cleaned)
	}
	plan, _ := json.Marshal(res)
	if strings.Contains(string(plan), "hunter2") || strings.Contains(strings.Join(logs, "\n"), "hunter2") {
		t.Errorf("password leaked:\n%s\n%s", plan, logs)
	}
	if !strings.Contains(res.Plan.Files[0].Diff, `+  password: "***"`) {
		t.Errorf("config diff:\n%s", res.Plan.Files[0].Diff)
	}
	for _, c := range h.Commands {
		if strings.Contains(nodes.CommandLine(c, false), "hunter2") || strings.Contains(string(c.Stdin), "hunter2") {
			t.Errorf("password on a command line: %q", nodes.CommandLine(c, false))
		}
	}

	// Only the password changes: the diff shows nothing, the file is rewritten.
	r4 := mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror2.example.com", Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: "other-secret"})
	p, err := ComputePlan(ctx, h, r4, fast)
	if err != nil {
		t.Fatal(err)
	}
	if f := p.Files[0]; !f.Changed || !f.SecretChanged || f.Diff != "" || p.Restart || !p.Deploy {
		t.Errorf("password-only change: %+v", p)
	}
}

func TestInstallFileModeForNewSecret(t *testing.T) {
	_, h := newManager()
	r := mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror.example.com", Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: "pw-123"})
	if _, err := Install(context.Background(), h, r, fast); err != nil {
		t.Fatal(err)
	}
	if h.Mode(r.Configs[0].Path) != 0o600 || h.Mode(r.Stack.Path) != 0o644 {
		t.Errorf("modes config %o stack %o", h.Mode(r.Configs[0].Path), h.Mode(r.Stack.Path))
	}
}

func TestInstallMissingNetwork(t *testing.T) {
	ctx := context.Background()
	s := newSwarm()
	h := fakehost.New("m1", nil, s.handle)
	r := mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}})
	_, err := Install(ctx, h, r, fast)
	if err == nil || !strings.Contains(err.Error(), "network traefik_public does not exist") || !strings.Contains(err.Error(), "--create-network") {
		t.Fatalf("err = %v", err)
	}
	if m := s.mutating(h); len(m) != 0 || len(h.Writes) != 0 {
		t.Errorf("touched the node before failing: %v %v", m, h.Writes)
	}

	o := fast
	o.CreateNetwork = true
	res, err := Install(ctx, h, r, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.NetworkCreated || s.networks["traefik_public"] != "overlay swarm" || !res.Deployed {
		t.Errorf("create network: %+v", res)
	}

	// A local bridge network of that name cannot be joined by a service.
	s2 := newSwarm()
	s2.networks["traefik_public"] = "bridge local"
	_, err = Install(ctx, fakehost.New("m1", nil, s2.handle), r, o)
	if err == nil || !strings.Contains(err.Error(), "not a swarm overlay network") {
		t.Errorf("bridge network: %v", err)
	}

	// Traefik none: no network needed, none checked.
	s3 := newSwarm()
	h3 := fakehost.New("m1", nil, s3.handle)
	if _, err := Install(ctx, h3, mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikNone, Publish: 5000}}), fast); err != nil {
		t.Fatal(err)
	}
	for _, c := range h3.Commands {
		if len(c.Args) > 1 && c.Args[1] == "network" {
			t.Errorf("network command with traefik none: %v", c.Args)
		}
	}
}

func TestInstallDryRunWritesNothing(t *testing.T) {
	s, h := newManager()
	h.SetFile("/var/data/config/registry/registry.yml", "old: stack\n", 0o644)
	r := mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror.example.com", Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: "dry-secret"})
	o := fast
	o.DryRun = true
	res, err := Install(context.Background(), h, r, o)
	if err != nil {
		t.Fatal(err)
	}
	if m := s.mutating(h); len(m) != 0 || len(h.Writes) != 0 {
		t.Errorf("dry run changed the node: %v %v", m, h.Writes)
	}
	if !res.DryRun || !res.Plan.Deploy || res.Deployed || !res.Plan.Changed() {
		t.Errorf("dry run: %+v", res)
	}
	d := res.Plan.Files[1].Diff
	if !strings.Contains(d, "-old: stack") || !strings.Contains(d, "+version: \"3.8\"") {
		t.Errorf("stack diff:\n%s", d)
	}
	if c := res.Plan.Files[0]; c.Exists || !strings.HasPrefix(c.Diff, "--- /dev/null") || strings.Contains(c.Diff, "dry-secret") {
		t.Errorf("config diff:\n%s", c.Diff)
	}
}

func TestInstallConvergeFailureShowsTaskErrors(t *testing.T) {
	s, h := newManager()
	s.failTasks = `invalid mount config for type "bind": bind source path does not exist`
	o := fast
	o.Wait = 50 * time.Millisecond
	_, err := Install(context.Background(), h, mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}}), o)
	var ce *ConvergeError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "bind source path does not exist") || !strings.Contains(err.Error(), "0/1") {
		t.Fatalf("err = %v", err)
	}
}

func TestInstallHealthFailure(t *testing.T) {
	s, h := newManager()
	s.health = "502"
	o := fast
	o.Wait = 300 * time.Millisecond
	res, err := Install(context.Background(), h, mustRender(t, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror.example.com", Publish: 5000, PublishMode: PublishHost}}), o)
	if err == nil || !strings.Contains(err.Error(), "GET /v2/") || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v", err)
	}
	if res.Health == nil || res.Health.URL != "http://10.0.0.2:5000/v2/" || res.Health.Status != 502 {
		t.Errorf("health %+v (host mode must ask the task's node)", res.Health)
	}
}

// A probe cut short by the deadline must not replace the last real answer
// (CI once saw Status 0 here under load).
func TestInstallHealthKeepsLastAnswerWhenCutShort(t *testing.T) {
	s := newSwarm()
	s.networks["traefik_public"] = "overlay swarm"
	s.health = "502"
	probes := 0
	h := fakehost.New("m1", nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() == "probe.sh" {
			probes++
			if probes > 1 {
				time.Sleep(400 * time.Millisecond) // outlives the wait below
				return exit(h, c, 28, "curl: (28) Operation timed out")
			}
		}
		return s.handle(h, c)
	})
	o := fast
	o.Wait = 300 * time.Millisecond
	res, err := Install(context.Background(), h, mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}}), o)
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v", err)
	}
	if probes < 2 {
		t.Fatalf("probes = %d, the test needs a second probe cut short", probes)
	}
	if res.Health == nil || res.Health.Status != 502 || res.Health.OK {
		t.Errorf("health %+v, want the last real answer (502)", res.Health)
	}
}

func TestUninstall(t *testing.T) {
	ctx := context.Background()
	s := newSwarm()
	h := fakehost.New("m1", nil, s.handle)
	v := Values{Mirror: inventory.Mirror{Traefik: TraefikNone, Publish: 5000}}
	if _, err := Install(ctx, h, mustRender(t, v), fast); err != nil {
		t.Fatal(err)
	}
	v.Defaults()
	s.rmFailsOnce = true // network still has endpoints on the first try
	s.containers = 2
	res, err := Uninstall(ctx, h, v, UninstallOptions{Purge: true, Wait: 5 * time.Second, Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Removed || len(s.services) != 0 || len(s.stackNets) != 0 || len(res.Purged) != 3 || s.dirs[v.DataDir] {
		t.Errorf("uninstall: %+v swarm %+v", res, s)
	}
	if s.containers != 0 {
		t.Error("purged before the registry's containers were gone")
	}
	for _, bad := range []Values{{Mirror: inventory.Mirror{StackName: "-x", StackFile: v.StackFile, ConfigFile: v.ConfigFile, DataDir: v.DataDir}},
		{Mirror: inventory.Mirror{StackName: "registry", StackFile: v.StackFile, ConfigFile: v.ConfigFile, DataDir: "/"}}} {
		n := len(h.Commands)
		if _, err := Uninstall(ctx, h, bad, UninstallOptions{Purge: true}); err == nil || len(h.Commands) != n {
			t.Errorf("Uninstall(%+v) = %v after %d commands", bad, err, len(h.Commands)-n)
		}
	}
	// Again: nothing to remove, no error.
	res, err = Uninstall(ctx, h, v, UninstallOptions{Wait: time.Second, Poll: time.Millisecond})
	if err != nil || res.Removed {
		t.Errorf("second uninstall: %+v %v", res, err)
	}
}

// With nothing published (Traefik only) the manager cannot GET /v2/ on any
// port: the check runs inside the task's container when it is on the
// manager, and otherwise says "not checked" instead of passing silently.
func TestInstallUnpublishedChecksInsideTaskContainer(t *testing.T) {
	ctx := context.Background()
	unpublished := Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror.example.com", Publish: 0}}

	s, h := newManager()
	res, err := Install(ctx, h, mustRender(t, unpublished), fast)
	if err != nil {
		t.Fatal(err)
	}
	hl := res.Health
	if hl == nil || !hl.OK || hl.Via != HealthViaTask || hl.Status != 200 || hl.NotChecked != "" ||
		hl.URL != "http://127.0.0.1:5000/v2/" || hl.Container != "c-"+res.Tasks[0].ID || s.execs != 1 {
		t.Errorf("health %+v execs %d", hl, s.execs)
	}
	for _, c := range h.Commands {
		if c.Script.Name() == "probe.sh" {
			t.Errorf("probed a published port that does not exist: %v", c.ScriptArgs)
		}
	}

	// The registry in the container does not answer: install fails.
	s, h = newManager()
	s.execHealth = "502"
	o := fast
	o.Wait = 200 * time.Millisecond
	res, err = Install(ctx, h, mustRender(t, unpublished), o)
	if err == nil || !strings.Contains(err.Error(), "inside its container") || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v", err)
	}
	if res.Health == nil || res.Health.OK || res.Health.Status != 502 {
		t.Errorf("health %+v", res.Health)
	}

	// The task runs on another node: not checked, and said so.
	s, h = newManager()
	s.tasksElsewhere = true
	res, err = Install(ctx, h, mustRender(t, unpublished), fast)
	if err != nil {
		t.Fatal(err)
	}
	if hl := res.Health; hl == nil || hl.OK || !strings.Contains(hl.NotChecked, "no task of registry_registry-mirror runs on the manager") ||
		!strings.Contains(hl.NotChecked, "m1") || s.execs != 0 {
		t.Errorf("health %+v execs %d", hl, s.execs)
	}
	if j, _ := json.Marshal(res); !strings.Contains(string(j), `"not_checked":"nothing is published`) {
		t.Errorf("JSON does not say not checked: %s", j)
	}

	// An image without curl or wget: not checked either.
	s, h = newManager()
	s.execErr = "neither curl nor wget on this node"
	res, err = Install(ctx, h, mustRender(t, unpublished), fast)
	if err != nil || res.Health == nil || res.Health.OK || !strings.Contains(res.Health.NotChecked, "neither curl nor wget") {
		t.Errorf("no wget: %+v %v", res.Health, err)
	}
}

// Uninstall waits until the registry's containers are gone on every node
// that ran a task and that it can reach, and names the ones it cannot.
func TestUninstallWaitsForTaskContainersOnOtherNodes(t *testing.T) {
	ctx := context.Background()
	s := newSwarm()
	h := fakehost.New("m1", nil, s.handle)
	v := Values{Mirror: inventory.Mirror{Traefik: TraefikNone, Publish: 5000}}
	if _, err := Install(ctx, h, mustRender(t, v), fast); err != nil {
		t.Fatal(err)
	}
	v.Defaults()
	s.taskNodes = []string{"w1", "w2", "m1"}
	w1Left := 3 // polls before w1's container is gone
	w1 := fakehost.New("w1", nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if strings.HasPrefix(strings.Join(c.Args, " "), "docker ps -q --filter label=com.docker.stack.namespace=registry") {
			if w1Left > 0 {
				w1Left--
				return ok("c0ffee\n")
			}
			return ok("")
		}
		return exit(h, c, 1, "unexpected")
	})
	res, err := Uninstall(ctx, h, v, UninstallOptions{Wait: 5 * time.Second, Poll: time.Millisecond,
		NodeHost: func(n string) nodes.Host {
			switch n {
			case "w1":
				return w1
			case "m1":
				return h
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if w1Left != 0 {
		t.Errorf("returned while w1 still ran the registry's container (%d polls left)", w1Left)
	}
	if !slices.Equal(res.Unchecked, []string{"w2"}) {
		t.Errorf("unchecked %v, want [w2]", res.Unchecked)
	}

	// A container that never stops is an error once the wait is over.
	if _, err := Install(ctx, h, mustRender(t, v), fast); err != nil {
		t.Fatal(err)
	}
	stuck := fakehost.New("w1", nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) { return ok("c0ffee\n") })
	_, err = Uninstall(ctx, h, v, UninstallOptions{Wait: 200 * time.Millisecond, Poll: time.Millisecond,
		NodeHost: func(n string) nodes.Host {
			if n == "w1" {
				return stuck
			}
			return nil
		}})
	if err == nil || !strings.Contains(err.Error(), "w1: the registry's container is still running") {
		t.Errorf("err = %v", err)
	}
}

// A dry run only reads what the stack has and what a purge would remove;
// a negative wait runs docker stack rm once and returns; a purge refuses
// not to wait.
func TestUninstallDryRunAndNoWait(t *testing.T) {
	ctx := context.Background()
	s := newSwarm()
	h := fakehost.New("m1", nil, s.handle)
	v := Values{Mirror: inventory.Mirror{Traefik: TraefikNone, Publish: 5000}}
	if _, err := Install(ctx, h, mustRender(t, v), fast); err != nil {
		t.Fatal(err)
	}
	v.Defaults()
	n := len(h.Commands)
	res, err := Uninstall(ctx, h, v, UninstallOptions{DryRun: true, Purge: true})
	if err != nil || !res.Removed || len(res.Services) != 1 || len(res.WouldPurge) != 3 || len(res.Purged) != 0 || s.service() == nil {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	for _, c := range h.Commands[n:] {
		if line := strings.Join(c.Args, " "); !strings.HasPrefix(line, "docker service ls") && !strings.HasPrefix(line, "docker network ls") {
			t.Errorf("dry run ran %q", line)
		}
	}
	if _, err := Uninstall(ctx, h, v, UninstallOptions{Purge: true, Wait: -1}); err == nil || s.service() == nil {
		t.Errorf("purge without waiting: %v", err)
	}
	s.containers = 1
	res, err = Uninstall(ctx, h, v, UninstallOptions{Wait: -1, Poll: time.Millisecond})
	if err != nil || !res.Removed || s.service() != nil || s.containers != 1 {
		t.Errorf("no wait: %+v %v (containers %d: not waited for)", res, err, s.containers)
	}
}

// A symbolic link planted where the registry config (which holds the
// upstream password) or the stack file goes is refused before anything is
// read or written through it: no chmod, no write, no diff of its target.
func TestInstallRefusesSymlinkedFiles(t *testing.T) {
	r := mustRender(t, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikNone, Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: "pw-123"})
	for _, path := range []string{r.Configs[0].Path, r.Stack.Path} {
		for _, dry := range []bool{true, false} {
			s, h := newManager()
			h.Links = map[string]bool{path: true}
			h.SetFile(path, "root:$6$secret-hash:19000:0:99999:7:::\n", 0o640) // what the link points at
			s.modes[path] = "640"
			o := fast
			o.DryRun = dry
			res, err := Install(context.Background(), h, r, o)
			if err == nil || !strings.Contains(err.Error(), path+" is a symbolic link") {
				t.Errorf("%s (dry run %v): err = %v, want the link refused", path, dry, err)
			}
			if m := s.mutating(h); len(m) != 0 || len(h.Writes) != 0 || s.modes[path] != "640" {
				t.Errorf("%s (dry run %v): changed the node: %v writes %v mode %s", path, dry, m, h.Writes, s.modes[path])
			}
			if b, _ := json.Marshal(res); strings.Contains(string(b), "secret-hash") {
				t.Errorf("%s (dry run %v): the link's target shows in the result: %s", path, dry, b)
			}
		}
	}
}

// --purge refuses system paths before anything is done on the manager:
// a data directory such as /var/lib (whose docker/ is docker's own data)
// or one inside docker's data root, and stack or config files in a system
// directory (/etc/passwd).
func TestUninstallPurgeRefusesSystemPaths(t *testing.T) {
	base := Values{Mirror: inventory.Mirror{StackName: "registry"}}
	base.Defaults()
	for _, c := range []struct {
		field, val string
	}{
		{"data_dir", "/var/lib"}, {"data_dir", "/var"}, {"data_dir", "/usr/local"}, {"data_dir", "/var/lib/docker"},
		{"data_dir", "/var/lib/docker-latest/volumes/x"}, {"data_dir", "/etc/registry"}, {"data_dir", "/home"}, {"data_dir", "/srv"},
		{"config_file", "/etc/passwd"}, {"stack_file", "/usr/bin/docker"}, {"config_file", "/var/lib/docker/config.yml"},
	} {
		v := base
		switch c.field {
		case "data_dir":
			v.DataDir = c.val
		case "config_file":
			v.ConfigFile = c.val
		case "stack_file":
			v.StackFile = c.val
		}
		s := newSwarm()
		h := fakehost.New("m1", nil, s.handle)
		_, err := Uninstall(context.Background(), h, v, UninstallOptions{Purge: true})
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "system") || len(h.Commands) != 0 {
			t.Errorf("--purge with %s %s: err %v after %d commands, want refused before any", c.field, c.val, err, len(h.Commands))
		}
		// Without --purge nothing is deleted: the paths are not refused.
		if _, err := Uninstall(context.Background(), h, v, UninstallOptions{Wait: time.Second, Poll: time.Millisecond}); err != nil && strings.Contains(err.Error(), "system") {
			t.Errorf("without --purge %s %s: %v", c.field, c.val, err)
		}
	}
	for _, ok := range []string{"/var/data/registry/registry-mirror-data", "/srv/registry", "/mnt/disk1/registry", "/var/lib/registry-mirror"} {
		v := base
		v.DataDir = ok
		if err := v.validateUninstall(true); err != nil {
			t.Errorf("data_dir %s refused: %v", ok, err)
		}
	}
}
