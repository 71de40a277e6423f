package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
)

// setSwarmHostname gives machine m the kernel hostname name (any bytes:
// sethostname(2) through perl, which Debian always has; hostname(1)
// refuses odd names), restarts its docker so the node reports it to the
// swarm, and waits until the manager lists it. The machine's own name
// comes back when the test ends.
func setSwarmHostname(t *testing.T, l *lab.Lab, m lab.Machine, name string) {
	t.Helper()
	set := func(name string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		script := `perl -e 'syscall(170, $ARGV[0], length $ARGV[0]) == 0 or die "sethostname: $!\n"' "$1" &&
systemctl reset-failed docker.service; systemctl restart docker.service`
		if out, err := l.Exec(ctx, m.Name, "sh", "-c", script, "sh", name); err != nil {
			return fmt.Errorf("%v %s", err, out)
		}
		want, _ := json.Marshal(name)
		for {
			out, err := l.Exec(ctx, l.Manager().Name, "sh", "-c", `docker node inspect --format '{{json .Description.Hostname}} {{.Status.State}}' $(docker node ls -q)`)
			if err == nil && strings.Contains(out, string(want)+" ready") {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("the manager does not list hostname %s as ready: %v %s", want, err, out)
			}
			time.Sleep(time.Second)
		}
	}
	if err := set(name); err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	t.Cleanup(func() {
		if err := set(m.Name); err != nil {
			t.Errorf("%s: restoring its hostname: %v", m.Name, err)
		}
	})
}

// managerOnlyInventory is the lab's inventory without its workers.
func managerOnlyInventory(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	b, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, n := range inv["nodes"].([]any) {
		if n.(map[string]any)["role"] == "manager" {
			keep = append(keep, n)
		}
	}
	inv["nodes"] = keep
	out, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"SWARMCTL_INVENTORY=" + p}
}

// hostileRow is a node of `nodes configure` / `mirror status` -o json.
type hostileRow struct {
	Name, Address, Outcome, Error string
}

func hostileRows(t *testing.T, r result) []hostileRow {
	t.Helper()
	var doc struct {
		Nodes []hostileRow `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("JSON: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	return doc.Nodes
}

// TestSecurityHostileSwarmMembers: a node chooses its own hostname, and
// its own docker's answers. A hostname with '|' and a line break neither
// adds a fake member to discovery nor breaks the restart guard for the
// fleet; a node reporting another member's swarm node ID never gets that
// member drained.
func TestSecurityHostileSwarmMembers(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr, w := l.Machines()[0], l.Machines()[1]
	t.Cleanup(func() { resetLab(t, l) })

	t.Run("hostname adds no member", func(t *testing.T) {
		// Read as pipe-separated lines this is two members: "h" at
		// 10.9.9.9, and "fake" at the worker's own address.
		hostile := "h|worker|ready|active|10.9.9.9|||\nfk|fake"
		setSwarmHostname(t, l, w, hostile)
		env := managerOnlyInventory(t, l)
		r := swarmctl(t, env, "nodes", "configure", "--discover", "--dry-run", "-o", "json", "--mirror", "https://hostname.example.test")
		rows := hostileRows(t, r)
		if len(rows) != 2 {
			t.Fatalf("%d rows, want the manager and one member: %+v\n%s", len(rows), rows, r.Stderr)
		}
		m := rows[1]
		if m.Address != w.IP+":22" || m.Outcome != "failed" || !strings.Contains(m.Error, "not dialled") || m.Name != fmt.Sprintf("%q", hostile) {
			t.Errorf("member row %+v, want the worker's address %s, failed, not dialled, its name quoted", m, w.IP)
		}
		if r.Code != 1 || strings.Contains(r.Stdout+r.Stderr, "10.9.9.9\"") || strings.Contains(r.Stderr, "fake (") {
			t.Errorf("exit %d; a fake member shows:\n%s", r.Code, r.Stderr)
		}
		st := swarmctl(t, env, "mirror", "status", "-o", "json", "--mirror", "https://hostname.example.test")
		if rows := hostileRows(t, st); len(rows) != 2 || rows[1].Address != w.IP+":22" {
			t.Errorf("mirror status rows %+v, want the manager and the worker once", rows)
		}
	})

	t.Run("one pipe breaks no guard", func(t *testing.T) {
		setSwarmHostname(t, l, w, "a|b")
		// A real restart of both: the guard lists the swarm for each.
		r := swarmctl(t, labEnv(l), "nodes", "configure", "--yes", "-o", "json", "--mirror", "https://pipe.example.test")
		for _, n := range hostileRows(t, r) {
			if n.Outcome != "restarted" {
				t.Errorf("%s: %s %q, want restarted", n.Name, n.Outcome, n.Error)
			}
		}
		if r.Code != 0 {
			t.Errorf("exit %d:\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("a claimed ID drains nobody", func(t *testing.T) {
		resetLab(t, l)
		ids := strings.Fields(inMachine(t, l, mgr.Name, "sh", "-c", `docker node inspect --format '{{.ID}} {{.Description.Hostname}}' $(docker node ls -q)`))
		idOf := map[string]string{}
		for i := 0; i+1 < len(ids); i += 2 {
			idOf[ids[i+1]] = ids[i]
		}
		own, victim := idOf[w.Name], idOf[mgr.Name]
		if own == "" || victim == "" {
			t.Fatalf("node IDs %v", idOf)
		}
		// The worker's docker reports the manager's node ID as its own.
		wrapper := "#!/bin/sh\nif [ \"$1\" = info ]; then /usr/bin/docker \"$@\" | sed 's/" + own + "/" + victim + "/g'; exit 0; fi\nexec /usr/bin/docker \"$@\"\n"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := l.ExecStdin(ctx, w.Name, strings.NewReader(wrapper), "sh", "-c", `cat > /usr/local/bin/docker && chmod 0755 /usr/local/bin/docker`)
		cancel()
		if err != nil {
			t.Fatalf("installing the docker wrapper: %v %s", err, out)
		}
		t.Cleanup(func() { inMachine(t, l, w.Name, "rm", "-f", "/usr/local/bin/docker") })
		if got := inMachine(t, l, w.Name, "docker", "info", "--format", "{{.Swarm.NodeID}}"); !strings.Contains(got, victim) {
			t.Fatalf("the wrapper does not lie: %q", got)
		}
		var mu sync.Mutex
		seen := map[string]bool{}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // the manager's availability, all along the run
			defer close(done)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				out, _ := l.Exec(ctx, mgr.Name, "docker", "node", "inspect", "--format", "{{.Spec.Availability}}", victim)
				cancel()
				mu.Lock()
				seen[strings.TrimSpace(out)] = true
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		r := swarmctl(t, labEnv(l), "nodes", "configure", "--yes", "-o", "json", "--drain", "--limit", w.Name, "--mirror", "https://claim.example.test")
		close(stop)
		<-done
		rows := hostileRows(t, r)
		if len(rows) != 1 || rows[0].Outcome != "failed" || !strings.Contains(rows[0].Error, "not draining or restarting it") ||
			!strings.Contains(rows[0].Error, "the manager knows its address "+w.IP+" as node "+own) {
			t.Errorf("rows %+v, want the worker refused: its claim does not match the manager's view", rows)
		}
		if seen["drain"] || !seen["active"] {
			t.Errorf("the manager's availability during the run: %v; it must never be drained", seen)
		}
	})
}

// TestSecuritySymlinkedRegistryFiles: a symbolic link planted where mirror
// install writes the registry config (which holds the upstream password)
// is refused before anything is read or written through it: the file it
// points at keeps its content and mode, the password lands nowhere, and no
// stack is deployed.
func TestSecuritySymlinkedRegistryFiles(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr := l.Manager().Name
	const cfg = "/var/data/registry/registry-mirror-config.yml"
	const victim = "/root/hd-victim"
	const password = "S3cret-symlink-pw-41d"
	if r := swarmctl(t, labEnv(l), "mirror", "uninstall"); r.Code != 0 { // no stack from an earlier test
		t.Fatalf("mirror uninstall: exit %d\n%s", r.Code, r.Stderr)
	}
	inMachine(t, l, mgr, "sh", "-c", `mkdir -p /var/data/registry && rm -f "$1" && printf 'victim\n' > "$2" && chmod 0644 "$2" && ln -s "$2" "$1"`, "sh", cfg, victim)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, mgr, "rm", "-f", cfg, victim)
		swarmctl(t, labEnv(l), "mirror", "uninstall")
	})
	env := append(labEnv(l), "HD_UPSTREAM_PW="+password)
	args := []string{"mirror", "install", "-v", "--upstream-username", "u", "--upstream-password-env", "HD_UPSTREAM_PW"}
	for _, extra := range [][]string{{"--dry-run"}, {"-o", "json"}} {
		r := swarmctl(t, env, append(args, extra...)...)
		if r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, cfg+" is a symbolic link") {
			t.Errorf("mirror install %v: exit %d, want 1 and the link refused:\n%s\n%s", extra, r.Code, r.Stdout, r.Stderr)
		}
		if strings.Contains(r.Stdout+r.Stderr, "victim") {
			t.Errorf("mirror install %v: the link's target was read into the output", extra)
		}
	}
	if got := inMachine(t, l, mgr, "stat", "-c", "%a %U %s", victim); strings.TrimSpace(got) != "644 root 7" {
		t.Errorf("the link's target is now %q, want it untouched (644 root, 7 bytes)", got)
	}
	if got := inMachine(t, l, mgr, "cat", victim); got != "victim\n" {
		t.Errorf("the link's target holds %q", got)
	}
	if got := inMachine(t, l, mgr, "sh", "-c", `test -L "$1" && echo link`, "sh", cfg); strings.TrimSpace(got) != "link" {
		t.Errorf("the planted link is gone: %q", got)
	}
	if got := inMachine(t, l, mgr, "docker", "service", "ls", "--format", "{{.Name}}"); strings.Contains(got, "registry") {
		t.Errorf("a stack was deployed: %s", got)
	}
}

// TestSecurityPurgeRefusesSystemPaths: mirror uninstall --purge deletes
// only what the registry wrote. A system path (--data-dir /var/lib, whose
// docker/ is docker's own data; --config-file /etc/...) is refused before
// anything is done (exit 2); in a data directory it does not own, only
// the registry's own tree (docker/registry) goes.
func TestSecurityPurgeRefusesSystemPaths(t *testing.T) {
	l := needDockerLayoutLab(t)
	mgr := l.Manager().Name
	inMachine(t, l, mgr, "sh", "-c", `printf 'keep\n' > /etc/hd-victim.conf`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, mgr, "rm", "-rf", "/etc/hd-victim.conf", "/srv/hd-purge")
	})
	before := inMachine(t, l, mgr, "sh", "-c", `ls /var/lib/docker | sort | tr '\n' ' '`)
	for _, args := range [][]string{{"--data-dir", "/var/lib"}, {"--data-dir", "/var/lib/docker"}, {"--config-file", "/etc/hd-victim.conf"}} {
		r := swarmctl(t, labEnv(l), append([]string{"mirror", "uninstall", "--purge"}, args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "refusing a system path") {
			t.Errorf("--purge %v: exit %d, want 2 and refused:\n%s", args, r.Code, r.Stderr)
		}
	}
	if after := inMachine(t, l, mgr, "sh", "-c", `ls /var/lib/docker | sort | tr '\n' ' '`); after != before || !strings.Contains(after, "containers") {
		t.Errorf("/var/lib/docker holds %q, was %q", after, before)
	}
	if got := inMachine(t, l, mgr, "cat", "/etc/hd-victim.conf"); got != "keep\n" {
		t.Errorf("/etc/hd-victim.conf holds %q", got)
	}

	// A data directory that is not only the registry's.
	inMachine(t, l, mgr, "sh", "-c", `mkdir -p /srv/hd-purge/docker/registry/v2/blobs /srv/hd-purge/docker/volumes &&
printf 'mine\n' > /srv/hd-purge/docker/volumes/keep.txt && printf 'blob\n' > /srv/hd-purge/docker/registry/v2/blobs/b`)
	r := swarmctl(t, labEnv(l), "mirror", "uninstall", "--purge", "--yes", "--data-dir", "/srv/hd-purge", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"kept": [`) {
		t.Errorf("--purge --data-dir /srv/hd-purge: exit %d, want 0 and the directory kept:\n%s", r.Code, r.Stdout)
	}
	if got := inMachine(t, l, mgr, "sh", "-c", `cat /srv/hd-purge/docker/volumes/keep.txt; ls /srv/hd-purge/docker`); got != "mine\nvolumes\n" {
		t.Errorf("after the purge /srv/hd-purge holds %q, want only what the registry did not write", got)
	}
}

// TestSecurityLockDirectory: the node lock is no longer in world-writable
// /run/lock, where any local user could hold it and block every run: a
// lock held there by the unprivileged user ops changes nothing. The lock
// directory is root's, 0700; planted as a link it is refused.
func TestSecurityLockDirectory(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	t.Cleanup(func() { resetLab(t, l) })
	// ops holds what used to be the lock, for the whole test.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Exec(ctx, w.Name, "su", "ops", "-s", "/bin/sh", "-c", `flock /run/lock/swarmctl-configure.lock sleep 300`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, w.Name, "sh", "-c", `pkill -u ops -x sleep; rm -f /run/lock/swarmctl-configure.lock; rm -rf /run/swarmctl.hd; [ -L /run/swarmctl ] && rm -f /run/swarmctl; true`)
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(inMachine(t, l, w.Name, "sh", "-c", `flock -n /run/lock/swarmctl-configure.lock true 2>&1 || echo held`), "held") {
		if time.Now().After(deadline) {
			t.Fatal("ops does not hold /run/lock/swarmctl-configure.lock")
		}
		time.Sleep(200 * time.Millisecond)
	}
	args := []string{"nodes", "configure", "-o", "json", "--apply", "none", "--limit", w.Name}
	r := swarmctl(t, labEnv(l), append(args, "--mirror", "https://lock.example.test")...)
	if o, e := nodeResult(t, parseConfigure(t, r), w.Name); r.Code != 0 || o != "written" {
		t.Errorf("with ops holding /run/lock/swarmctl-configure.lock: exit %d, %s %q; want written", r.Code, o, e)
	}
	if got := strings.TrimSpace(inMachine(t, l, w.Name, "stat", "-c", "%U %a %F", "/run/swarmctl")); got != "root 700 directory" {
		t.Errorf("/run/swarmctl is %q, want root 700 directory", got)
	}

	// A link planted as the lock directory is refused, and nothing written.
	inMachine(t, l, w.Name, "sh", "-c", `rm -rf /run/swarmctl && mkdir -m 0700 /run/swarmctl.hd && ln -s /run/swarmctl.hd /run/swarmctl`)
	before := catFile(t, l, w.Name, dockerLayoutPath)
	r = swarmctl(t, labEnv(l), append(args, "--mirror", "https://lock2.example.test")...)
	if o, e := nodeResult(t, parseConfigure(t, r), w.Name); r.Code != 1 || o != "failed" || !strings.Contains(e, "refusing to take the lock there") {
		t.Errorf("with /run/swarmctl a link: exit %d, %s %q; want failed, refused", r.Code, o, e)
	}
	if catFile(t, l, w.Name, dockerLayoutPath) != before {
		t.Errorf("daemon.json changed without the lock")
	}
	inMachine(t, l, w.Name, "sh", "-c", `rm -f /run/swarmctl && rm -rf /run/swarmctl.hd`)
}

// TestSecurityTerminalEscapes: text a node reports about itself (here its
// OS name, from /etc/os-release) reaches the terminal escaped: the
// sequences that would retitle the terminal and clear it are shown, not
// run.
func TestSecurityTerminalEscapes(t *testing.T) {
	l := needDockerLayoutLab(t)
	w := l.Machines()[1]
	inMachine(t, l, w.Name, "sh", "-c", `cp -a /etc/os-release /etc/os-release.hd &&
printf 'PRETTY_NAME="Debian\033]0;owned\007\033[2J\r\302\233\342\200\256evil"\n' > /etc/os-release.new && mv /etc/os-release.new /etc/os-release`)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l.Exec(ctx, w.Name, "mv", "-f", "/etc/os-release.hd", "/etc/os-release")
	})
	for _, args := range [][]string{{"nodes", "list"}, {"nodes", "list", "-o", "json"}} {
		r := swarmctl(t, labEnv(l), args...)
		all := r.Stdout + r.Stderr
		for _, raw := range []string{"\x1b", "\x07", "\r", "\u009b", "\u202e"} {
			if strings.Contains(all, raw) {
				t.Errorf("%v: %q from the node reached the terminal raw", args, raw)
			}
		}
		if !strings.Contains(all, `]0;owned`) {
			t.Errorf("%v: the node's OS name is not shown:\n%s", args, all)
		}
	}
}
