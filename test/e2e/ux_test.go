package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
)

// headerDoc is the header every JSON document starts with.
type headerDoc struct {
	SchemaVersion int          `json:"schema_version"`
	Command       string       `json:"command"`
	Error         *errorDoc    `json:"error"`
	Problems      []problemDoc `json:"problems"`
}

// daemonJSONs reads every machine's daemon.json.
func daemonJSONs(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range l.Machines() {
		out[m.Name] = inMachine(t, l, m.Name, "cat", lab.DaemonJSONPath(l.Layout()))
	}
	return out
}

// TestConsentBeforeRestarts: a run that would restart docker prints the
// plan and, without a terminal and without --yes, changes nothing and
// exits 2; its JSON document (stdout and --output-file) names the error
// and the plan. The dry run shows the same plan without asking.
func TestConsentBeforeRestarts(t *testing.T) {
	l := needLab(t)
	resetLab(t, l)
	beforeFiles, beforePIDs := daemonJSONs(t, l), pids(t, l)
	artifact := filepath.Join(t.TempDir(), "configure.json")
	r := swarmctl(t, append(labEnv(l), "SWARMCTL_OUTPUT_FILE="+artifact), "nodes", "configure", "-o", "json", "--mirror", "https://consent.example.test")
	if r.Code != 2 || !strings.Contains(r.Stderr, "Plan: point at the mirror on") || !strings.Contains(r.Stderr, "restart") ||
		!strings.Contains(r.Stderr, "there is no terminal to ask: nothing was changed") || !strings.Contains(r.Stderr, "--yes") {
		t.Errorf("configure without --yes: exit %d", r.Code)
	}
	for _, b := range [][]byte{[]byte(r.Stdout), mustReadFile(t, artifact)} {
		var doc struct {
			headerDoc
			Plan *struct {
				Steps []struct {
					Name   string `json:"name"`
					Action string `json:"action"`
					Stage  string `json:"stage"`
				} `json:"steps"`
			} `json:"plan"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if doc.SchemaVersion != 2 || doc.Error == nil || doc.Error.Code != "consent-required" || doc.Plan == nil || len(doc.Plan.Steps) != len(inventoryMachines(l)) {
			t.Errorf("document: %s", b)
			continue
		}
		// Managers last, the leader last of all.
		last := doc.Plan.Steps[len(doc.Plan.Steps)-1]
		if !strings.Contains(last.Stage, "leader last") || !strings.HasPrefix(last.Name, "manager") {
			t.Errorf("last step %+v, want the leader", last)
		}
	}
	if after := daemonJSONs(t, l); !mapsEqual(after, beforeFiles) {
		t.Errorf("daemon.json changed without consent")
	}
	if after := pids(t, l); !mapsEqualInt(after, beforePIDs) {
		t.Errorf("docker restarted without consent: %v -> %v", beforePIDs, after)
	}

	r = swarmctl(t, labEnv(l), "nodes", "configure", "--dry-run", "--mirror", "https://consent.example.test")
	if r.Code != 0 || !strings.Contains(r.Stderr, "Plan: point at the mirror on") || strings.Contains(r.Stderr, "[y/N]") {
		t.Errorf("dry run: exit %d", r.Code)
	}

	// A --limit entry that names nothing: exit 2, and the artifact says so.
	r = swarmctl(t, append(labEnv(l), "SWARMCTL_OUTPUT_FILE="+artifact), "nodes", "configure", "--yes", "--mirror", "https://consent.example.test", "--limit", "worker1,wroker2")
	var doc headerDoc
	if err := json.Unmarshal(mustReadFile(t, artifact), &doc); err != nil || r.Code != 2 || doc.Error == nil || doc.Error.Code != "input" ||
		!strings.Contains(r.Stderr, `(did you mean "worker2"?)`) {
		t.Errorf("--limit typo: exit %d, %v, %+v", r.Code, err, doc.Error)
	}
	if after := daemonJSONs(t, l); !mapsEqual(after, beforeFiles) {
		t.Errorf("daemon.json changed by a run with a bad --limit")
	}
}

// inventoryMachines are the lab's machines in its inventory (not those
// an earlier test added to the swarm only).
func inventoryMachines(l *lab.Lab) []lab.Machine {
	var out []lab.Machine
	for _, m := range l.Machines() {
		if !m.Added {
			out = append(out, m)
		}
	}
	return out
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mapsEqualInt(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// swarmMembers is the swarm's hostnames and roles as manager1 lists them.
func swarmMembers(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out := inMachine(t, l, l.Manager().Name, "sh", "-c", `docker node inspect --format '{{.Description.Hostname}} {{.Spec.Role}}' $(docker node ls -q)`)
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

// TestInitOnTheLab: init asks a real manager for the swarm's members,
// shows every unknown host key's fingerprint and records them only after
// a yes; the inventory it writes lists every member with its swarm role,
// and a strict run with it reaches every node. It never overwrites.
func TestInitOnTheLab(t *testing.T) {
	l := needLab(t)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	inv := filepath.Join(dir, "swarmctl.yaml")
	mgr := l.Manager()
	args := []string{"init", "-i", inv, "--manager", "root@" + mgr.IP, "--ssh-key", l.KeyPath(), "--known-hosts", kh}

	// No terminal, no --yes: the manager's fingerprint, exit 2, nothing written.
	r := swarmctl(t, nil, args...)
	fp := labFingerprint(t, l, mgr)
	if r.Code != 2 || !strings.Contains(r.Stderr, fp) || !strings.Contains(r.Stderr, "--yes") {
		t.Fatalf("init without --yes: exit %d, want 2 naming %s", r.Code, fp)
	}
	if _, err := os.Stat(inv); err == nil {
		t.Fatal("inventory written without consent")
	}
	if b, _ := os.ReadFile(kh); len(b) != 0 {
		t.Fatalf("known_hosts written without consent:\n%s", b)
	}

	start := time.Now()
	r = swarmctl(t, nil, append(args, "--yes", "-o", "json")...)
	t.Logf("init on %d machines: %s", len(l.Machines()), time.Since(start).Round(100*time.Millisecond))
	var doc struct {
		headerDoc
		Wrote bool `json:"wrote"`
		Nodes []struct {
			Name        string `json:"name"`
			Role        string `json:"role"`
			HostKey     string `json:"host_key"`
			Fingerprint string `json:"fingerprint"`
		} `json:"nodes"`
		Traefik struct {
			Mode string `json:"mode"`
		} `json:"traefik"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || r.Code != 0 || !doc.Wrote {
		t.Fatalf("init --yes: exit %d, %v", r.Code, err)
	}
	members := swarmMembers(t, l)
	if len(doc.Nodes) != len(members) {
		t.Errorf("init found %d nodes, the swarm has %d", len(doc.Nodes), len(members))
	}
	for _, n := range doc.Nodes {
		m, _ := l.Machine(n.Name)
		if members[n.Name] != n.Role || n.HostKey != "recorded" || !strings.HasSuffix(n.Fingerprint, labFingerprint(t, l, m)) {
			t.Errorf("%s: role %s host key %s %s; swarm role %s", n.Name, n.Role, n.HostKey, n.Fingerprint, members[n.Name])
		}
	}
	if doc.Traefik.Mode != "none" {
		t.Errorf("traefik %q on a lab without Traefik", doc.Traefik.Mode)
	}
	var written struct {
		Nodes []struct {
			Host string `yaml:"host"`
			Name string `yaml:"name"`
			Role string `yaml:"role"`
		} `yaml:"nodes"`
	}
	b := mustReadFile(t, inv)
	if err := yaml.Unmarshal(b, &written); err != nil || len(written.Nodes) != len(members) || written.Nodes[0].Name != mgr.Name {
		t.Errorf("inventory (%v):\n%s", err, b)
	}

	// A strict run with what init wrote reaches every node.
	r = swarmctl(t, nil, "nodes", "list", "-i", inv)
	if r.Code != 0 || strings.Contains(r.Stdout, "unreachable") {
		t.Errorf("nodes list with the written inventory: exit %d", r.Code)
	}
	// Never overwrites.
	if r := swarmctl(t, nil, append(args, "--yes")...); r.Code != 2 || !strings.Contains(r.Stderr, "init never overwrites") {
		t.Errorf("second init: exit %d", r.Code)
	}
	if b2 := mustReadFile(t, inv); string(b2) != string(b) {
		t.Error("the inventory changed")
	}
}

// labFingerprint is machine m's ed25519 host key fingerprint, as sshd has it.
func labFingerprint(t *testing.T, l *lab.Lab, m lab.Machine) string {
	t.Helper()
	f := strings.Fields(inMachine(t, l, m.Name, "ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"))
	if len(f) < 2 {
		t.Fatalf("%s: no fingerprint", m.Name)
	}
	return f[1]
}

// TestDoctorOnTheLab: doctor passes on a healthy lab (warnings allowed),
// one line per check and node, checking the mirror from every node; an
// invalid daemon.json on one node makes it exit 1 naming the node, the
// file and the line; it changes nothing.
func TestDoctorOnTheLab(t *testing.T) {
	l := needLab(t)
	resetLab(t, l)
	upstream := l.UpstreamAddr() // the lab's stand-in for Docker Hub: a registry every node reaches
	before := daemonJSONs(t, l)
	start := time.Now()
	r := swarmctl(t, labEnv(l), "doctor", "--mirror", upstream)
	t.Logf("doctor on %d machines: %s", len(l.Machines()), time.Since(start).Round(100*time.Millisecond))
	if r.Code != 0 {
		t.Errorf("doctor on a healthy lab: exit %d", r.Code)
	}
	for _, m := range l.Machines() {
		if m.Added {
			continue
		}
		for _, check := range []string{"known-hosts", "ssh", "sudo", "docker", "daemon-json", "unit-flags", "swarm", "disk", "engine", "mirror"} {
			if !hasLine(r.Stdout, m.Name, check) {
				t.Errorf("no %s line for %s", check, m.Name)
			}
		}
	}
	for _, check := range []string{"ssh-key", "ssh-agent", "mirror-url", "members"} {
		if !hasLine(r.Stdout, "local", check) {
			t.Errorf("no local %s line", check)
		}
	}
	if !strings.Contains(r.Stdout, "from the node: HTTP 200") {
		t.Errorf("the mirror (the lab's upstream) not reached from the nodes")
	}

	// A user with sudo: the sudo check runs sudo -n.
	r = swarmctl(t, labEnv(l), "doctor", "--mirror", upstream, "--limit", "worker1", "--user", "ops")
	if r.Code != 0 || !strings.Contains(r.Stdout, "sudo -n works for ops") {
		t.Errorf("doctor as ops: exit %d", r.Code)
	}

	ms := inventoryMachines(l)
	w := ms[len(ms)-1].Name
	path := lab.DaemonJSONPath(l.Layout())
	inMachine(t, l, w, "sh", "-c", `cp "$1" /run/doctor.bak && printf '{\n  "debug": true\n  "x": 1\n}\n' > "$1"`, "sh", path)
	t.Cleanup(func() { inMachine(t, l, w, "sh", "-c", `mv /run/doctor.bak "$1"`, "sh", path) })
	r = swarmctl(t, labEnv(l), "doctor", "--mirror", upstream, "-o", "json")
	var doc struct {
		headerDoc
		Checks []struct {
			Node, Check, Status, Message string
		} `json:"checks"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if r.Code != 1 || doc.Error == nil || doc.Error.Code != "problems-found" || len(doc.Problems) != 1 ||
		doc.Problems[0].Node != w || doc.Problems[0].Code != "daemon-json" || !strings.Contains(doc.Problems[0].Message, path+": line 3, column 3") {
		t.Errorf("broken daemon.json on %s: exit %d, problems %+v", w, r.Code, doc.Problems)
	}
	before[w] = inMachine(t, l, w, "cat", path)
	if after := daemonJSONs(t, l); !mapsEqual(after, before) {
		t.Error("doctor changed a daemon.json")
	}
}

// hasLine: doctor's table has a line for node and check.
func hasLine(out, node, check string) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == node && f[1] == check {
			return true
		}
	}
	return false
}

// TestTraefikAutoOnTheLab: with a real swarm service named traefik whose
// image is tagged traefik:v3.1 (the lab's busybox, retagged) and which
// turns the swarm provider on, traefik auto renders v3 labels with its
// network; the deployed stack then keeps them after the service goes;
// with no stack and no Traefik it falls back to a published port.
func TestTraefikAutoOnTheLab(t *testing.T) {
	l := needLab(t)
	env := mirrorEnv(t, l)
	mgr := l.Manager()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.Code)
	}
	if err := l.LoadImage(ctx, "busybox:latest", mgr); err != nil {
		t.Fatal(err)
	}
	inMachine(t, l, mgr.Name, "docker", "tag", "busybox:latest", "traefik:v3.1")
	inMachine(t, l, mgr.Name, "docker", "service", "create", "--detach", "--no-resolve-image", "--name", "traefik",
		"--constraint", "node.hostname=="+mgr.Name, "--entrypoint", "sh", "traefik:v3.1",
		"-c", "sleep 86400", "traefik", "--providers.swarm.endpoint=unix:///var/run/docker.sock",
		"--providers.swarm.network=uxedge", "--entrypoints.websecure.address=:443", "--certificatesresolvers.lab.acme.email=ops@lab.test")
	t.Cleanup(func() {
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		l.Exec(context.Background(), mgr.Name, "docker", "service", "rm", "traefik")
		l.Exec(context.Background(), mgr.Name, "docker", "network", "rm", "uxedge")
	})

	install := []string{"mirror", "install", "--traefik", "auto", "--fqdn", "mirror.lab.test", "--create-network"}
	r := swarmctl(t, env, append(install, "--dry-run")...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "traefik: auto -> v3: service traefik runs traefik:v3.1 with the swarm provider on") ||
		!strings.Contains(r.Stdout, "traefik.http.routers.registry-mirror.rule=Host(`mirror.lab.test`)") ||
		!strings.Contains(r.Stdout, "traefik.docker.network=uxedge") || !strings.Contains(r.Stdout, "entrypoints=websecure") ||
		!strings.Contains(r.Stdout, "tls.certresolver=lab") {
		t.Errorf("dry run with traefik:v3.1 running: exit %d", r.Code)
	}

	// Deployed with those labels, the stack keeps them once the Traefik
	// service is gone: auto never relabels a running mirror by itself.
	_, doc := installJSON(t, env, install[2:]...)
	if doc.Error != nil || !doc.Result.Deployed {
		t.Fatalf("install with traefik auto: %+v", doc.Error)
	}
	// uninstall --dry-run names what would go, and removes nothing.
	r = swarmctl(t, env, "mirror", "uninstall", "--dry-run", "--purge")
	if r.Code != 0 || !strings.Contains(r.Stdout, "would remove stack registry through "+mgr.Name+": services "+mirrorService) ||
		!strings.Contains(r.Stdout, "would delete on "+mgr.Name) || !strings.Contains(inMachine(t, l, mgr.Name, "docker", "service", "ls"), mirrorService) {
		t.Errorf("uninstall --dry-run: exit %d", r.Code)
	}
	inMachine(t, l, mgr.Name, "docker", "service", "rm", "traefik")
	r = swarmctl(t, env, append(install, "--dry-run")...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "traefik: auto -> v3: the deployed stack has Traefik v2/v3 labels, kept") || !strings.Contains(r.Stdout, "no changes") {
		t.Errorf("deployed stack after Traefik went: exit %d", r.Code)
	}

	// No stack, no Traefik: no labels, a published port.
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall: exit %d", r.Code)
	}
	r = swarmctl(t, env, "mirror", "install", "--traefik", "auto", "--fqdn", "mirror.lab.test", "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stderr, "traefik: auto -> none: no Traefik service in the swarm") || strings.Contains(r.Stdout, "traefik.") {
		t.Errorf("no Traefik: exit %d", r.Code)
	}
}
