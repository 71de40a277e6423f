package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// TestSSHConfig: the lab's ssh_config alone tells swarmctl how to reach a
// machine. The inventory is empty and nothing in the environment names a
// key or known_hosts (HOME is an empty directory, no agent), so HostName,
// User, IdentityFile and UserKnownHostsFile can only come from the
// ssh_config, and strict host key checking proves UserKnownHostsFile was
// read. Through a jump host (ProxyJump in an ssh_config that extends the
// lab's, or --bastion), the worker's sshd logs the login as coming from the
// manager's address, which proves the path taken.
func TestSSHConfig(t *testing.T) {
	l := needLab(t)
	mgr := l.Manager()
	var worker lab.Machine
	for _, m := range l.Machines() {
		if m.Role == "worker" && !m.Added {
			worker = m
			break
		}
	}
	if worker.Name == "" {
		t.Fatal("the lab has no worker")
	}
	dir := t.TempDir()
	emptyInv := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(emptyInv, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Only the inventory; no SWARMCTL_SSH_KEY, SWARMCTL_KNOWN_HOSTS,
	// SSH_KNOWN_HOSTS or SSH_AUTH_SOCK (swarmctl() passes nothing else).
	env := []string{"SWARMCTL_INVENTORY=" + emptyInv}

	// An ssh_config that takes every lab entry and adds a jump host for the
	// worker: the first value obtained wins, so HostName, User, IdentityFile
	// and UserKnownHostsFile still come from the lab's entries.
	jumpCfg := filepath.Join(dir, "ssh_config")
	cfg := fmt.Sprintf("Include %s\n\nHost %s\n  ProxyJump %s\n", l.SSHConfigPath(), worker.Name, mgr.Name)
	if err := os.WriteFile(jumpCfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		m       lab.Machine
		args    []string
		viaJump bool
	}{
		{"manager direct", mgr, []string{"--ssh-config", l.SSHConfigPath()}, false},
		{"worker direct", worker, []string{"--ssh-config", l.SSHConfigPath()}, false},
		{"worker via ProxyJump", worker, []string{"--ssh-config", jumpCfg}, true},
		{"worker via --bastion", worker, []string{"--ssh-config", l.SSHConfigPath(), "--bastion", mgr.Name}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			since := time.Now().Add(-time.Second)
			args := append([]string{"nodes", "list", "-o", "json", "-i", emptyInv, "--host-key-policy", "strict", "--host", c.m.Name}, c.args...)
			r := swarmctl(t, env, args...)
			if r.Code != 0 {
				t.Fatalf("nodes list exit %d:\n%s", r.Code, r.Stderr)
			}
			var doc struct {
				Nodes []struct {
					Name      string `json:"name"`
					Reachable bool   `json:"reachable"`
					Error     string `json:"error"`
					User      string `json:"user"`
					SwarmAddr string `json:"swarm_addr"`
				} `json:"nodes"`
				Reachable int `json:"reachable"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
				t.Fatalf("JSON: %v\n%s", err, r.Stdout)
			}
			if len(doc.Nodes) != 1 || doc.Reachable != 1 {
				t.Fatalf("want one reachable node, got %+v", doc)
			}
			n := doc.Nodes[0]
			// The swarm address is the machine's IP: the alias led to the
			// right machine.
			if n.Name != c.m.Name || !n.Reachable || n.Error != "" || n.SwarmAddr != c.m.IP || n.User != "root" {
				t.Fatalf("node = %+v, want %s (%s) reached as root", n, c.m.Name, c.m.IP)
			}
			from := loginSources(t, l, c.m.Name, since)
			if c.viaJump {
				if !from[mgr.IP] {
					t.Fatalf("%s's sshd saw no login from the jump host %s (logins from %v)", c.m.Name, mgr.IP, from)
				}
				t.Logf("%s's sshd: login from the jump host %s", c.m.Name, mgr.IP)
			} else if c.m.Name != mgr.Name && from[mgr.IP] {
				t.Fatalf("direct connection came through the manager (logins from %v)", from)
			}
		})
	}
}

// TestSSHConfigOneMachineTwice: an ssh_config alias that leads to a node
// already selected under its own name is refused before any connection,
// with exit 2, and no login reaches the machine.
func TestSSHConfigOneMachineTwice(t *testing.T) {
	l := needLab(t)
	mgr := l.Manager()
	dir := t.TempDir()
	emptyInv := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(emptyInv, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "ssh_config")
	cfg := fmt.Sprintf("Include %s\n\nHost old-name\n  HostName %s\n", l.SSHConfigPath(), mgr.IP)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Start on a whole second: the journal is read from that second on,
	// and a login by an earlier test in the same second must not count.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	since := time.Now()
	r := swarmctl(t, []string{"SWARMCTL_INVENTORY=" + emptyInv}, "nodes", "list", "-i", emptyInv, "--ssh-config", cfgPath,
		"--host", mgr.Name, "--host", "old-name")
	want := fmt.Sprintf("nodes %q and %q reach the same SSH server (%s:22)", mgr.Name, "old-name", mgr.IP)
	if r.Code != 2 || !strings.Contains(r.Stderr, want) || r.Stdout != "" {
		t.Fatalf("exit %d, want 2 with %q:\nstdout:\n%s\nstderr:\n%s", r.Code, want, r.Stdout, r.Stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.Exec(ctx, mgr.Name, "journalctl", "--no-pager", "-o", "cat", "-u", "ssh", "-u", "sshd", "--since", fmt.Sprintf("@%d", since.Unix()))
	if err != nil {
		t.Fatalf("journal: %v\n%s", err, out)
	}
	if from := acceptedLogins(out); len(from) > 0 {
		t.Fatalf("%s saw logins from %v although the run was refused:\n%s", mgr.Name, from, out)
	}
}

// loginSources are the addresses the sshd of machine accepted a publickey
// login from since t0, read from its journal.
func loginSources(t *testing.T, l *lab.Lab, machine string, t0 time.Time) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out string
	var err error
	// journald may lag a moment behind sshd.
	for i := 0; i < 20; i++ {
		out, err = l.Exec(ctx, machine, "journalctl", "--no-pager", "-o", "cat", "--since", fmt.Sprintf("@%d", t0.Unix()))
		if err == nil && strings.Contains(out, "Accepted publickey") {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("reading %s's journal: %v\n%s", machine, err, out)
	}
	from := acceptedLogins(out)
	if len(from) == 0 {
		t.Fatalf("no accepted login in %s's journal since %s:\n%s", machine, t0.Format(time.RFC3339), out)
	}
	return from
}

// acceptedLogins are the source addresses of the publickey logins in
// sshd's journal output.
func acceptedLogins(journal string) map[string]bool {
	from := map[string]bool{}
	for _, line := range strings.Split(journal, "\n") {
		// "Accepted publickey for root from 10.1.2.3 port 41234 ssh2: ..."
		f := strings.Fields(line)
		for i := 0; i+5 < len(f); i++ {
			if f[i] == "Accepted" && f[i+1] == "publickey" && f[i+4] == "from" {
				from[f[i+5]] = true
			}
		}
	}
	return from
}
