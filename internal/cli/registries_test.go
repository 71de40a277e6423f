package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// --registry replaces the inventory's list (NAME or NAME=REMOTE_URL) and
// keeps the inventory's settings for the names it repeats; a bad entry in
// the inventory is exit 2 at its file:line before any node is dialled.
func TestRegistryFlag(t *testing.T) {
	t.Setenv("SWARMCTL_TEST_GH", "gh-secret")
	inv := writeInventory(t, `mirror:
  fqdn: m.example.com
  registries:
    - docker.io
    - registry: ghcr.io
      username: bot
      password_env: SWARMCTL_TEST_GH
nodes:
  - host: n1
`)
	render := func(args ...string) (map[string]any, int, string) {
		d, out, errb := testDeps(noDial(t))
		code := Run(context.Background(), d, append([]string{"mirror", "render", "-i", inv, "-o", "json"}, args...))
		var doc map[string]any
		if code == ExitOK {
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
		if strings.Contains(out.String()+errb.String(), "gh-secret") {
			t.Errorf("password shown:\n%s\n%s", out, errb)
		}
		return doc, code, errb.String()
	}
	names := func(doc map[string]any) string {
		var got []string
		for _, r := range doc["values"].(map[string]any)["registries"].([]any) {
			e := r.(map[string]any)
			got = append(got, e["registry"].(string)+"="+str(e["remote_url"])+"/"+str(e["username"]))
		}
		return strings.Join(got, " ")
	}
	doc, code, errs := render()
	if code != ExitOK || names(doc) != "docker.io=https://registry-1.docker.io/ ghcr.io=https://ghcr.io/bot" {
		t.Errorf("inventory: exit %d %s %v", code, errs, doc["values"])
	}
	doc, code, errs = render("--registry", "quay.io=https://q.example.com", "--registry", "ghcr.io", "--registry", "index.docker.io")
	if code != ExitOK || names(doc) != "quay.io=https://q.example.com/ ghcr.io=https://ghcr.io/bot docker.io=https://registry-1.docker.io/" {
		t.Errorf("--registry: exit %d %s %v", code, errs, doc["values"])
	}
	for _, args := range [][]string{{"--registry", "https://quay.io"}, {"--registry", "quay.io", "--registry", "quay.io"}, {"--registry", "m.example.com"}} {
		if _, code, errs := render(args...); code != ExitError {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}

	bad := writeInventory(t, "mirror:\n  fqdn: m.example.com\n  registries:\n    - ghcr.io\n    - registry: quay.io\n      username: bot\nnodes:\n  - host: n1\n")
	d, _, errb := testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", bad}); code != ExitError {
		t.Errorf("exit %d, want 2", code)
	}
	if want := filepath.Base(bad) + ":5: mirror.registries[1] (quay.io) (--registry): a password is needed"; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr %q lacks %q", errb, want)
	}
	bad = writeInventory(t, "mirror:\n  fqdn: m.example.com\n  registries:\n    - ghcr.io\n    - registry: ghcr.io\nnodes:\n  - host: n1\n")
	d, _, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", bad}); code != ExitError || !strings.Contains(errb.String(), ":5: mirror.registries: duplicate registry ghcr.io (first at line 4)") {
		t.Errorf("exit %d: %s", code, errb)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// The --registry of commands without the stack flags gives the same
// endpoints as the stack flags.
func TestRegistryFlagForOtherCommands(t *testing.T) {
	inv, err := inventory.Parse(filepath.Join(t.TempDir(), "inv.yaml"), []byte("mirror:\n  traefik: none\n  url: http://10.0.0.5:5000\n  registries: [docker.io, quay.io]\nnodes:\n  - host: n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var r RegistryFlag
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	r.addFlag(fs)
	if err := fs.Parse([]string{"--registry", "ghcr.io", "--registry", "docker.io"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fs.Lookup("registry").Usage, "mirror.registries") {
		t.Errorf("usage %q", fs.Lookup("registry").Usage)
	}
	v, err := r.mirrorValues(inv)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Endpoints() {
		got = append(got, e.Registry+" "+strings.Join(e.URLs, ","))
	}
	if strings.Join(got, "; ") != "ghcr.io http://10.0.0.5:5001; docker.io http://10.0.0.5:5000" {
		t.Errorf("endpoints %q", got)
	}
	if err := fs.Parse([]string{"--registry", "ghcr"}); err == nil {
		t.Error("a Docker Hub namespace accepted as a registry")
	}
}
