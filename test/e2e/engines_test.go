package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
)

// engineCase is one lab of the engine matrix: what its machines run, its
// layout, and the registry image the mirror runs on it. Layouts alternate
// so that every engine runs in both (20.10's docker-latest is the main
// lab's, where the rest of the suite runs the main job).
type engineCase struct {
	name   string // subtest name and lab name suffix
	cfg    lab.Config
	mirror string // the mirror's image
	reuse  bool   // the suite's docker-layout lab (20.10), shared with other tests
}

var engineMatrix = []engineCase{
	{name: "20.10-classic-docker", reuse: true, mirror: lab.RegistryImage},
	{name: "26.1-classic-docker-latest", mirror: lab.RegistryImage, cfg: lab.Config{
		Managers: 1, Workers: 1, Layout: lab.LayoutDockerLatest, Engine: lab.Engine261, ImageStore: lab.StoreClassic}},
	{name: "26.1-containerd-docker", mirror: lab.Registry3Image, cfg: lab.Config{
		Managers: 1, Workers: 1, Layout: lab.LayoutDocker, Engine: lab.Engine261, ImageStore: lab.StoreContainerd}},
	{name: "28.5-classic-docker", mirror: lab.RegistryImage, cfg: lab.Config{
		Managers: 1, Workers: 1, Layout: lab.LayoutDocker, Engine: lab.Engine285, ImageStore: lab.StoreClassic}},
	{name: "28.5-containerd-docker-latest", mirror: lab.Registry3Image, cfg: lab.Config{
		Managers: 1, Workers: 1, Layout: lab.LayoutDockerLatest, Engine: lab.Engine285, ImageStore: lab.StoreContainerd}},
	// A fleet half-way through an upgrade: managers on 28.5 with the
	// containerd store, workers still on 20.10.
	{name: "mixed-28.5-containerd-managers-20.10-workers", mirror: lab.Registry3Image, cfg: lab.Config{
		Managers: 3, Workers: 1, Layout: lab.LayoutDocker,
		Manager: lab.Spec{Engine: lab.Engine285, ImageStore: lab.StoreContainerd},
		Worker:  lab.Spec{Engine: lab.Engine2010, ImageStore: lab.StoreClassic}}},
}

// engineLabs are the matrix labs up now (TestMain's teardown takes down
// any a failed test left).
var engineLabs = struct {
	sync.Mutex
	m map[string]*lab.Lab
}{m: map[string]*lab.Lab{}}

// needEngineLab brings up one matrix lab; it goes down when the test ends
// (unless SWARMCTL_LAB_KEEP=1), so that only one matrix lab runs at a time.
func needEngineLab(t *testing.T, c engineCase) *lab.Lab {
	t.Helper()
	if os.Getenv("SWARMCTL_E2E_NO_LAB") == "1" {
		t.Skip("SWARMCTL_E2E_NO_LAB=1: lab test skipped on request")
	}
	if c.reuse {
		return needDockerLayoutLab(t)
	}
	cfg := c.cfg
	// Lab names allow letters, digits and dashes.
	cfg.Name = labName() + "-" + strings.NewReplacer(".", "", "-docker-latest", "-dl", "-docker", "-d", "containerd", "ctd", "classic", "cl", "managers", "m", "workers", "w").Replace(c.name)
	cfg.Log = os.Stderr
	if c.mirror != lab.RegistryImage {
		cfg.LoadImages = []string{c.mirror}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := lab.Up(ctx, cfg)
	if l != nil {
		engineLabs.Lock()
		engineLabs.m[cfg.Name] = l
		engineLabs.Unlock()
	}
	t.Cleanup(func() {
		if os.Getenv("SWARMCTL_LAB_KEEP") == "1" || l == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := l.Down(ctx); err != nil {
			t.Errorf("lab %s down: %v", cfg.Name, err)
		}
		engineLabs.Lock()
		delete(engineLabs.m, cfg.Name)
		engineLabs.Unlock()
	})
	if err != nil {
		t.Fatalf("lab %s (%s) did not start: %v", cfg.Name, c.name, err)
	}
	t.Logf("lab %s up in %s", cfg.Name, time.Since(start).Round(100*time.Millisecond))
	return l
}

// engineInventory is the lab's inventory with the registry pinned to the
// first manager and the mirror running image.
func engineInventory(t *testing.T, l *lab.Lab, image string) []string {
	t.Helper()
	b, err := os.ReadFile(mirrorInventory(t, l, false))
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	inv["mirror"].(map[string]any)["image"] = image
	out, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "swarmctl.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"SWARMCTL_INVENTORY=" + p}
}

// TestEngines runs the main job on every engine and image store of the
// lab, in both layouts across the matrix, and on a mixed fleet: the lab
// itself checks out, nodes list reports what each dockerd runs, a node
// pulls straight from ghcr.io (seen in that stand-in's log with the node's
// address), then mirror install, nodes configure --dry-run and for real,
// mirror status, mirror prove, a pull through the mirror proven by Docker
// Hub's stand-in's log, apply finding nothing to do, and --remove (after which a
// pull goes around the mirror, and the log shows it).
func TestEngines(t *testing.T) {
	for _, c := range engineMatrix {
		t.Run(c.name, func(t *testing.T) {
			l := needEngineLab(t, c)
			if c.reuse {
				resetLab(t, l) // other tests use this lab too
			}
			t.Run("lab", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				if err := lab.Check(ctx, l); err != nil {
					t.Fatal(err)
				}
				for _, m := range l.Machines() {
					t.Logf("%s (%s): Docker %s, containerd %s, %s store (%s), %s layout", m.Name, m.Role, m.EngineVersion, m.ContainerdVersion, m.ImageStore, m.StorageDriver, m.Layout)
				}
			})
			t.Run("nodes-list", func(t *testing.T) {
				doc := nodesList(t, l, "--host-key-policy", "strict")
				if doc.Reachable != len(l.Machines()) {
					t.Fatalf("%d of %d reachable", doc.Reachable, len(l.Machines()))
				}
				sameEngines(t, l, doc)
			})
			t.Run("direct-pull-ghcr", func(t *testing.T) { directPull(t, l) })
			t.Run("main-job", func(t *testing.T) { mainJob(t, l, c.mirror, c.reuse) })
			if c.cfg.Manager.ImageStore == lab.StoreContainerd && c.cfg.Worker.ImageStore == lab.StoreClassic {
				// Issue 13 on the mixed fleet: every registry mirrored
				// where the engine can, reported where it cannot.
				t.Run("all-registries", func(t *testing.T) { allRegistries(t, l, c.mirror) })
			}
			if c.cfg.Engine == lab.Engine285 && c.cfg.ImageStore == lab.StoreContainerd {
				// Issue 12 where hosts.toml must name the CA.
				t.Run("company-ca-hosts-toml", func(t *testing.T) { companyCAContainerd(t, l, c.mirror) })
			}
		})
	}
}

// workerOf is the lab's last worker (a manager when it has none).
func workerOf(l *lab.Lab) lab.Machine {
	ms := l.Machines()
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Role == "worker" {
			return ms[i]
		}
	}
	return ms[len(ms)-1]
}

// directPull: a node pulls ghcr.io/lab/hello:1 straight from the ghcr.io
// stand-in (HTTPS, trusted through the system store) and runs it; the
// stand-in's log shows the node's own address.
func directPull(t *testing.T, l *lab.Lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ghcr, err := l.StandIn(lab.GHCRName)
	if err != nil {
		t.Fatal(err)
	}
	w := workerOf(l)
	image := lab.GHCRName + "/" + lab.HelloRepo + ":" + lab.HelloTag
	l.Exec(ctx, w.Name, "docker", "rmi", "-f", image) // absent is fine
	mark, err := ghcr.Mark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := l.Exec(ctx, w.Name, "docker", "pull", image); err != nil {
		t.Fatalf("%s: docker pull %s: %v\n%s", w.Name, image, err, out)
	}
	if out := inMachine(t, l, w.Name, "docker", "run", "--rm", image); strings.TrimSpace(out) != "hello from the lab's ghcr.io" {
		t.Errorf("%s: the image says %q", w.Name, out)
	}
	es, clients := upstreamLog(t, ghcr, mark)
	fetched := false
	for _, e := range es {
		if e.Client == w.IP && strings.HasPrefix(e.Path, "/v2/"+lab.HelloRepo+"/manifests/") && e.Status == 200 {
			fetched = true
		}
	}
	if !fetched || len(clients) != 1 {
		t.Errorf("ghcr.io's access log since the pull: clients %v, want only %s (%s) with a manifest request", clients, w.Name, w.IP)
	}
}

// mainJob is the product's main job, step by step as an operator runs it.
// shared: other tests use the lab, so it is reset afterwards.
func mainJob(t *testing.T, l *lab.Lab, image string, shared bool) {
	env := engineInventory(t, l, image)
	url := mirrorURL(t, l)
	mgr := l.Manager()

	// Preconditions (no-ops on a fresh lab).
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.Code)
	}

	r, doc := installJSON(t, env)
	if r.Code != 0 || doc.Error != nil || !doc.Result.Converged || doc.Result.Running != 1 || doc.Result.Health == nil || !doc.Result.Health.OK {
		t.Fatalf("mirror install: exit %d, %+v", r.Code, doc)
	}
	if got := strings.TrimSpace(inMachine(t, l, mgr.Name, "docker", "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", mirrorService)); !strings.HasPrefix(got, image) {
		t.Errorf("the mirror runs %q, want %s", got, image)
	}

	// Dry run: every node would change, nothing does.
	before := snapshots(t, l)
	r, cdoc := configureEnvJSON(t, env, "--dry-run")
	if r.Code != 0 {
		t.Fatalf("configure --dry-run: exit %d", r.Code)
	}
	for name, o := range outcomes(cdoc) {
		if o != "would-restart" && o != "would-reload" {
			t.Errorf("%s: dry run %s", name, o)
		}
	}
	for name, s := range snapshots(t, l) {
		dockerUntouched(t, name, before[name], s)
	}

	// For real: every node configured and its live daemon uses the mirror.
	r, cdoc = configureEnvJSON(t, env)
	if r.Code != 0 {
		t.Fatalf("configure: exit %d", r.Code)
	}
	want := mirrorSet(true, url+"/")
	for _, m := range l.Machines() {
		if o := outcomes(cdoc)[m.Name]; o != "restarted" && o != "reloaded" {
			t.Errorf("%s: %s", m.Name, o)
		}
		if got := liveMirrorSet(t, l, m.Name); got != want {
			t.Errorf("%s (%s, %s store): docker info says %s, want %s", m.Name, m.EngineVersion, m.ImageStore, got, want)
		}
	}
	swarmHealthy(t, l)
	waitMirror(t, url)
	r, sdoc := statusJSON(t, env)
	if r.Code != 0 || sdoc.Health != "healthy" {
		t.Errorf("mirror status: exit %d, health %s, problems %v", r.Code, sdoc.Health, sdoc.Problems)
	}
	allApplied(t, l, sdoc)
	// mirror prove agrees, from the registry's own log (registry:2 and
	// registry:3, daemon.json and hosts.toml nodes alike).
	if r, pdoc := proveJSON(t, env); r.Code != 0 {
		t.Errorf("mirror prove: exit %d", r.Code)
	} else {
		everyNode(t, l, pdoc, "via-mirror", "")
	}

	// Every node pulls from "Docker Hub" through the mirror: only the
	// mirror's node appears in the stand-in's log.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mark := hubMark(t, l)
	for _, m := range l.Machines() {
		l.Exec(ctx, m.Name, "docker", "rmi", "-f", "busybox:latest") // absent is fine
		start := time.Now()
		if out, err := l.Exec(ctx, m.Name, "docker", "pull", "busybox"); err != nil {
			t.Fatalf("%s: docker pull busybox: %v\n%s", m.Name, err, out)
		}
		t.Logf("%s (%s, %s store): docker pull busybox through the mirror in %s", m.Name, m.EngineVersion, m.ImageStore, time.Since(start).Round(100*time.Millisecond))
	}
	onlyMirrorFetched(t, l, l.Hub(), mark, mgr, "library/busybox")
	if c := catalog(t, url); !strings.Contains(c, "library/busybox") {
		t.Errorf("mirror catalog after the pulls: %s", c)
	}

	// apply (install + configure + status) finds nothing to do.
	r = swarmctl(t, env, "apply", "-o", "json")
	var adoc applyDoc
	if err := json.Unmarshal([]byte(r.Stdout), &adoc); err != nil || r.Code != 0 || !adoc.OK || adoc.Changed {
		t.Errorf("apply: exit %d, %v, %+v", r.Code, err, adoc)
	}

	// --remove takes the mirror out of every live daemon; a pull then goes
	// around the mirror, and the stand-in's log shows the node itself.
	r, cdoc = configureEnvJSON(t, env, "--remove")
	if r.Code != 0 {
		t.Fatalf("configure --remove: exit %d %v", r.Code, cdoc.Summary)
	}
	for _, m := range l.Machines() {
		if got := liveMirrors(t, l, m.Name); !strings.HasPrefix(got, "[] ") && !strings.HasPrefix(got, "null ") {
			t.Errorf("%s: mirrors still %s after --remove", m.Name, got)
		}
	}
	w := workerOf(l)
	l.Exec(ctx, w.Name, "docker", "rmi", "-f", "busybox:latest")
	mark = hubMark(t, l)
	if out, err := l.Exec(ctx, w.Name, "docker", "pull", "busybox"); err != nil {
		t.Fatalf("%s: docker pull busybox without the mirror: %v\n%s", w.Name, err, out)
	}
	if _, clients := upstreamLog(t, l.Hub(), mark); clients[w.IP] == 0 {
		t.Errorf("after --remove, %s's direct pull is not in Docker Hub's log: %v", w.Name, clients)
	}

	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Errorf("uninstall: exit %d", r.Code)
	}
	stackGone(t, l)
	if shared {
		resetLab(t, l) // experimental back off
	}
}

// configureEnvJSON runs nodes configure -o json --yes with env (restarts
// and removals need consent; a dry run never asks).
func configureEnvJSON(t *testing.T, env []string, args ...string) (result, configureDoc) {
	t.Helper()
	r := swarmctl(t, env, append([]string{"nodes", "configure", "-o", "json", "--yes"}, args...)...)
	var doc configureDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("nodes configure -o json: %v\n%s", err, r.Stdout)
	}
	return r, doc
}
