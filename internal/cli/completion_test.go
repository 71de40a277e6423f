package cli

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// complete runs cobra's hidden __complete command and returns the offered
// values (descriptions dropped).
func complete(t *testing.T, env map[string]string, args ...string) []string {
	t.Helper()
	d, out, _ := testDeps(noDial(t))
	d.Getenv = func(k string) string { return env[k] }
	Run(context.Background(), d, append([]string{"__complete"}, args...))
	var vals []string
	for _, l := range strings.Split(out.String(), "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		v, _, _ := strings.Cut(l, "\t")
		vals = append(vals, v)
	}
	return vals
}

// Flag values complete from the inventory (names, hosts, roles) and from
// the fixed choices; nothing is dialled.
func TestDynamicCompletion(t *testing.T) {
	inv := writeInventory(t, "nodes:\n  - {host: 10.0.0.1, name: m1, role: manager}\n  - {host: 10.0.0.2, name: w1}\n  - {host: 10.0.0.3, name: m2, role: manager}\n")
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"nodes", "configure", "-i", inv, "--limit", ""}, "manager worker m1 w1 m2"},
		{nil, []string{"nodes", "list", "-i", inv, "--limit", "m1,"}, "m1,manager m1,worker m1,w1 m1,m2"},
		{nil, []string{"mirror", "status", "-i", inv, "--limit", "m"}, "manager m1 m2"},
		{map[string]string{"SWARMCTL_INVENTORY": inv}, []string{"apply", "--manager", ""}, "m1 m2 w1"},
		{nil, []string{"mirror", "install", "-i", inv, "--manager", "w"}, "w1"},
		{nil, []string{"nodes", "list", "-i", inv, "--host", "10.0.0.3"}, "10.0.0.3"},
		{nil, []string{"nodes", "list", "-o", ""}, "text json"},
		{nil, []string{"apply", "--host-key-policy", ""}, "strict accept-new insecure"},
		{nil, []string{"nodes", "configure", "--apply", ""}, "auto reload restart none"},
		{nil, []string{"mirror", "install", "--traefik", ""}, "auto v1 v2 v3 none"},
		{nil, []string{"mirror", "render", "--publish-mode", ""}, "ingress host"},
		{nil, []string{"nodes", "lis"}, "list"},
	}
	for _, c := range cases {
		if got := strings.Join(complete(t, c.env, c.args...), " "); got != c.want {
			t.Errorf("%v: %q, want %q", c.args, got, c.want)
		}
	}
	// No inventory: no values, no error.
	if got := complete(t, nil, "nodes", "list", "-i", "/no/such/inventory.yaml", "--limit", ""); strings.Join(got, " ") != "manager worker" {
		t.Errorf("without an inventory: %q", got)
	}
}

// swarmctl --version prints what `version` prints; version -o json is a
// document with the shared header.
func TestVersionFlagAndJSON(t *testing.T) {
	d, out, _ := testDeps(nil)
	if code := Run(context.Background(), d, []string{"--version"}); code != 0 || !strings.HasPrefix(out.String(), "swarmctl ") {
		t.Errorf("--version: exit %d %q", code, out)
	}
	flagLine := out.String()
	d, out, _ = testDeps(nil)
	Run(context.Background(), d, []string{"version"})
	if out.String() != flagLine {
		t.Errorf("version %q != --version %q", out, flagLine)
	}
	d, out, _ = testDeps(nil)
	if code := Run(context.Background(), d, []string{"version", "-o", "json"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v VersionResult
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Command != "version" || v.SchemaVersion != SchemaVersion ||
		v.Version == "" || v.OS != runtime.GOOS || v.Arch != runtime.GOARCH || !strings.HasPrefix(v.GoVersion, "go") {
		t.Errorf("%v %s", err, out)
	}
}
