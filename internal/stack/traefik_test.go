package stack

import (
	"context"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// line is one service as traefik-services.sh prints it.
func line(name, image, cmd, args string) string {
	return name + "\t" + image + "\t" + cmd + "\t" + args + "\n"
}

func TestParseTraefikServices(t *testing.T) {
	out := line("registry_registry-mirror", "registry:2@sha256:abc", "null", "null") +
		line("proxy_traefik", "traefik:v3.1@sha256:0123", "null",
			`["--providers.swarm.endpoint=unix:///var/run/docker.sock","--providers.swarm.network=traefik_public","--entrypoints.web.address=:80","--entrypoints.websecure.address=:443","--certificatesresolvers.le.acme.email=a@b.c"]`) +
		line("old_traefik", "docker.io/library/traefik:1.7-alpine", `["traefik"]`, `["--docker.swarmMode","--docker.network=proxy","--docker.watch"]`) +
		line("v2", "registry.lan/proxy/traefik:2.11.31", "null", `["--providers.docker.swarmMode=true","--providers.docker.network=edge","--entrypoints.https.address=:443"]`) +
		line("latest_by_flags", "traefik", "null", `["--providers.swarm=true"]`) +
		line("file_configured", "traefik:v3.3", "null", `["--configFile=/etc/traefik/traefik.yml"]`) +
		line("mystery", "traefik:latest", "null", "null") +
		line("not_traefik", "traefik-forward-auth:2", "null", "null") +
		"garbage line\n"
	got := ParseTraefikServices(out)
	want := []TraefikService{
		{Service: "file_configured", Image: "traefik:v3.3", Version: "v3"},
		{Service: "latest_by_flags", Image: "traefik", Version: "v3", SwarmProvider: true},
		{Service: "mystery", Image: "traefik:latest"},
		{Service: "old_traefik", Image: "docker.io/library/traefik:1.7-alpine", Version: "v1", SwarmProvider: true, Network: "proxy"},
		{Service: "proxy_traefik", Image: "traefik:v3.1", Version: "v3", SwarmProvider: true, Network: "traefik_public", Entrypoint: "websecure", CertResolver: "le"},
		{Service: "v2", Image: "registry.lan/proxy/traefik:2.11.31", Version: "v2", SwarmProvider: true, Network: "edge", Entrypoint: "https"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d services: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("service %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestDecideTraefik(t *testing.T) {
	v3 := TraefikService{Service: "proxy_traefik", Image: "traefik:v3.1", Version: "v3", SwarmProvider: true, Network: "traefik_public", Entrypoint: "websecure", CertResolver: "le"}
	v2file := TraefikService{Service: "edge", Image: "traefik:v2.11", Version: "v2"}
	base := Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikAuto, Publish: 5000}}
	cases := []struct {
		name     string
		v        Values
		deployed Deployed
		found    []TraefikService
		mode     string
		reason   string
		warn     string
	}{
		{"none found", base, Deployed{}, nil, "none", "no Traefik service in the swarm: no Traefik labels, the registry is published on port 5000", ""},
		{"v3 with swarm provider", base, Deployed{}, []TraefikService{v2file, v3}, "v3", "service proxy_traefik runs traefik:v3.1 with the swarm provider on", ""},
		{"provider not on the command line", base, Deployed{}, []TraefikService{v2file}, "v2", "service edge runs traefik:v2.11", "does not turn the swarm provider on"},
		{"no fqdn", Values{Mirror: inventory.Mirror{Traefik: TraefikAuto, Publish: 5000}}, Deployed{}, []TraefikService{v3}, "none", "no mirror.fqdn to route by", "set mirror.fqdn"},
		{"version unknown", base, Deployed{}, []TraefikService{{Service: "x", Image: "traefik:latest"}}, "none", "whose major version neither its tag nor its provider flags tell", ""},
		{"deployed v1 kept", base, Deployed{Mode: "v1"}, []TraefikService{v3}, "v1", "the deployed stack has Traefik v1 labels, kept", ""},
		{"deployed none kept", base, Deployed{Mode: "none"}, []TraefikService{v3}, "none", "the deployed stack has no Traefik labels, kept", ""},
		{"deployed router labels, v3 running", base, Deployed{Mode: "v2"}, []TraefikService{v3}, "v3", "the deployed stack has Traefik v2/v3 labels, kept", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nv, d := DecideTraefik(c.v, c.deployed, c.found)
			if d.Mode != c.mode || nv.Traefik != c.mode || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("mode %s (values %s), reason %q; want %s, %q", d.Mode, nv.Traefik, d.Reason, c.mode, c.reason)
			}
			if (c.warn == "") != (len(d.Warnings) == 0) || (c.warn != "" && !strings.Contains(strings.Join(d.Warnings, "\n"), c.warn)) {
				t.Errorf("warnings %q, want %q", d.Warnings, c.warn)
			}
		})
	}
	// The Traefik found fills what the inventory leaves empty, never more.
	nv, _ := DecideTraefik(base, Deployed{}, []TraefikService{v3})
	if nv.Network != "traefik_public" || nv.Entrypoint != "websecure" || nv.CertResolver != "le" {
		t.Errorf("filled %+v", nv.Mirror)
	}
	set := base
	set.Network, set.Entrypoint = "mine", "https"
	if nv, _ := DecideTraefik(set, Deployed{}, []TraefikService{v3}); nv.Network != "mine" || nv.Entrypoint != "https" || nv.CertResolver != "le" {
		t.Errorf("overrode the inventory: %+v", nv.Mirror)
	}
}

func TestDeployedTraefik(t *testing.T) {
	for _, c := range []struct {
		file []byte
		want Deployed
	}{
		{nil, Deployed{}},
		{[]byte("labels:\n  - traefik.frontend.rule=Host:m\n  - traefik.docker.network=proxy\n"), Deployed{Mode: "v1", Network: "proxy"}},
		{[]byte("labels:\n  - traefik.http.routers.registry-mirror.rule=Host(`m`)\n  - traefik.http.routers.registry-mirror.entrypoints=websecure\n" +
			"  - traefik.http.routers.registry-mirror.tls.certresolver=le\n  - traefik.docker.network=edge\n"), Deployed{Mode: "v2", Network: "edge", Entrypoint: "websecure", CertResolver: "le"}},
		{[]byte("services: {}\n"), Deployed{Mode: "none"}},
	} {
		if got := DeployedTraefik(c.file); got != c.want {
			t.Errorf("DeployedTraefik(%q) = %+v, want %+v", c.file, got, c.want)
		}
	}
	// Kept labels keep their network, entrypoint and resolver: a mirror
	// deployed behind a Traefik that went away is not relabelled.
	base := Values{Mirror: inventory.Mirror{FQDN: "m.example.com", Traefik: TraefikAuto, Publish: 5000}}
	nv, d := DecideTraefik(base, Deployed{Mode: "v2", Network: "edge", Entrypoint: "websecure", CertResolver: "le"}, nil)
	if d.Mode != "v3" || nv.Network != "edge" || nv.Entrypoint != "websecure" || nv.CertResolver != "le" {
		t.Errorf("kept: %+v %+v", d, nv.Mirror)
	}
}

// ResolveTraefik reads the deployed stack file first: with one (v1
// labels) it does not ask about services; without one it asks, once.
func TestResolveTraefikThroughTheManager(t *testing.T) {
	services := line("proxy_traefik", "traefik:v3.1", "null", `["--providers.swarm=true","--providers.swarm.network=edge"]`)
	h := fakehost.New("m1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() == "traefik-services.sh" {
			return nodes.Output{Stdout: []byte(services)}, nil
		}
		return nodes.Output{}, &nodes.ExitError{Status: 1, Stderr: []byte("unexpected")}
	})
	v := Values{Mirror: inventory.Mirror{FQDN: "m.example.com", Traefik: TraefikAuto, Publish: 5000}}
	nv, d, err := ResolveTraefik(context.Background(), h, v)
	if err != nil || d == nil || nv.Traefik != "v3" || nv.Network != "edge" || len(h.Commands) != 1 {
		t.Fatalf("fresh: %+v %+v %v (%d commands)", nv.Mirror, d, err, len(h.Commands))
	}
	if _, err := Render(nil, nv); err != nil {
		t.Errorf("resolved values do not render: %v", err)
	}
	h.SetFile(DefaultStackFile, "labels:\n  - traefik.frontend.rule=Host:m.example.com\n", 0o644)
	n := len(h.Commands)
	nv, d, err = ResolveTraefik(context.Background(), h, v)
	if err != nil || nv.Traefik != "v1" || len(h.Commands) != n {
		t.Errorf("deployed v1: %+v %+v %v", nv.Mirror, d, err)
	}
	v.Traefik = TraefikV2
	if nv, d, err := ResolveTraefik(context.Background(), h, v); err != nil || d != nil || nv.Traefik != "v2" {
		t.Errorf("explicit v2 changed: %+v %+v %v", nv.Mirror, d, err)
	}
}

func FuzzParseTraefikServices(f *testing.F) {
	f.Add(line("t", "traefik:v3.1", "null", `["--providers.swarm.network=x","--entrypoints.a.address=:443"]`))
	f.Add(line("t", "traefik:1.7", `["traefik"]`, `["--docker.swarmMode=false","--entryPoints.b"]`))
	f.Fuzz(func(t *testing.T, out string) {
		for _, s := range ParseTraefikServices(out) {
			if !isTraefikImage(s.Image) || strings.ContainsAny(s.Service, "\t\n") {
				t.Fatalf("kept %+v", s)
			}
			switch s.Version {
			case "", "v1", "v2", "v3":
			default:
				t.Fatalf("version %q", s.Version)
			}
		}
	})
}
