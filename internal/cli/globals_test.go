package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
)

func TestParseHostFlag(t *testing.T) {
	cases := []struct {
		in         string
		user, host string
		port       int
		bad        bool
	}{
		{in: "10.0.0.1", host: "10.0.0.1"},
		{in: "ops@node-1.example.com:2222", user: "ops", host: "node-1.example.com", port: 2222},
		{in: "[::1]:22", host: "::1", port: 22},
		{in: "prod-3", host: "prod-3"},
		{in: "a@b@c", user: "a@b", bad: true},
		{in: "h:0", bad: true},
		{in: "h:99999", bad: true},
		{in: "$(reboot)", bad: true},
		{in: "x;y", bad: true},
		{in: "-oProxyCommand=x", bad: true},
		{in: "a b@h", bad: true},
	}
	for _, c := range cases {
		n, err := parseHostFlag(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q accepted as %+v", c.in, n)
			}
			continue
		}
		if err != nil || n.User != c.user || n.Host != c.host || n.Port != c.port {
			t.Errorf("%q -> %+v, %v", c.in, n, err)
		}
	}
}

func TestSelectNodesPrecedenceAndLimit(t *testing.T) {
	yes, no := true, false
	inv := &inventory.Inventory{
		Path:     "/etc/swarm/swarmctl.yaml",
		Defaults: inventory.Defaults{User: "ops", Port: 2222, Key: "keys/id", Sudo: &yes},
		Nodes: []inventory.Node{
			{Host: "10.0.0.1", Name: "m1", Role: "manager"},
			{Host: "10.0.0.2", Name: "w1", Role: "worker", User: "root", Port: 22, Sudo: &no, Key: "/abs/key"},
		},
	}
	g := &GlobalOptions{Sudo: true, Hosts: []string{"admin@10.0.0.9:2200"}}
	sel, err := g.selectNodes(inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel) != 3 {
		t.Fatalf("selected %d", len(sel))
	}
	m1, w1, adhoc := sel[0].Target, sel[1].Target, sel[2].Target
	if m1.User != "ops" || m1.Port != 2222 || !m1.Sudo || m1.KeyFiles[0] != "/etc/swarm/keys/id" {
		t.Errorf("m1 = %+v", m1)
	}
	if w1.User != "root" || w1.Port != 22 || w1.Sudo || w1.KeyFiles[0] != "/abs/key" {
		t.Errorf("w1 = %+v", w1)
	}
	if adhoc.User != "admin" || adhoc.Port != 2200 || adhoc.Host != "10.0.0.9" {
		t.Errorf("ad hoc = %+v", adhoc)
	}
	g.User = "flaguser"
	g.Hosts = nil
	g.Limit = []string{"worker"}
	sel, err = g.selectNodes(inv)
	if err != nil || len(sel) != 1 || sel[0].Name != "w1" {
		t.Fatalf("limit worker: %v %v", sel, err)
	}
	g.Limit = []string{"m1"}
	sel, _ = g.selectNodes(inv)
	if sel[0].Target.User != "flaguser" {
		t.Errorf("--user should beat inventory defaults: %+v", sel[0].Target)
	}
	g.Limit = []string{"nope"}
	if _, err := g.selectNodes(inv); exitCodeOf(err) != ExitError {
		t.Errorf("unmatched --limit: %v", err)
	}
}

func TestEnvBindsEveryFlag(t *testing.T) {
	env := map[string]string{
		"SWARMCTL_INVENTORY":       "/nonexistent/inv.yaml",
		"SWARMCTL_PARALLEL":        "notanumber",
		"SWARMCTL_HOST_KEY_POLICY": "accept-new",
	}
	var dialled []nodes.Target
	d, _, errb := testDeps(func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		dialled = append(dialled, tg)
		return nil, errors.New("no")
	})
	d.Getenv = func(k string) string { return env[k] }
	code := Run(context.Background(), d, []string{"nodes", "list"})
	if code != ExitError || !strings.Contains(errb.String(), "SWARMCTL_PARALLEL") {
		t.Errorf("bad env value: exit %d, stderr %s", code, errb)
	}
	env["SWARMCTL_PARALLEL"] = "4"
	d, _, errb = testDeps(d.Dial)
	d.Getenv = func(k string) string { return env[k] }
	code = Run(context.Background(), d, []string{"nodes", "list"})
	if code != ExitError || !strings.Contains(errb.String(), "/nonexistent/inv.yaml") {
		t.Errorf("SWARMCTL_INVENTORY not used: exit %d, stderr %s", code, errb)
	}
	// A flag beats its env var.
	env["SWARMCTL_HOST"] = "10.0.0.5"
	d, _, _ = testDeps(d.Dial)
	d.Getenv = func(k string) string { return env[k] }
	var seenPolicy string
	d.Dial = func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		dialled = append(dialled, tg)
		seenPolicy = o.HostKeyPolicy
		return nil, errors.New("refused")
	}
	code = Run(context.Background(), d, []string{"nodes", "list", "-i", writeInventory(t, ""), "--host", "10.0.0.6"})
	if code != ExitFailed || len(dialled) != 1 || dialled[0].Host != "10.0.0.6" || seenPolicy != "accept-new" {
		t.Errorf("exit %d dialled %+v policy %q", code, dialled, seenPolicy)
	}
}

func TestHelpListsEnvVarsAndExitCodes(t *testing.T) {
	d, out, _ := testDeps(nil)
	Run(context.Background(), d, []string{"nodes", "configure", "--help"})
	for _, want := range []string{"(env SWARMCTL_SSH_KEY)", "(env SWARMCTL_KNOWN_HOSTS)", "(env SWARMCTL_SSH_CONFIG)", "(env SWARMCTL_DRY_RUN)", "Exit codes:", "130"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestKnownHostsAndKeyFromEnvContent(t *testing.T) {
	line := "10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummy"
	pem := "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
	d, _, _ := testDeps(nil)
	g := &GlobalOptions{KnownHosts: line, SSHKey: pem, HostKeyPolicy: "strict"}
	o, cleanup, err := g.dialOptions(d, &inventory.Inventory{})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if string(o.KeyPEM) != pem || len(o.KnownHostsFiles) != 1 || strings.Contains(o.KnownHostsFiles[0], "ssh-ed25519") {
		t.Errorf("options = %+v", o)
	}
	sel, _ := g.selectNodes(&inventory.Inventory{Nodes: []inventory.Node{{Host: "a"}}})
	if len(sel[0].Target.KeyFiles) != 0 {
		t.Errorf("PEM content used as a key file name: %v", sel[0].Target.KeyFiles)
	}
}

func TestMirrorFlagWithLineBreakRefusedEverywhere(t *testing.T) {
	for _, cmd := range [][]string{{"nodes", "list"}, {"mirror", "status"}, {"nodes", "configure"}} {
		d, _, errb := testDeps(nil)
		args := append(cmd, "--host", "10.0.0.1", "--mirror", "https://ok.example.com\nhttps://evil.example.com")
		if code := Run(context.Background(), d, args); code != ExitError || !strings.Contains(errb.String(), "line break") {
			t.Errorf("%v: exit %d, stderr %s", cmd, code, errb)
		}
	}
}

// Two inventory entries (or an entry and --host) that reach one SSH server
// are refused before anything is dialled: the machine would be changed by
// two sessions at once. ssh_config HostName and Port count; the user and
// different jump hosts do not make one server two.
func TestSelectionReachingOneServerTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	body := "Host prod-3\n  HostName 10.0.0.3\n  Port 2222\nHost old-3\n  HostName 10.0.0.3\n  Port 2222\n  User admin\nHost other-port\n  HostName 10.0.0.3\nHost behind-b\n  HostName 10.0.0.3\n  Port 2222\n  ProxyJump b\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var dialled atomic.Int32
	dial := func(ctx context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
		dialled.Add(1)
		return nil, errors.New("unreachable")
	}
	cases := []struct {
		inv  string
		args []string
		want string // "" = accepted
	}{
		{"nodes:\n  - {host: prod-3}\n  - {host: old-3}\n", nil, `nodes "prod-3" and "old-3" reach the same SSH server (10.0.0.3:2222)`},
		{"nodes:\n  - {host: prod-3}\n  - {host: 10.0.0.3, port: 2222, name: by-ip}\n", nil, `nodes "prod-3" and "by-ip" reach the same SSH server`},
		{"nodes:\n  - {host: prod-3}\n", []string{"--host", "root@prod-3"}, `node "prod-3" is selected twice (10.0.0.3:2222)`},
		// Port 22 versus 2222: two servers.
		{"nodes:\n  - {host: prod-3}\n  - {host: other-port}\n", nil, ""},
		// The same address behind a jump host: another network.
		{"nodes:\n  - {host: prod-3}\n  - {host: behind-b}\n", nil, ""},
		// --bastion puts every node behind b: one server again.
		{"nodes:\n  - {host: prod-3}\n  - {host: behind-b}\n", []string{"--bastion", "b"}, `nodes "prod-3" and "behind-b" reach the same SSH server (b -> 10.0.0.3:2222)`},
	}
	for i, c := range cases {
		inv := writeInventory(t, c.inv)
		d, _, errb := testDeps(dial)
		dialled.Store(0)
		args := append([]string{"nodes", "list", "-i", inv, "--ssh-config", cfg}, c.args...)
		code := Run(context.Background(), d, args)
		if c.want == "" {
			if code == ExitError || dialled.Load() != 2 {
				t.Errorf("case %d: exit %d, %d dials, want both nodes dialled:\n%s", i, code, dialled.Load(), errb)
			}
			continue
		}
		if code != ExitError || dialled.Load() != 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("case %d: exit %d, %d dials, stderr:\n%s\nwant %q", i, code, dialled.Load(), errb, c.want)
		}
	}
}
