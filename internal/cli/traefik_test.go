package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// traefikManager is fakeManager whose swarm runs the given services
// (traefik-services.sh lines).
func traefikManager(services string) *fakehost.Host {
	inner := fakeManager("m1", nil)
	return fakehost.New("m1", nil, func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() == "traefik-services.sh" {
			return nodes.Output{Stdout: []byte(services)}, nil
		}
		if len(c.Args) > 2 && c.Args[0] == "docker" && c.Args[1] == "network" {
			return nodes.Output{Stdout: []byte("overlay swarm\n")}, nil
		}
		return inner.Run(context.Background(), c)
	})
}

// traefik auto (the default) decides through the manager: the Traefik the
// swarm runs gives the labels, its network and entrypoint fill the
// settings left empty; none running means a published port; the decision
// and why are in the output and the JSON.
func TestInstallTraefikAuto(t *testing.T) {
	v3 := "proxy_traefik\ttraefik:v3.1\tnull\t[\"--providers.swarm.endpoint=unix:///var/run/docker.sock\",\"--providers.swarm.network=edge\",\"--entrypoints.websecure.address=:443\"]\n"
	inv := writeInventory(t, "mirror:\n  fqdn: mirror.example.com\nnodes:\n  - {host: m1, role: manager}\n")
	for _, c := range []struct {
		name, services string
		mode           string
		stack          []string
		progress       string
	}{
		{"traefik v3 runs", v3, "v3", []string{"traefik.http.routers.registry-mirror.rule=Host(`mirror.example.com`)", "traefik.docker.network=edge", "entrypoints=websecure"},
			"traefik: auto -> v3: service proxy_traefik runs traefik:v3.1 with the swarm provider on"},
		{"no traefik", "registry_x\tregistry:2\tnull\tnull\n", "none", []string{`- "5000:5000"`},
			"traefik: auto -> none: no Traefik service in the swarm: no Traefik labels, the registry is published on port 5000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mgr := traefikManager(c.services)
			dial := func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) { return mgr, nil }
			d, out, errb := testDeps(dial)
			if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--dry-run"}); code != 0 {
				t.Fatalf("exit %d\n%s", code, errb)
			}
			for _, w := range c.stack {
				if !strings.Contains(out.String(), w) {
					t.Errorf("diff lacks %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errb.String(), c.progress) {
				t.Errorf("stderr lacks %q:\n%s", c.progress, errb)
			}
			d, out, _ = testDeps(dial)
			Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--dry-run", "-o", "json"})
			var doc MirrorInstallResult
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Traefik == nil || doc.Traefik.Mode != c.mode || doc.Values.Traefik != c.mode {
				t.Errorf("JSON traefik %+v values.traefik %q", doc.Traefik, doc.Values.Traefik)
			}
		})
	}

	// Nothing published and no Traefik to route: nothing could reach the
	// registry, an input error (exit 2) before any change.
	inv0 := writeInventory(t, "mirror:\n  fqdn: mirror.example.com\n  publish: 0\nnodes:\n  - {host: m1, role: manager}\n")
	mgr := traefikManager("")
	d, _, errb := testDeps(func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) { return mgr, nil })
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv0}); code != ExitError || !strings.Contains(errb.String(), "must publish a port") {
		t.Errorf("publish 0, no Traefik: exit %d\n%s", code, errb)
	}
	if len(mgr.Writes) != 0 {
		t.Errorf("wrote %v", mgr.Writes)
	}
}

// An explicit Traefik v1 is said to be end of life, once; render (which
// asks no node) says what it assumed for auto.
func TestTraefikV1EndOfLifeAndRenderAuto(t *testing.T) {
	inv := writeInventory(t, "mirror:\n  fqdn: mirror.example.com\n  traefik: v1\n")
	d, _, errb := testDeps(noDial(t))
	Run(context.Background(), d, []string{"mirror", "render", "-i", inv})
	if strings.Count(errb.String(), "Traefik v1 is end of life") != 1 {
		t.Errorf("stderr:\n%s", errb)
	}
	inv = writeInventory(t, "mirror:\n  fqdn: mirror.example.com\n")
	d, out, errb := testDeps(noDial(t))
	Run(context.Background(), d, []string{"mirror", "render", "-i", inv})
	if !strings.Contains(errb.String(), "traefik is auto") || strings.Contains(out.String(), "traefik.") || strings.Contains(errb.String(), "end of life") {
		t.Errorf("auto:\n%s\n%s", out, errb)
	}
	if stack.DefaultTraefik != stack.TraefikAuto {
		t.Errorf("default %q", stack.DefaultTraefik)
	}
}
