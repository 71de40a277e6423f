package stack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// resolved is what the commands do with an inventory's mirror section.
func resolved(t *testing.T, m inventory.Mirror, nodes ...inventory.Node) Values {
	t.Helper()
	v, err := FromInventory(m, nodes)
	if err != nil {
		t.Fatal(err)
	}
	v.Defaults()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	return v
}

func regs(names ...string) []inventory.Registry {
	var out []inventory.Registry
	for _, n := range names {
		out = append(out, inventory.Registry{Registry: n})
	}
	return out
}

// An inventory without registries is the recipe: docker.io alone, with
// today's service, files, port and URL.
func TestEndpointsRecipe(t *testing.T) {
	v := resolved(t, inventory.Mirror{FQDN: "mirror.example.com"})
	got := v.Endpoints()
	want := []Endpoint{{
		Registry: "docker.io", Slug: "docker-io", ServiceKey: "registry-mirror", Service: "registry_registry-mirror",
		RemoteURL: DefaultRemoteURL, URLs: []string{"https://mirror.example.com"},
		Replicas:   []Replica{{DataDir: DefaultDataDir}},
		ConfigFile: DefaultConfigFile, DataDir: DefaultDataDir, Publish: 5000, Host: "mirror.example.com",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestEndpointsTraefikHostPerUpstream(t *testing.T) {
	v := resolved(t, inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV3, StackName: "reg",
		Registries: regs("docker.io", "ghcr.io", "registry.example.com:5000")})
	eps := v.Endpoints()
	if len(eps) != 3 {
		t.Fatalf("%d endpoints", len(eps))
	}
	for i, want := range []struct{ slug, svc, remote, url, cfg, data, host string }{
		{"docker-io", "reg_registry-mirror", DefaultRemoteURL, "https://mirror.example.com", DefaultConfigFile, DefaultDataDir, "mirror.example.com"},
		{"ghcr-io", "reg_registry-mirror-ghcr-io", "https://ghcr.io", "https://ghcr-io.mirror.example.com",
			"/var/data/registry/ghcr-io.yml", DefaultDataDir + "-ghcr-io", "ghcr-io.mirror.example.com"},
		{"registry-example-com-5000", "reg_registry-mirror-registry-example-com-5000", "https://registry.example.com:5000",
			"https://registry-example-com-5000.mirror.example.com", "/var/data/registry/registry-example-com-5000.yml",
			DefaultDataDir + "-registry-example-com-5000", "registry-example-com-5000.mirror.example.com"},
	} {
		e := eps[i]
		if e.Slug != want.slug || e.Service != want.svc || e.RemoteURL != want.remote || strings.Join(e.URLs, " ") != want.url ||
			e.ConfigFile != want.cfg || e.DataDir != want.data || e.Host != want.host || e.Publish != 5000+i {
			t.Errorf("endpoint %d: %+v", i, e)
		}
	}
}

// With traefik none every upstream gets its own port on the mirror URL's
// host, in list order, unless it pins one; docker.io keeps url as given.
func TestEndpointsTraefikNonePorts(t *testing.T) {
	v := resolved(t, inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000",
		Registries: []inventory.Registry{{Registry: "quay.io"}, {Registry: "docker.io"}, {Registry: "ghcr.io", Publish: 6000}, {Registry: "gcr.io"}}})
	var got []string
	for _, e := range v.Endpoints() {
		got = append(got, e.Registry+" "+strings.Join(e.URLs, ",")+" "+e.Service)
	}
	want := []string{
		"quay.io http://10.0.0.5:5001 registry_registry-mirror-quay-io",
		"docker.io http://10.0.0.5:5000 registry_registry-mirror",
		"ghcr.io http://10.0.0.5:6000 registry_registry-mirror-ghcr-io",
		"gcr.io http://10.0.0.5:5003 registry_registry-mirror-gcr-io",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// Without docker.io the others still number from publish+1, so adding
// docker.io later moves nothing.
func TestEndpointsWithoutDockerHub(t *testing.T) {
	v := resolved(t, inventory.Mirror{Traefik: TraefikNone, FQDN: "m.example.com", Registries: regs("ghcr.io")})
	e := v.Endpoints()
	if len(e) != 1 || e[0].Publish != 5001 || strings.Join(e[0].URLs, ",") != "https://m.example.com:5001" {
		t.Errorf("%+v", e)
	}
}

// replica_nodes: one cache per node, each reached on its own node at the
// upstream's port; nodes order them with their own replica first.
func TestEndpointsReplicas(t *testing.T) {
	v := resolved(t, inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000", ReplicaNodes: []string{"m1", "m2", "m3"},
		Registries: regs("docker.io", "ghcr.io")},
		inventory.Node{Name: "m1", Host: "10.0.0.11"}, inventory.Node{Name: "m2", Host: "10.0.0.12"}, inventory.Node{Host: "w1"})
	if v.Replicas != 3 || v.PublishMode != PublishHost {
		t.Fatalf("replicas %d, publish mode %s", v.Replicas, v.PublishMode)
	}
	eps := v.Endpoints()
	hub, gh := eps[0], eps[1]
	if want := []string{"http://10.0.0.11:5000", "http://10.0.0.12:5000", "http://m3:5000"}; !reflect.DeepEqual(hub.URLs, want) {
		t.Errorf("docker.io URLs %q, want %q", hub.URLs, want)
	}
	if want := []string{"http://10.0.0.11:5001", "http://10.0.0.12:5001", "http://m3:5001"}; !reflect.DeepEqual(gh.URLs, want) {
		t.Errorf("ghcr.io URLs %q, want %q", gh.URLs, want)
	}
	if gh.Replicas[1] != (Replica{Node: "m2", URL: "http://10.0.0.12:5001", DataDir: DefaultDataDir + "-ghcr-io/m2"}) {
		t.Errorf("replica %+v", gh.Replicas[1])
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"m2", "10.0.0.12"}, "http://10.0.0.12:5000 http://10.0.0.11:5000 http://m3:5000"},
		{[]string{"m3"}, "http://m3:5000 http://10.0.0.11:5000 http://10.0.0.12:5000"},
		{[]string{"w1"}, "http://10.0.0.11:5000 http://10.0.0.12:5000 http://m3:5000"},
		{nil, "http://10.0.0.11:5000 http://10.0.0.12:5000 http://m3:5000"},
	} {
		if got := strings.Join(hub.URLsFor(tc.names...), " "); got != tc.want {
			t.Errorf("URLsFor(%q) = %s, want %s", tc.names, got, tc.want)
		}
	}
	// Behind Traefik the replicas share the one URL.
	v = resolved(t, inventory.Mirror{FQDN: "m.example.com", Traefik: TraefikV2, Publish: 0, PublishSet: true, ReplicaNodes: []string{"a", "b"}})
	e := v.Endpoints()[0]
	if len(e.Replicas) != 2 || strings.Join(e.URLs, ",") != "https://m.example.com" || strings.Join(e.URLsFor("a"), ",") != "https://m.example.com" {
		t.Errorf("%+v", e)
	}
}

// The top-level remote_url / upstream_* keys and docker.io's entry are
// one setting; each upstream's password comes from its own source.
func TestEndpointsCredentials(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gh"), []byte("gh-secret\n"), 0o600)
	t.Setenv("SWARMCTL_TEST_HUB", "hub-secret")
	v := resolved(t, inventory.Mirror{FQDN: "m.example.com", RemoteURL: "https://hub.example.com",
		Registries: []inventory.Registry{
			{Registry: "docker.io", Username: "bot", PasswordEnv: "SWARMCTL_TEST_HUB"},
			{Registry: "ghcr.io", Username: "gh", PasswordFile: filepath.Join(dir, "gh")},
			{Registry: "quay.io"},
		}})
	eps := v.Endpoints()
	if eps[0].RemoteURL != "https://hub.example.com" || eps[0].Username != "bot" || eps[0].Password != "hub-secret" ||
		v.UpstreamUsername != "bot" || v.UpstreamPassword != "hub-secret" {
		t.Errorf("docker.io: %+v", eps[0])
	}
	if eps[1].Username != "gh" || eps[1].Password != "gh-secret" || eps[2].Username != "" || eps[2].Password != "" {
		t.Errorf("others: %+v %+v", eps[1], eps[2])
	}
	b, _ := json.Marshal(eps)
	if strings.Contains(string(b), "secret") {
		t.Errorf("a password is marshalled: %s", b)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io": "ghcr-io", "registry.example.com:5000": "registry-example-com-5000", "[::1]:5000": "1-5000", "docker.io": "docker-io",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// Two or more ports that follow the list's order are warned about; pinned
// ports, one unpinned upstream or Traefik routes are not.
func TestPortWarnings(t *testing.T) {
	v := resolved(t, inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000",
		Registries: []inventory.Registry{{Registry: "quay.io"}, {Registry: "docker.io"}, {Registry: "ghcr.io", Publish: 6000}, {Registry: "gcr.io"}}})
	w := v.PortWarnings()
	if len(w) != 1 || !strings.Contains(w[0], "quay.io :5001, gcr.io :5003") || !strings.Contains(w[0], "pin each with publish:") {
		t.Errorf("warnings %q", w)
	}
	for name, m := range map[string]inventory.Mirror{
		"pinned": {Traefik: TraefikNone, URL: "http://10.0.0.5:5000",
			Registries: []inventory.Registry{{Registry: "docker.io"}, {Registry: "ghcr.io", Publish: 6000}, {Registry: "quay.io", Publish: 6001}}},
		"one unpinned": {Traefik: TraefikNone, URL: "http://10.0.0.5:5000", Registries: regs("docker.io", "ghcr.io")},
		"traefik":      {Traefik: TraefikV3, FQDN: "m.example.com", Registries: regs("docker.io", "ghcr.io", "quay.io")},
	} {
		if w := resolved(t, m).PortWarnings(); len(w) != 0 {
			t.Errorf("%s: unexpected warnings %q", name, w)
		}
	}
}
