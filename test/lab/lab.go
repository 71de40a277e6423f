// Package lab runs a local Docker Swarm for end-to-end tests: machines are
// containers with systemd as PID 1, OpenSSH and their own dockerd, on a
// private network of an outer Docker engine (started by the lab when none
// answers). See /work/shared/docs/lab-notes.md for why it looks this way.
package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config says which lab to bring up.
type Config struct {
	// Name tells labs apart (container/network prefix, state dir). Default DefaultName.
	Name string
	// Managers and Workers count the machines (default 3 and 2; Workers
	// may be 0 only when Managers is also given).
	Managers, Workers int
	// Layout is LayoutDockerLatest (default) or LayoutDocker.
	Layout string
	// Engine and ImageStore are what every machine runs (default Engine2010
	// and StoreClassic); Manager and Worker override them by role, for a
	// fleet half-way through an upgrade (e.g. managers on 28.5 with the
	// containerd store, workers on 20.10).
	Engine, ImageStore string
	Manager, Worker    Spec
	// LoadImages are images of the outer engine loaded into every machine
	// besides registry:2 (e.g. Registry3Image, built when missing).
	LoadImages []string
	// StateDir defaults to <RootDir()>/<Name>.
	StateDir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Machine is one lab machine.
type Machine struct {
	Name      string `json:"name"`
	IP        string `json:"ip"`
	Role      string `json:"role"` // manager or worker
	Layout    string `json:"layout"`
	Container string `json:"container"`
	// Engine and ImageStore are what the machine was made to run (Spec);
	// EngineVersion, ContainerdVersion, StorageDriver and, once up,
	// ImageStore are read from its dockerd (Up fails when the image store
	// read differs from the one asked for).
	Engine            string `json:"engine"`
	ImageStore        string `json:"image_store"`
	EngineVersion     string `json:"engine_version,omitempty"`
	ContainerdVersion string `json:"containerd_version,omitempty"`
	StorageDriver     string `json:"storage_driver,omitempty"`
	// Added is true for machines from AddMachine: in the swarm but not in
	// inventory.yaml.
	Added bool `json:"added,omitempty"`
}

// Lab is a running lab. Its description is kept in <StateDir>/lab.json.
type Lab struct {
	st     state
	dir    string
	e      *engine
	ca     *CA
	caErr  error
	caOnce sync.Once
	log    io.Writer
	mu     sync.Mutex
}

// state is lab.json.
type state struct {
	Name       string              `json:"name"`
	Layout     string              `json:"layout"`
	Managers   int                 `json:"managers"`
	Workers    int                 `json:"workers"`
	ManagerRun Spec                `json:"manager_spec"`
	WorkerRun  Spec                `json:"worker_spec"`
	LoadImages []string            `json:"load_images,omitempty"`
	DockerHost string              `json:"docker_host"`
	Network    string              `json:"network"`
	Subnet     string              `json:"subnet"`
	Gateway    string              `json:"gateway"`
	DNSIP      string              `json:"dns_ip"`
	Upstream   string              `json:"upstream"` // https://registry-1.docker.io
	StandIns   []StandIn           `json:"stand_ins"`
	Images     map[string]string   `json:"images"` // machine image by engine
	Machines   []Machine           `json:"machines"`
	HostKeys   map[string][]string `json:"host_keys,omitempty"`
	Created    time.Time           `json:"created"`
}

// DefaultName is the lab the e2e suite uses, so that `make lab-up` makes
// `make e2e` start in seconds.
const DefaultName = "e2e"

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)

func (c *Config) defaults() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("lab name %q: use lower-case letters, digits and dashes", c.Name)
	}
	if c.Managers == 0 && c.Workers == 0 {
		c.Managers, c.Workers = 3, 2
	}
	if c.Managers < 1 || c.Workers < 0 || c.Managers+c.Workers > 200 {
		return fmt.Errorf("lab %s: need 1+ managers and 0+ workers, at most 200 machines (got %d+%d)", c.Name, c.Managers, c.Workers)
	}
	if c.Layout == "" {
		c.Layout = LayoutDockerLatest
	}
	if c.Layout != LayoutDockerLatest && c.Layout != LayoutDocker {
		return fmt.Errorf("unknown layout %q (want %s or %s)", c.Layout, LayoutDockerLatest, LayoutDocker)
	}
	def := Spec{Engine: c.Engine, ImageStore: c.ImageStore}
	if err := def.fill(Spec{}); err != nil {
		return fmt.Errorf("lab %s: %w", c.Name, err)
	}
	c.Engine, c.ImageStore = def.Engine, def.ImageStore
	if err := c.Manager.fill(def); err != nil {
		return fmt.Errorf("lab %s managers: %w", c.Name, err)
	}
	if err := c.Worker.fill(def); err != nil {
		return fmt.Errorf("lab %s workers: %w", c.Name, err)
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(RootDir(), c.Name)
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// label marks every container and network of a lab.
const label = "swarmctl-lab"

func (l *Lab) prefix() string { return "swarmctl-lab-" + l.st.Name }

// Up brings a lab up and returns when every machine answers SSH, has a
// running dockerd and is a Ready member of the lab's swarm. A lab of the
// same name and shape that is already up is reused.
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if old, err := Attach(cfg.StateDir); err == nil {
		old.log = cfg.Log
		if old.st.Layout == cfg.Layout && old.st.Managers == cfg.Managers && old.st.Workers == cfg.Workers &&
			old.st.ManagerRun == cfg.Manager && old.st.WorkerRun == cfg.Worker &&
			slices.Equal(old.st.LoadImages, cfg.LoadImages) && old.running(ctx) == nil {
			fmt.Fprintf(cfg.Log, "lab %s: already up, reusing it (%s)\n", cfg.Name, cfg.StateDir)
			return old, nil
		}
		fmt.Fprintf(cfg.Log, "lab %s: replacing the lab found in %s\n", cfg.Name, cfg.StateDir)
		if err := old.Down(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := EnsureDeps(ctx, cfg.Log); err != nil {
		return nil, fmt.Errorf("lab %s: %w", cfg.Name, err)
	}
	e, err := acquireEngine(ctx, cfg.Name, cfg.Log)
	if err != nil {
		return nil, err
	}
	l := &Lab{dir: cfg.StateDir, e: e, log: cfg.Log, st: state{
		Name: cfg.Name, Layout: cfg.Layout, Managers: cfg.Managers, Workers: cfg.Workers,
		ManagerRun: cfg.Manager, WorkerRun: cfg.Worker, LoadImages: cfg.LoadImages,
		DockerHost: e.host, Created: time.Now().UTC(),
	}}
	if err := l.up(ctx); err != nil {
		return l, fmt.Errorf("lab %s: %w", cfg.Name, err)
	}
	fmt.Fprintf(cfg.Log, "lab %s: up in %s: %d machines, state in %s\n", cfg.Name, time.Since(start).Round(100*time.Millisecond), len(l.st.Machines), l.dir)
	return l, nil
}

func (l *Lab) up(ctx context.Context) error {
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0).Round(100 * time.Millisecond) }
	// Leftovers of a lab of this name that lost its state dir.
	l.removeContainers(ctx)
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	if err := l.ensureKey(ctx); err != nil {
		return err
	}
	if err := l.machineImages(ctx); err != nil {
		return err
	}
	ca, err := l.labCA()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.CAPath(), ca.CertPEM, 0o644); err != nil {
		return err
	}
	// Images loaded into every machine are built now, so that their build
	// does not race the machines' boot.
	refs := map[string]string{}
	for _, name := range append([]string{RegistryImage, BusyboxImage}, l.st.LoadImages...) {
		ref, err := l.imageRef(ctx, name)
		if err != nil {
			return err
		}
		refs[name] = ref
	}
	dnsImg, err := l.e.ensureDNSImage(ctx, l.log)
	if err != nil {
		return err
	}
	frontImg, err := l.e.ensureFrontImage(ctx, l.log)
	if err != nil {
		return err
	}
	if err := l.createNetwork(ctx); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	dnsArgs := []string{"run", "-d", "--name", l.prefix() + "-dns", "--label", label + "=" + l.st.Name,
		"--network", l.st.Network, "--ip", l.st.DNSIP, dnsImg}
	for i, name := range standInNames {
		dnsArgs = append(dnsArgs, name+"="+hostIP(l.st.Subnet, 4+i))
	}
	if _, err := l.e.docker(ctx, nil, dnsArgs...); err != nil {
		return err
	}
	// The stand-ins start and are seeded while the machines are created
	// and boot.
	if err := l.planStandIns(); err != nil {
		return err
	}
	standIns := make(chan error, 1)
	go func() {
		if err := l.startStandIns(ctx, ca, refs[RegistryImage], frontImg); err != nil {
			standIns <- err
			return
		}
		standIns <- l.seedAndCheckStandIns(ctx)
	}()
	resolv := fmt.Sprintf("# swarmctl lab resolver: the stand-ins' names, NXDOMAIN for the rest, at once\nnameserver %s\noptions timeout:1 attempts:1\n", l.st.DNSIP)
	if err := os.WriteFile(filepath.Join(l.dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		return err
	}
	var ms []Machine
	for i := 1; i <= l.st.Managers; i++ {
		ms = append(ms, l.newMachine(fmt.Sprintf("manager%d", i), "manager", len(ms)))
	}
	for i := 1; i <= l.st.Workers; i++ {
		ms = append(ms, l.newMachine(fmt.Sprintf("worker%d", i), "worker", len(ms)))
	}
	fmt.Fprintf(l.log, "lab %s: [%s] starting %d machines (%s layout; managers %s, workers %s)\n", l.st.Name, since(), len(ms), l.st.Layout, l.st.ManagerRun, l.st.WorkerRun)
	// Recorded first so that Down finds every machine whatever fails next.
	l.st.Machines = ms
	if err := l.save(); err != nil {
		return err
	}
	if err := parallel(ctx, ms, 3, func(m Machine) error { return l.createMachine(ctx, m) }); err != nil {
		return errors.Join(err, <-standIns)
	}
	keys, err := l.waitMachines(ctx, ms)
	if err := errors.Join(err, <-standIns); err != nil {
		return err
	}
	if err := l.recordEngines(ctx, ms); err != nil {
		return err
	}
	if err := l.writeFiles(keys); err != nil {
		return err
	}
	load := append([]string{RegistryImage}, l.st.LoadImages...)
	fmt.Fprintf(l.log, "lab %s: [%s] machines answer; forming the swarm, loading %s\n", l.st.Name, since(), strings.Join(load, ", "))
	loaded := make(chan error, 1)
	go func() {
		var errs []error
		for _, name := range load {
			errs = append(errs, l.LoadImage(ctx, name, ms...))
		}
		loaded <- errors.Join(errs...)
	}()
	swarmErr := l.formSwarm(ctx, ms)
	if err := errors.Join(swarmErr, <-loaded); err != nil {
		return err
	}
	fmt.Fprintf(l.log, "lab %s: [%s] swarm formed, images loaded\n", l.st.Name, since())
	return l.waitNodesReady(ctx, len(ms))

}

func (l *Lab) newMachine(name, role string, index int) Machine {
	sp := l.st.WorkerRun
	if role == "manager" {
		sp = l.st.ManagerRun
	}
	return Machine{
		Name: name, Role: role, Layout: l.st.Layout,
		IP:        hostIP(l.st.Subnet, 10+index),
		Container: l.prefix() + "-" + name,
		Engine:    sp.Engine, ImageStore: sp.ImageStore,
	}
}

// machineImages makes sure the machine image of every engine the lab runs
// exists (building them in parallel) and records their tags.
func (l *Lab) machineImages(ctx context.Context) error {
	engines := []string{l.st.ManagerRun.Engine}
	if l.st.WorkerRun.Engine != engines[0] {
		engines = append(engines, l.st.WorkerRun.Engine)
	}
	refs, err := l.e.machineImagesFor(ctx, engines, l.log)
	if err != nil {
		return err
	}
	l.st.Images = refs
	return nil
}

// createMachine creates the container, copies in its own files and starts it.
func (l *Lab) createMachine(ctx context.Context, m Machine) error {
	pub, err := os.ReadFile(l.KeyPath() + ".pub")
	if err != nil {
		return err
	}
	ca, err := l.labCA()
	if err != nil {
		return err
	}
	files, err := machineFiles(m.Layout, m.ImageStore, string(pub), ca.CertPEM)
	if err != nil {
		return err
	}
	r, err := recipeOf(m.Engine)
	if err != nil {
		return err
	}
	img := l.st.Images[m.Engine]
	if img == "" {
		return fmt.Errorf("machine %s: no machine image for engine %s", m.Name, m.Engine)
	}
	args := []string{"create", "--name", m.Container, "--hostname", m.Name,
		"--label", label + "=" + l.st.Name, "--label", label + ".machine=" + m.Name,
		"--network", l.st.Network, "--ip", m.IP,
		"--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--tmpfs", "/run", "--tmpfs", "/run/lock",
		"-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--cgroupns=host",
		"-v", filepath.Join(l.dir, "resolv.conf") + ":/etc/resolv.conf:ro"}
	if r.systemPaths {
		args = append(args, "--security-opt", "systempaths=unconfined")
	}
	if _, err := l.e.docker(ctx, nil, append(args, img)...); err != nil {
		return err
	}
	b, err := tarBytes(files)
	if err != nil {
		return err
	}
	if _, err := l.e.docker(ctx, bytes.NewReader(b), "cp", "-", m.Container+":/"); err != nil {
		return err
	}
	_, err = l.e.docker(ctx, nil, "start", m.Container)
	return err
}

// waitMachines waits for all machines in parallel and returns their host
// keys (authorized_keys format lines) by IP.
func (l *Lab) waitMachines(ctx context.Context, ms []Machine) (map[string][]string, error) {
	keys := map[string][]string{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := l.e.dockerCombined(ctx, nil, "exec", m.Container, "sh", "-c", readyScript)
			if err != nil && strings.Contains(out, "is not running") {
				// systemd in the container exited during boot (seen once
				// in CI on a loaded host, a 20.10 worker of a mixed lab):
				// say what it printed, then make the machine again, once.
				logs, _ := l.e.dockerCombined(ctx, nil, "logs", "--tail", "40", m.Container)
				fmt.Fprintf(l.log, "lab %s: machine %s stopped while booting; its last lines:\n%s\nlab %s: creating %s again\n", l.st.Name, m.Name, logs, l.st.Name, m.Name)
				if _, rmErr := l.e.docker(ctx, nil, "rm", "-f", m.Container); rmErr == nil {
					if cErr := l.createMachine(ctx, m); cErr == nil {
						out, err = l.e.dockerCombined(ctx, nil, "exec", m.Container, "sh", "-c", readyScript)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("machine %s: %v: %s", m.Name, err, out))
				return
			}
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && strings.HasPrefix(f[0], "ssh-") || len(f) >= 2 && strings.HasPrefix(f[0], "ecdsa-") {
					keys[m.IP] = append(keys[m.IP], f[0]+" "+f[1])
				}
			}
			if len(keys[m.IP]) == 0 {
				errs = append(errs, fmt.Errorf("machine %s: no host keys in %q", m.Name, out))
			}
		}()
	}
	wg.Wait()
	return keys, errors.Join(errs...)
}

// formSwarm inits the swarm on the first manager and joins the others,
// managers one by one (raft), then workers.
func (l *Lab) formSwarm(ctx context.Context, ms []Machine) error {
	first := ms[0]
	if out, err := l.Exec(ctx, first.Name, "docker", "swarm", "init", "--advertise-addr", first.IP); err != nil {
		return fmt.Errorf("swarm init on %s: %v: %s", first.Name, err, out)
	}
	return l.join(ctx, ms[1:])
}

func (l *Lab) join(ctx context.Context, ms []Machine) error {
	mgr := l.Manager()
	tokens := map[string]string{}
	for _, role := range []string{"manager", "worker"} {
		out, err := l.Exec(ctx, mgr.Name, "docker", "swarm", "join-token", "-q", role)
		if err != nil {
			return fmt.Errorf("swarm join-token on %s: %v: %s", mgr.Name, err, out)
		}
		tokens[role] = strings.TrimSpace(out)
	}
	var workers []Machine
	for _, m := range ms {
		if m.Role == "manager" {
			if out, err := l.Exec(ctx, m.Name, "docker", "swarm", "join", "--advertise-addr", m.IP, "--token", tokens["manager"], mgr.IP+":2377"); err != nil {
				return fmt.Errorf("swarm join of %s: %v: %s", m.Name, err, out)
			}
		} else {
			workers = append(workers, m)
		}
	}
	return parallel(ctx, workers, 4, func(m Machine) error {
		if out, err := l.Exec(ctx, m.Name, "docker", "swarm", "join", "--advertise-addr", m.IP, "--token", tokens["worker"], mgr.IP+":2377"); err != nil {
			return fmt.Errorf("swarm join of %s: %v: %s", m.Name, err, out)
		}
		return nil
	})
}

func (l *Lab) waitNodesReady(ctx context.Context, n int) error {
	out, err := l.Exec(ctx, l.Manager().Name, "sh", "-c", nodesReadyScript, "sh", fmt.Sprint(n))
	if err != nil {
		return fmt.Errorf("swarm: %v: %s", err, out)
	}
	return nil
}

// parallel runs fn for each machine, at most n at a time.
func parallel(ctx context.Context, ms []Machine, n int, fn func(Machine) error) error {
	sem := make(chan struct{}, n)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// LoadImage copies an image of the outer engine into machines (all when
// none are named): docker save | docker exec -i M docker load. The lab's
// own images (registry:2, registry:3, busybox:latest) are built when
// missing and copied by their recipe-hash tag, then tagged with their name
// in the machine: the outer engine is shared, and its registry:2 tag may
// point at another checkout's build.
func (l *Lab) LoadImage(ctx context.Context, image string, ms ...Machine) error {
	if len(ms) == 0 {
		ms = l.Machines()
	}
	ref, err := l.imageRef(ctx, image)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "lab-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.CommandContext(ctx, "docker", "save", ref)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+l.e.host)
	cmd.Stdout = f
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker save %s: %v: %s", ref, err, errb.String())
	}
	const loadAs = `docker load -q >/dev/null || exit 1
[ "$1" = "$2" ] && exit 0
docker tag "$1" "$2" && docker rmi "$1" >/dev/null`
	return parallel(ctx, ms, 2, func(m Machine) error {
		r, err := os.Open(f.Name())
		if err != nil {
			return err
		}
		defer r.Close()
		if out, err := l.ExecStdin(ctx, m.Name, r, "sh", "-c", loadAs, "sh", ref, image); err != nil {
			return fmt.Errorf("load %s into %s: %v: %s", image, m.Name, err, out)
		}
		return nil
	})
}

// labCA is the lab CA (loaded once).
func (l *Lab) labCA() (*CA, error) {
	l.caOnce.Do(func() { l.ca, l.caErr = LoadCA() })
	return l.ca, l.caErr
}

// imageRef is the tag to copy for an image name: the recipe-hash tag of
// the lab's own images (built when missing), else the name itself.
func (l *Lab) imageRef(ctx context.Context, name string) (string, error) {
	switch name {
	case RegistryImage, Registry3Image:
		ca, err := l.labCA()
		if err != nil {
			return "", err
		}
		if name == Registry3Image {
			return l.e.ensureRegistry3Image(ctx, ca.CertPEM, l.log)
		}
		return l.e.ensureRegistryImage(ctx, ca.CertPEM, l.log)
	case BusyboxImage:
		layer, err := busyboxLayer()
		if err != nil {
			return "", err
		}
		return l.e.ensureBusyboxImage(ctx, layer, l.log)
	}
	return name, nil
}

// createNetwork makes the lab's --internal network on a /24 no other
// network of the engine uses.
func (l *Lab) createNetwork(ctx context.Context) error {
	l.st.Network = l.prefix()
	l.e.docker(ctx, nil, "network", "rm", l.st.Network)
	out, err := l.e.docker(ctx, nil, "network", "ls", "-q")
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, id := range strings.Fields(out) {
		s, _ := l.e.docker(ctx, nil, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", id)
		for _, sn := range strings.Fields(s) {
			used[sn] = true
		}
	}
	for _, a := range hostAddrs() {
		used[a] = true
	}
	for x := 1 + int(hashByte(l.st.Name))%200; ; x++ {
		if x > 254 {
			x = 1
		}
		subnet := fmt.Sprintf("10.213.%d.0/24", x)
		if used[subnet] {
			continue
		}
		l.st.Subnet, l.st.Gateway = subnet, hostIP(subnet, 1)
		l.st.DNSIP = hostIP(subnet, 2)
		l.st.Upstream = "https://" + HubName
		_, err := l.e.docker(ctx, nil, "network", "create", "--driver", "bridge", "--internal",
			"--subnet", subnet, "--gateway", l.st.Gateway, "--label", label+"="+l.st.Name, l.st.Network)
		return err
	}
}

func hashByte(s string) byte {
	var h byte
	for i := 0; i < len(s); i++ {
		h = h*31 + s[i]
	}
	return h
}

// hostAddrs are the /24s of the host's own addresses (never reuse them).
func hostAddrs() []string {
	addrs, _ := net.InterfaceAddrs()
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			ip := ipn.IP.To4()
			out = append(out, fmt.Sprintf("%d.%d.%d.0/24", ip[0], ip[1], ip[2]))
		}
	}
	return out
}

// hostIP is the n-th address of a /24 ("10.213.5.0/24", 10 -> "10.213.5.10").
func hostIP(subnet string, n int) string {
	base := strings.TrimSuffix(subnet, "0/24")
	return fmt.Sprintf("%s%d", base, n)
}

// ensureKey makes the lab's SSH key (ed25519) once per state dir.
func (l *Lab) ensureKey(ctx context.Context) error {
	if _, err := os.Stat(l.KeyPath()); err == nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarmctl-lab-"+l.st.Name, "-f", l.KeyPath()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	return nil
}

func (l *Lab) save() error {
	b, err := json.MarshalIndent(l.st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.dir, "lab.json"), append(b, '\n'), 0o644)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Attach returns the lab described by <stateDir>/lab.json without
// checking that it runs (Up reuses a running lab by itself).
func Attach(stateDir string) (*Lab, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, "lab.json"))
	if err != nil {
		return nil, err
	}
	l := &Lab{dir: stateDir, log: io.Discard}
	if err := json.Unmarshal(b, &l.st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, "lab.json"), err)
	}
	l.e = &engine{host: l.st.DockerHost, dir: engineDir()}
	return l, nil
}

// running checks that the engine answers and every container of the lab runs.
func (l *Lab) running(ctx context.Context) error {
	if !answers(ctx, l.e.host) {
		return fmt.Errorf("engine %s does not answer", l.e.host)
	}
	if len(l.st.Machines) == 0 {
		return errors.New("no machines")
	}
	names := []string{l.prefix() + "-dns"}
	for _, s := range l.st.StandIns {
		names = append(names, s.Container, s.BackendContainer)
	}
	for _, m := range l.st.Machines {
		names = append(names, m.Container)
	}
	out, err := l.e.docker(ctx, nil, append([]string{"inspect", "--format", "{{.State.Running}}"}, names...)...)
	if err != nil {
		return err
	}
	if strings.Count(out, "true") != len(names) {
		return fmt.Errorf("not all lab containers run: %s", out)
	}
	return nil
}

// Down removes the lab's containers and network, stops the outer engine if
// the lab started it and no other lab uses it, and removes the state dir.
func (l *Lab) Down(ctx context.Context) error {
	start := time.Now()
	var errs []error
	if answers(ctx, l.e.host) {
		errs = append(errs, l.removeContainers(ctx))
		if l.st.Network != "" {
			if _, err := l.e.docker(ctx, nil, "network", "rm", l.st.Network); err != nil && !strings.Contains(err.Error(), "No such network") && !strings.Contains(err.Error(), "not found") {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, releaseEngine(ctx, l.st.Name, l.log))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s down: %w", l.st.Name, err)
	}
	os.RemoveAll(l.dir)
	fmt.Fprintf(l.log, "lab %s: down in %s\n", l.st.Name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (l *Lab) removeContainers(ctx context.Context) error {
	out, err := l.e.docker(ctx, nil, "ps", "-aq", "--filter", "label="+label+"="+l.st.Name)
	if err != nil {
		return err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil
	}
	_, err = l.e.docker(ctx, nil, append([]string{"rm", "-f", "-v"}, ids...)...)
	return err
}

// AddMachine starts one more worker, records its host keys in known_hosts
// and joins it to the swarm. It stays out of inventory.yaml: it is the new
// node that discovery must find.
func (l *Lab) AddMachine(ctx context.Context) (Machine, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	workers, maxIdx := 0, -1
	for _, m := range l.st.Machines {
		if m.Role == "worker" {
			workers++
		}
		var last int
		fmt.Sscanf(m.IP[strings.LastIndexByte(m.IP, '.')+1:], "%d", &last)
		maxIdx = max(maxIdx, last-10)
	}
	m := l.newMachine(fmt.Sprintf("worker%d", workers+1), "worker", maxIdx+1)
	m.Added = true
	if err := l.createMachine(ctx, m); err != nil {
		return m, err
	}
	l.st.Machines = append(l.st.Machines, m)
	if err := l.save(); err != nil {
		return m, err
	}
	keys, err := l.waitMachines(ctx, []Machine{m})
	if err != nil {
		return m, err
	}
	if err := l.recordEngines(ctx, []Machine{m}); err != nil {
		return m, err
	}
	if err := l.writeFiles(keys); err != nil {
		return m, err
	}
	m, _ = l.Machine(m.Name)
	if err := l.join(ctx, []Machine{m}); err != nil {
		return m, err
	}
	for _, name := range append([]string{RegistryImage}, l.st.LoadImages...) {
		if err := l.LoadImage(ctx, name, m); err != nil {
			return m, err
		}
	}
	return m, l.waitNodesReady(ctx, len(l.st.Machines))
}

// Machines returns all machines, those from AddMachine included.
func (l *Lab) Machines() []Machine { return append([]Machine(nil), l.st.Machines...) }

// Manager returns the first manager (where the swarm was initialised).
func (l *Lab) Manager() Machine {
	for _, m := range l.st.Machines {
		if m.Role == "manager" {
			return m
		}
	}
	return Machine{}
}

// Machine returns the machine of that name (or container name).
func (l *Lab) Machine(name string) (Machine, bool) {
	for _, m := range l.st.Machines {
		if m.Name == name || m.Container == name {
			return m, true
		}
	}
	return Machine{}, false
}

// Exec runs a command in a machine (docker exec) and returns its combined
// output.
func (l *Lab) Exec(ctx context.Context, machine string, args ...string) (string, error) {
	return l.ExecStdin(ctx, machine, nil, args...)
}

// ExecStdin is Exec with stdin.
func (l *Lab) ExecStdin(ctx context.Context, machine string, stdin io.Reader, args ...string) (string, error) {
	m, ok := l.Machine(machine)
	if !ok {
		return "", fmt.Errorf("lab %s has no machine %q", l.st.Name, machine)
	}
	flags := []string{"exec"}
	if stdin != nil {
		flags = append(flags, "-i")
	}
	return l.e.dockerCombined(ctx, stdin, append(append(flags, m.Container), args...)...)
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.st.Name }

// Layout is the machines' layout.
func (l *Lab) Layout() string { return l.st.Layout }

// StateDir holds the lab's key, known_hosts, ssh_config, inventory and lab.json.
func (l *Lab) StateDir() string { return l.dir }

// InventoryPath is swarmctl's inventory for the lab.
func (l *Lab) InventoryPath() string { return filepath.Join(l.dir, "inventory.yaml") }

// KnownHostsPath holds the machines' real host keys, by IP.
func (l *Lab) KnownHostsPath() string { return filepath.Join(l.dir, "known_hosts") }

// KeyPath is the lab's private key (root and ops accept it).
func (l *Lab) KeyPath() string { return filepath.Join(l.dir, "id_ed25519") }

// SSHConfigPath is an ssh_config with a Host entry per machine name.
func (l *Lab) SSHConfigPath() string { return filepath.Join(l.dir, "ssh_config") }

// UpstreamAddr is Docker Hub's URL as the lab serves it
// (https://registry-1.docker.io, the HTTPS stand-in holding
// library/busybox:latest): the lab inventory's mirror.remote_url.
func (l *Lab) UpstreamAddr() string { return l.st.Upstream }

// DockerHost is the outer engine's DOCKER_HOST.
func (l *Lab) DockerHost() string { return l.e.host }

// Subnet is the lab network's /24.
func (l *Lab) Subnet() string { return l.st.Subnet }

// SetLog sets where progress lines go.
func (l *Lab) SetLog(w io.Writer) {
	if w == nil {
		w = io.Discard
	}
	l.log = w
}

// Running reports whether the outer engine answers and all of the lab's
// containers run.
func (l *Lab) Running(ctx context.Context) error { return l.running(ctx) }

// Cleanup removes whatever a lab of that name left without its state dir
// (containers, network) on the engine it registered with, and releases
// that engine. Down is the normal way; this is for a lost state dir.
func Cleanup(ctx context.Context, name string, logw io.Writer) error {
	if logw == nil {
		logw = io.Discard
	}
	host := "unix://" + ownSocket(engineDir())
	if b, err := os.ReadFile(filepath.Join(engineDir(), "users", name)); err == nil {
		host = strings.TrimSpace(string(b))
	}
	l := &Lab{st: state{Name: name}, e: &engine{host: host, dir: engineDir()}, log: logw}
	l.st.Network = l.prefix()
	l.dir = filepath.Join(RootDir(), name)
	return l.Down(ctx)
}
