package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

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

// The root's help lists every global flag with its variable, once; a
// command's help lists its own flags with theirs, names the global flags
// it uses, and the exit codes.
func TestHelpListsEnvVarsAndExitCodes(t *testing.T) {
	d, out, _ := testDeps(nil)
	Run(context.Background(), d, []string{"--help"})
	for _, want := range []string{"(env SWARMCTL_SSH_KEY)", "(env SWARMCTL_KNOWN_HOSTS)", "(env SWARMCTL_SSH_CONFIG)", "Exit codes:", "130"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("root help lacks %q", want)
		}
	}
	d, out, _ = testDeps(nil)
	Run(context.Background(), d, []string{"nodes", "configure", "--help"})
	for _, want := range []string{"(env SWARMCTL_DRY_RUN)", "(env SWARMCTL_YES)", "--ssh-key --step-timeout --sudo", "-i/--inventory", "Exit codes:", "130"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("configure help lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "(env SWARMCTL_SSH_KEY)") {
		t.Errorf("configure help repeats the global flags in full:\n%s", out)
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
