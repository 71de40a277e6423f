package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Local mistakes exit 2 before anything is dialled (noDial fails the test
// otherwise), saying what is wrong in words and what was probably meant.
func TestLocalMistakesExit2BeforeDialling(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  url: https://m.example.com\nnodes:\n  - {host: 10.0.0.1, name: m1, role: manager}\n  - {host: 10.0.0.2, name: w1}\n")
	dir := filepath.Dir(inv)
	missingKeyInv := writeInventory(t, "defaults:\n  key: ./nokey\nnodes:\n  - {host: 10.0.0.1, name: m1}\n  - {host: 10.0.0.2, name: w1, key: /no/such/key}\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
		not  []string
	}{
		{"mistyped subcommand", []string{"nodes", "lst"}, nil,
			[]string{`unknown command "lst" for "swarmctl nodes" (did you mean "list"?)`}, nil},
		{"mistyped group", []string{"mirorr", "status"}, nil,
			[]string{`unknown command "mirorr" for "swarmctl" (did you mean "mirror"?)`}, nil},
		{"mistyped mirror subcommand", []string{"mirror", "stauts"}, nil,
			[]string{`(did you mean "status"?)`}, nil},
		{"mistyped flag", []string{"nodes", "configure", "--dryrun"}, nil,
			[]string{`unknown flag --dryrun for "swarmctl nodes configure" (did you mean --dry-run?)`, "Hint: see 'swarmctl nodes configure --help'"}, nil},
		{"long flag with one dash", []string{"nodes", "list", "-limit", "m1"}, nil,
			[]string{"(did you mean --limit?)"}, nil},
		{"bad number", []string{"nodes", "list", "--parallel", "x"}, nil,
			[]string{`--parallel "x": want a whole number, like 16`}, []string{"strconv", "ParseInt"}},
		{"bad duration from the environment", []string{"nodes", "list", "-i", inv}, map[string]string{"SWARMCTL_CONNECT_TIMEOUT": "5"},
			[]string{`SWARMCTL_CONNECT_TIMEOUT="5": want a duration like 30s, 2m or 1h30m`}, []string{"time:", "missing unit"}},
		{"bad bool from the environment", []string{"nodes", "list", "-i", inv}, map[string]string{"SWARMCTL_FAIL_FAST": "yes please"},
			[]string{`SWARMCTL_FAIL_FAST="yes please": want true or false`}, []string{"strconv"}},
		{"unreadable --ssh-key", []string{"nodes", "list", "-i", inv, "--ssh-key", filepath.Join(dir, "nope")}, nil,
			[]string{"--ssh-key: not a readable file and not a private key (PEM or base64)"}, nil},
		{"unreadable key from the environment", []string{"nodes", "list", "-i", inv}, map[string]string{"SWARMCTL_SSH_KEY": "/no/key"},
			[]string{"SWARMCTL_SSH_KEY: not a readable file and not a private key (PEM or base64)"}, []string{"/no/key"}},
		{"inventory keys, all at once", []string{"nodes", "list", "-i", missingKeyInv}, nil,
			[]string{"defaults.key: key file " + filepath.Join(filepath.Dir(missingKeyInv), "nokey") + ": no such file", `node "w1" key: key file /no/such/key: no such file`}, nil},
		{"explicit ssh_config missing", []string{"nodes", "list", "-i", inv, "--ssh-config", "/no/ssh_config"}, nil,
			[]string{"--ssh-config: ssh_config /no/ssh_config: no such file"}, nil},
		{"known_hosts missing under strict", []string{"nodes", "list", "-i", inv, "--known-hosts", "/no/known_hosts"}, nil,
			[]string{"--known-hosts: known_hosts /no/known_hosts: no such file", "accept-new"}, nil},
		{"--limit names nothing", []string{"nodes", "configure", "-i", inv, "--limit", "m1,w2"}, nil,
			[]string{`--limit "w2" (did you mean "w1"?): no node in the inventory or --host has this name, host or role`, "Hint: node names: m1, w1; roles: manager, worker"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _, errb := testDeps(noDial(t))
			d.Getenv = func(k string) string { return c.env[k] }
			if code := Run(context.Background(), d, c.args); code != ExitError {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range c.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb)
				}
			}
			for _, n := range c.not {
				if strings.Contains(errb.String(), n) {
					t.Errorf("stderr has %q:\n%s", n, errb)
				}
			}
		})
	}
}

// A group command alone prints its help and succeeds.
func TestGroupCommandAloneShowsHelp(t *testing.T) {
	d, out, _ := testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"nodes"}); code != 0 || !strings.Contains(out.String(), "configure") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// Renamed flags keep their old spelling for one release: it still works,
// with a deprecation notice; so does its variable, and the new name's
// variable wins over it.
func TestDeprecatedFlagSpellings(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  url: https://m.example.com\nnodes:\n  - host: n1\n")
	for _, c := range []struct {
		args []string
		env  map[string]string
		want time.Duration
		note string
	}{
		{[]string{"--timeout", "7s"}, nil, 7 * time.Second, "--timeout is deprecated, use --ready-timeout instead"},
		{[]string{"--ready-timeout", "8s"}, map[string]string{"SWARMCTL_TIMEOUT": "7s"}, 8 * time.Second, ""},
		{nil, map[string]string{"SWARMCTL_TIMEOUT": "7s"}, 7 * time.Second, "SWARMCTL_TIMEOUT is deprecated, use SWARMCTL_READY_TIMEOUT instead"},
		{nil, map[string]string{"SWARMCTL_TIMEOUT": "7s", "SWARMCTL_READY_TIMEOUT": "9s"}, 9 * time.Second, "SWARMCTL_TIMEOUT is deprecated"},
		{[]string{"--timeout", "6s"}, map[string]string{"SWARMCTL_READY_TIMEOUT": "9s"}, 6 * time.Second, "deprecated"},
	} {
		env := c.env
		o, code, msg := captureOptionsEnv(t, inv, env, c.args...)
		if code != ExitOK || o.Timeout != c.want || !strings.Contains(msg, c.note) {
			t.Errorf("%v %v: exit %d timeout %s, want %s; stderr %q", c.args, env, code, o.Timeout, c.want, msg)
		}
	}
	d, out, errb := testDeps(noDial(t))
	Run(context.Background(), d, []string{"nodes", "configure", "--help"})
	if strings.Contains(out.String(), "--timeout") || !strings.Contains(out.String(), "--ready-timeout") {
		t.Errorf("help shows the deprecated spelling, or not the new one:\n%s%s", out, errb)
	}
}
