package stack

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func boolp(b bool) *bool { return &b }

func regsOf(names ...string) []inventory.Registry {
	var out []inventory.Registry
	for _, n := range names {
		out = append(out, inventory.Registry{Registry: n})
	}
	return out
}

// tlsValues is a traefik-none mirror serving HTTPS with the test
// certificate in testdata/tls.
func tlsValues(t testing.TB) Values {
	t.Helper()
	crt, err := os.ReadFile("testdata/tls/mirror.crt")
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile("testdata/tls/mirror.key")
	if err != nil {
		t.Fatal(err)
	}
	return Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "https://mirror.example.com:5000", Publish: 5000,
		TLSCert: "testdata/tls/mirror.crt", TLSKey: "testdata/tls/mirror.key", Registries: regsOf("docker.io", "ghcr.io")},
		TLSCertPEM: crt, TLSKeyPEM: key}
}

// goldenCases cover every Traefik flavour, publish mode, both registry
// majors, credentials, several upstreams, TLS and replica nodes.
var goldenCases = []struct {
	name string
	v    Values
}{
	{"recipe-v1-ingress", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}}},
	{"v1-unpublished", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Network: "proxy"}}},
	{"v2-host", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV2, Publish: 5000, PublishMode: PublishHost}}},
	{"v3-custom", Values{Mirror: inventory.Mirror{FQDN: "registry.lan", Traefik: TraefikV3, Entrypoint: "https", CertResolver: "le", StackName: "cache", Constraints: []string{"node.role==manager", "node.labels.disk!=slow"}, Replicas: 1, DeleteEnabled: boolp(false)}}},
	{"none-host", Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000", Publish: 5000, PublishMode: PublishHost, RemoteURL: "http://172.30.0.9:5000"}}},
	{"none-ingress", Values{Mirror: inventory.Mirror{Traefik: TraefikNone, Publish: 5001}}},
	{"registry3-ttl", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV3, Image: "registry:3", TTL: "72h", Publish: 5000}}},
	{"registry2-pinned", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Image: "registry:2", Publish: 5000}}},
	{"credentials", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000, UpstreamUsername: "hubuser"}, UpstreamPassword: `s3cr"et: #pw'`}},
	{"upstreams-v3", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV3, Publish: 0, PublishSet: true,
		Registries: []inventory.Registry{{Registry: "docker.io"}, {Registry: "ghcr.io", Username: "bot"}, {Registry: "quay.io"}}},
		Passwords: map[string]string{"ghcr.io": "gh-token"}}},
	{"upstreams-none", Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000", Publish: 5000, PublishMode: PublishHost,
		Registries: regsOf("docker.io", "ghcr.io", "registry.example.com:5000"), OTLPEndpoint: "http://collector:4318"}}},
	{"replica-nodes", Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000", Publish: 5000,
		ReplicaNodes: []string{"m1", "m2", "m3"}, Registries: regsOf("docker.io", "quay.io")}}},
}

func TestRenderGolden(t *testing.T) {
	cases := append(goldenCases, struct {
		name string
		v    Values
	}{"tls", tlsValues(t)})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(templates.FS, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".stack.yml", r.Stack.Data)
			for _, c := range r.Configs {
				golden(t, tc.name+"."+Slug(c.Registry)+".config.yml", c.Data)
			}
			v := r.Values
			assertStack(t, r)
			for i, e := range r.Endpoints {
				assertConfig(t, v, e, r.Configs[i].Data)
			}
			if r.Stack.Mode != 0o644 || r.Stack.Path != v.StackFile || r.Configs[0].Path != r.Endpoints[0].ConfigFile {
				t.Errorf("stack file %s %o, config %s", r.Stack.Path, r.Stack.Mode, r.Configs[0].Path)
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/stack -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// stackDoc is the part of a compose file the tests look at.
type stackDoc struct {
	Version  string                    `yaml:"version"`
	Services map[string]map[string]any `yaml:"services"`
	Networks map[string]map[string]any `yaml:"networks"`
	Configs  map[string]objectDoc      `yaml:"configs"`
	Secrets  map[string]objectDoc      `yaml:"secrets"`
	Rest     map[string]any            `yaml:",inline"`
}

type objectDoc struct {
	Name string `yaml:"name"`
	File string `yaml:"file"`
}

func parseStack(t testing.TB, b []byte) stackDoc {
	t.Helper()
	var d stackDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatalf("stack file is not YAML: %v\n%s", err, b)
	}
	return d
}

type objectRefDoc struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	Mode   int    `yaml:"mode"`
}

type serviceDoc struct {
	Image       string   `yaml:"image"`
	Environment []string `yaml:"environment"`
	Networks    []string `yaml:"networks"`
	Labels      any      `yaml:"labels"`
	Ports       []any    `yaml:"ports"`
	Volumes     []struct {
		Type     string `yaml:"type"`
		Source   string `yaml:"source"`
		Target   string `yaml:"target"`
		ReadOnly bool   `yaml:"read_only"`
	} `yaml:"volumes"`
	Configs []objectRefDoc `yaml:"configs"`
	Secrets []objectRefDoc `yaml:"secrets"`
	Deploy  struct {
		Mode      string   `yaml:"mode"`
		Replicas  int      `yaml:"replicas"`
		Labels    []string `yaml:"labels"`
		Placement struct {
			Constraints []string `yaml:"constraints"`
		} `yaml:"placement"`
	} `yaml:"deploy"`
}

// assertStack checks the stack file against what r was rendered from: one
// service per endpoint with its image, labels, ports, data, config and TLS
// objects, mode and placement, and no password anywhere.
func assertStack(t testing.TB, r Rendered) {
	t.Helper()
	v, b := r.Values, r.Stack.Data
	d := parseStack(t, b)
	if len(d.Rest) != 0 {
		t.Errorf("unexpected top-level keys %v", d.Rest)
	}
	if len(d.Services) != len(r.Endpoints) {
		t.Fatalf("services = %v, want one per endpoint (%d)", d.Services, len(r.Endpoints))
	}
	// Decode the services from the rendered text itself: re-encoding the
	// parsed map with yaml.Marshal is not safe (it writes "\n0" as a block
	// literal it cannot read back).
	var typed struct {
		Services map[string]serviceDoc `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &typed); err != nil {
		t.Fatal(err)
	}
	objects := map[string]objectDoc{}
	for k, o := range d.Configs {
		objects["config "+k] = o
	}
	for k, o := range d.Secrets {
		objects["secret "+k] = o
	}
	used := map[string]bool{}
	for i, e := range r.Endpoints {
		s, ok := typed.Services[e.ServiceKey]
		if !ok {
			t.Fatalf("no service %s for %s", e.ServiceKey, e.Registry)
		}
		if s.Image != v.Image {
			t.Errorf("%s: image %q, want %q", e.ServiceKey, s.Image, v.Image)
		}
		if !reflect.DeepEqual(s.Environment, v.Environment()) {
			t.Errorf("%s: environment %q, want %q", e.ServiceKey, s.Environment, v.Environment())
		}
		if s.Labels != nil {
			t.Errorf("labels at service level (swarm ignores them): %v", s.Labels)
		}
		if !reflect.DeepEqual(s.Deploy.Labels, v.LabelsFor(e)) {
			t.Errorf("%s: deploy.labels = %q, want %q", e.ServiceKey, s.Deploy.Labels, v.LabelsFor(e))
		}
		constraints := append([]string(nil), v.Constraints...)
		dataSource := e.DataDir
		if v.PerNode() {
			constraints = append(constraints, "node.labels.swarmctl.mirror."+v.StackName+"==true")
			dataSource += "/{{.Node.Hostname}}"
			if s.Deploy.Mode != "global" || s.Deploy.Replicas != 0 {
				t.Errorf("%s: mode %q replicas %d, want global", e.ServiceKey, s.Deploy.Mode, s.Deploy.Replicas)
			}
		} else if s.Deploy.Mode != "" || s.Deploy.Replicas != v.Replicas {
			t.Errorf("%s: mode %q replicas %d, want %d", e.ServiceKey, s.Deploy.Mode, s.Deploy.Replicas, v.Replicas)
		}
		if !reflect.DeepEqual(s.Deploy.Placement.Constraints, constraints) && len(constraints)+len(s.Deploy.Placement.Constraints) > 0 {
			t.Errorf("%s: constraints %q, want %q", e.ServiceKey, s.Deploy.Placement.Constraints, constraints)
		}
		if v.NeedsNetwork() {
			if !reflect.DeepEqual(s.Networks, []string{v.Network}) {
				t.Errorf("service networks %q, want [%s]", s.Networks, v.Network)
			}
			if len(d.Networks) != 1 || d.Networks[v.Network]["external"] != true {
				t.Errorf("top-level networks %v, want %s external", d.Networks, v.Network)
			}
		} else if s.Networks != nil || d.Networks != nil {
			t.Errorf("networks present with traefik %s: %v %v", v.Traefik, s.Networks, d.Networks)
		}
		switch {
		case e.Publish == 0:
			if s.Ports != nil {
				t.Errorf("ports %v, want none", s.Ports)
			}
		case v.PublishMode == PublishHost:
			want := []any{map[string]any{"target": 5000, "published": e.Publish, "protocol": "tcp", "mode": "host"}}
			if !reflect.DeepEqual(s.Ports, want) {
				t.Errorf("%s: ports %v, want %v", e.ServiceKey, s.Ports, want)
			}
		default:
			want := []any{itoa(e.Publish) + ":5000"}
			if !reflect.DeepEqual(s.Ports, want) {
				t.Errorf("%s: ports %#v, want %#v", e.ServiceKey, s.Ports, want)
			}
		}
		if len(s.Volumes) != 1 || s.Volumes[0].Type != "bind" || s.Volumes[0].Source != dataSource || s.Volumes[0].Target != "/var/lib/registry" {
			t.Errorf("%s: volumes %+v, want %s", e.ServiceKey, s.Volumes, dataSource)
		}
		// The config: a config, or a secret (0400) with credentials.
		cfg := r.Configs[i]
		refs, kind, mode := s.Configs, "config", 0o444
		if cfg.Secret {
			refs, kind, mode = s.Secrets, "secret", 0o400
		}
		found := false
		for _, ref := range refs {
			if ref.Target == v.ConfigTarget() {
				found = true
				o := objects[kind+" "+ref.Source]
				used[kind+" "+ref.Source] = true
				if ref.Mode != mode || o.Name != cfg.SwarmName || o.File != cfg.Path {
					t.Errorf("%s: config %+v -> %+v, want %s %s (mode %o)", e.ServiceKey, ref, o, cfg.SwarmName, cfg.Path, mode)
				}
			}
		}
		if !found {
			t.Errorf("%s: no %s at %s: %+v", e.ServiceKey, kind, v.ConfigTarget(), refs)
		}
		for _, f := range r.TLS {
			found := false
			for _, ref := range s.Secrets {
				if o := objects["secret "+ref.Source]; o.Name == f.SwarmName && o.File == f.Path {
					found = true
					used["secret "+ref.Source] = true
					if f.Hidden && ref.Mode != 0o600 {
						t.Errorf("%s: key mode %o", e.ServiceKey, ref.Mode)
					}
				}
			}
			if !found {
				t.Errorf("%s: TLS file %s not mounted", e.ServiceKey, f.Path)
			}
		}
	}
	if len(used) != len(objects) {
		t.Errorf("objects %v, used %v", objects, used)
	}
	for _, p := range passwords(v) {
		if len(p) >= 8 && bytes.Contains(b, []byte(p)) {
			t.Error("a password is in the stack file")
		}
	}
}

type configDoc struct {
	Storage struct {
		Delete struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"delete"`
		Filesystem struct {
			Root string `yaml:"rootdirectory"`
		} `yaml:"filesystem"`
	} `yaml:"storage"`
	HTTP struct {
		Addr string `yaml:"addr"`
		TLS  struct {
			Certificate string `yaml:"certificate"`
			Key         string `yaml:"key"`
		} `yaml:"tls"`
		Debug struct {
			Addr       string `yaml:"addr"`
			Prometheus struct {
				Enabled bool   `yaml:"enabled"`
				Path    string `yaml:"path"`
			} `yaml:"prometheus"`
		} `yaml:"debug"`
	} `yaml:"http"`
	Health struct {
		StorageDriver struct {
			Enabled   bool   `yaml:"enabled"`
			Interval  string `yaml:"interval"`
			Threshold int    `yaml:"threshold"`
		} `yaml:"storagedriver"`
	} `yaml:"health"`
	Proxy map[string]string `yaml:"proxy"`
}

// assertConfig checks one upstream's registry config.
func assertConfig(t testing.TB, v Values, e Endpoint, b []byte) {
	t.Helper()
	var c configDoc
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, b)
	}
	want := map[string]string{"remoteurl": e.RemoteURL}
	if e.Username != "" {
		want["username"] = e.Username
		want["password"] = e.Password
	}
	if v.TTL != "" {
		want["ttl"] = v.TTL
	}
	if !reflect.DeepEqual(c.Proxy, want) {
		t.Errorf("%s: proxy = %q, want %q", e.Registry, c.Proxy, want)
	}
	if c.Storage.Delete.Enabled != *v.DeleteEnabled || c.Storage.Filesystem.Root != "/var/lib/registry" || c.HTTP.Addr != ":5000" {
		t.Errorf("storage/http = %+v %+v", c.Storage, c.HTTP)
	}
	if d := c.HTTP.Debug; d.Addr != "127.0.0.1:5001" || !d.Prometheus.Enabled || d.Prometheus.Path != "/metrics" {
		t.Errorf("debug = %+v: metrics on the container's loopback only", d)
	}
	if tl := c.HTTP.TLS; (v.TLSCert != "") != (tl.Certificate == TLSCertTarget && tl.Key == TLSKeyTarget) {
		t.Errorf("http.tls = %+v with tls_cert %q", tl, v.TLSCert)
	}
	if h := c.Health.StorageDriver; !h.Enabled || h.Interval != "10s" || h.Threshold != 3 {
		t.Errorf("health = %+v, want the recipe's", h)
	}
}

func itoa(i int) string {
	b, _ := yaml.Marshal(i)
	return strings.TrimSpace(string(b))
}

func TestRenderRecipeDefaults(t *testing.T) {
	r, err := Render(templates.FS, Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	v := r.Values
	if v.Image != "registry:3" || v.TTL != "168h" || v.StackName != "registry" || v.RemoteURL != "https://registry-1.docker.io" ||
		v.StackFile != "/var/data/config/registry/registry.yml" || v.ConfigFile != "/var/data/registry/registry-mirror-config.yml" ||
		v.DataDir != "/var/data/registry/registry-mirror-data" || v.Network != "traefik_public" || v.URL != "https://mirror.example.com" ||
		v.Replicas != 1 || v.Traefik != "v1" || v.PublishMode != "ingress" || !*v.DeleteEnabled {
		t.Errorf("defaults = %+v", v)
	}
	for _, want := range []string{
		"- traefik.frontend.rule=Host:mirror.example.com\n",
		"- traefik.docker.network=traefik_public\n",
		"- traefik.port=5000\n",
		`- "5000:5000"`,
		"target: /etc/distribution/config.yml\n",
		"- OTEL_TRACES_EXPORTER=none\n",
		"name: registry_docker-io-config-",
		"file: /var/data/registry/registry-mirror-config.yml\n",
	} {
		if !bytes.Contains(r.Stack.Data, []byte(want)) {
			t.Errorf("stack file lacks %q", want)
		}
	}
	cfg := r.Configs[0]
	if len(r.Configs) != 1 || cfg.Mode != 0o644 || cfg.Secret || r.Secrets() != nil || len(r.TLS) != 0 {
		t.Errorf("no credentials: config mode %o secret %v secrets %q", cfg.Mode, cfg.Secret, r.Secrets())
	}
	for _, want := range []string{"  ttl: 168h\n", "    addr: 127.0.0.1:5001\n", "  delete:\n    enabled: true\n"} {
		if !bytes.Contains(cfg.Data, []byte(want)) {
			t.Errorf("config lacks %q:\n%s", want, cfg.Data)
		}
	}
}

// image: registry:2 keeps an existing install on v2: its config path, no
// TTL, no OpenTelemetry variable.
func TestRenderRegistry2Pinned(t *testing.T) {
	r, err := Render(templates.FS, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com", Image: "registry:2", Publish: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Stack.Data, []byte("target: /etc/docker/registry/config.yml\n")) || bytes.Contains(r.Stack.Data, []byte("OTEL")) ||
		bytes.Contains(r.Configs[0].Data, []byte("ttl:")) || r.Values.TTL != "" {
		t.Errorf("registry:2:\n%s\n%s", r.Stack.Data, r.Configs[0].Data)
	}
}

func TestRenderRegistry3(t *testing.T) {
	r, err := Render(templates.FS, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com", Image: "host.lan:5000/lib/registry:3.0.0", TTL: "0s", Publish: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.Stack.Data, []byte("target: /etc/distribution/config.yml\n")) ||
		bytes.Contains(r.Stack.Data, []byte("/etc/docker/registry")) {
		t.Errorf("registry:3 config path wrong:\n%s", r.Stack.Data)
	}
	if !bytes.Contains(r.Configs[0].Data, []byte("ttl: 0s\n")) {
		t.Errorf("ttl missing:\n%s", r.Configs[0].Data)
	}
	for img, v3 := range map[string]bool{"registry:2": false, "registry:2.8.3": false, "registry": false,
		"registry:3": true, "registry:3.0.0-rc.1": true, "r.lan:3/registry": false, "registry:v3": true, "registry:30": false} {
		if got := (Values{Mirror: inventory.Mirror{Image: img}}).RegistryV3(); got != v3 {
			t.Errorf("RegistryV3(%q) = %v, want %v", img, got, v3)
		}
	}
}

// A new content is a new swarm object name (so the service rolls); the
// same content the same name (so nothing changes).
func TestRenderObjectNamesFollowContent(t *testing.T) {
	a := mustRenderFS(t, tlsValues(t))
	b := mustRenderFS(t, tlsValues(t))
	if !bytes.Equal(a.Stack.Data, b.Stack.Data) {
		t.Fatal("the same values render two stack files")
	}
	v := tlsValues(t)
	v.TTL = "24h"
	c := mustRenderFS(t, v)
	if c.Configs[0].SwarmName == a.Configs[0].SwarmName || c.TLS[0].SwarmName != a.TLS[0].SwarmName {
		t.Errorf("config %s -> %s, cert %s -> %s", a.Configs[0].SwarmName, c.Configs[0].SwarmName, a.TLS[0].SwarmName, c.TLS[0].SwarmName)
	}
	v = tlsValues(t)
	v.TLSCertPEM = append(append([]byte(nil), v.TLSCertPEM...), '\n')
	d := mustRenderFS(t, v)
	if d.TLS[0].SwarmName == a.TLS[0].SwarmName || d.Configs[0].SwarmName != a.Configs[0].SwarmName || bytes.Equal(d.Stack.Data, a.Stack.Data) {
		t.Errorf("a new certificate must be a new secret in a new stack file")
	}
	key := a.TLS[1]
	if !key.Hidden || !key.Secret || key.Mode != 0o600 || a.TLS[0].Hidden {
		t.Errorf("tls files %+v", a.TLS)
	}
	if red := a.Redacted(); red.TLS[1].Data != nil || red.Values.TLSKeyPEM != nil || red.TLS[0].Data == nil {
		t.Error("Redacted must drop the key and keep the certificate")
	}
}

func mustRenderFS(t *testing.T, v Values) Rendered {
	t.Helper()
	r, err := Render(templates.FS, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Each upstream's credentials reach only its own config, which is a
// secret; the others are configs.
func TestRenderCredentialsPerUpstream(t *testing.T) {
	v := Values{Mirror: inventory.Mirror{FQDN: "m.example.com", Traefik: TraefikV3, UpstreamUsername: "hub",
		Registries: []inventory.Registry{{Registry: "docker.io"}, {Registry: "ghcr.io", Username: "gh"}, {Registry: "quay.io"}}},
		UpstreamPassword: "hub-secret-1", Passwords: map[string]string{"ghcr.io": "gh-secret-22"}}
	r := mustRenderFS(t, v)
	for i, c := range r.Configs {
		has := func(s string) bool { return bytes.Contains(c.Data, []byte(s)) }
		switch c.Registry {
		case "docker.io":
			if !has("hub-secret-1") || has("gh-secret-22") || !c.Secret || c.Mode != 0o600 {
				t.Errorf("docker.io config %d: secret %v mode %o\n%s", i, c.Secret, c.Mode, c.Data)
			}
		case "ghcr.io":
			if !has("gh-secret-22") || has("hub-secret-1") || !c.Secret {
				t.Errorf("ghcr.io config: %v\n%s", c.Secret, c.Data)
			}
		case "quay.io":
			if has("secret") || c.Secret || c.Mode != 0o644 {
				t.Errorf("quay.io config: %v\n%s", c.Secret, c.Data)
			}
		}
	}
	if got := r.Secrets(); len(got) < 2 {
		t.Errorf("Secrets() = %q", got)
	}
	red := r.Redacted()
	for _, f := range red.Files() {
		if bytes.Contains(f.Data, []byte("secret-")) {
			t.Errorf("redacted %s holds a password", f.Path)
		}
	}
}

func TestRenderCredentials(t *testing.T) {
	pw := `s3cr"et: #pw'\x`
	r, err := Render(templates.FS, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror.example.com", Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: pw})
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Configs[0]
	if cfg.Mode != 0o600 || !cfg.Secret {
		t.Errorf("config mode %o secret %v, want 0600 secret", cfg.Mode, cfg.Secret)
	}
	if r.Stack.Mode != 0o644 || r.Stack.Secret {
		t.Errorf("stack mode %o secret %v", r.Stack.Mode, r.Stack.Secret)
	}
	secrets := r.Secrets()
	if len(secrets) == 0 || secrets[0] != pw {
		t.Fatalf("Secrets() = %q", secrets)
	}
	// The password is in the config file, in some YAML form that decodes to it.
	found := false
	for _, s := range secrets {
		found = found || bytes.Contains(cfg.Data, []byte(s))
		if bytes.Contains(r.Stack.Data, []byte(s)) {
			t.Errorf("stack file contains secret form %q", s)
		}
	}
	if !found {
		t.Errorf("no secret form %q found in config:\n%s", secrets, cfg.Data)
	}
	assertConfig(t, r.Values, r.Endpoints[0], cfg.Data)

	red := r.Redacted()
	for _, f := range red.Files() {
		for _, s := range secrets {
			if bytes.Contains(f.Data, []byte(s)) {
				t.Errorf("redacted %s still holds %q", f.Path, s)
			}
		}
		var any map[string]any
		if err := yaml.Unmarshal(f.Data, &any); err != nil {
			t.Errorf("redacted %s is not YAML: %v", f.Path, err)
		}
	}
	if red.Values.UpstreamPassword != "" || r.Values.UpstreamPassword != pw || red.Endpoints[0].Password != "" {
		t.Error("Redacted must clear the copy's password and keep the original")
	}
	if !bytes.Contains(red.Configs[0].Data, []byte("password: \"***\"\n")) {
		t.Errorf("redacted config:\n%s", red.Configs[0].Data)
	}
	if got := r.Redact("login with " + pw + " now"); strings.Contains(got, pw) || !strings.Contains(got, "***") {
		t.Errorf("Redact = %q", got)
	}
}

func TestRedactFileHidesUnknownPasswords(t *testing.T) {
	old := []byte("proxy:\n  remoteurl: https://x.example\n  username: u\n  password: 'someone elses'\n")
	got := string(RedactFile(old, nil))
	if strings.Contains(got, "someone") || !strings.Contains(got, "  password: \"***\"\n") {
		t.Errorf("RedactFile = %q", got)
	}
}

func TestRenderCustomTemplates(t *testing.T) {
	base, err := templates.FS.ReadFile(templates.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	custom := fstest.MapFS{
		templates.StackFile:  {Data: []byte("services:\n  {{ .Service }}:\n    image: {{ yaml .Image }}\n# custom\n")},
		templates.ConfigFile: {Data: base},
	}
	r, err := Render(custom, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(r.Stack.Data, []byte("# custom\n")) {
		t.Errorf("custom template not used: %s", r.Stack.Data)
	}
	// A stack template written for one upstream cannot serve several.
	_, err = Render(custom, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com", Registries: regsOf("docker.io", "ghcr.io")}})
	if err == nil || !strings.Contains(err.Error(), "no service registry-mirror-ghcr-io (ghcr.io): a stack template must range over .Services") {
		t.Errorf("one-service template with two upstreams: %v", err)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"missing file": {templates.StackFile: custom[templates.StackFile]},
		"broken yaml":  {templates.StackFile: {Data: []byte("services: [\n")}, templates.ConfigFile: {Data: base}},
		"bad template": {templates.StackFile: {Data: []byte("{{ .Nope }}")}, templates.ConfigFile: {Data: base}},
		"no services":  {templates.StackFile: {Data: []byte("version: '3'\n")}, templates.ConfigFile: {Data: base}},
	} {
		_, err := Render(fsys, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com", UpstreamUsername: "u"}, UpstreamPassword: "hunter22"})
		if err == nil {
			t.Errorf("%s: Render succeeded", name)
		} else if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}

func TestStackTemplateCannotSeePassword(t *testing.T) {
	base, err := templates.FS.ReadFile(templates.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	custom := fstest.MapFS{
		templates.StackFile:  {Data: []byte("services:\n  {{ .Service }}:\n    environment: [{{ yaml .UpstreamPassword }}]\n")},
		templates.ConfigFile: {Data: base},
	}
	r, err := Render(custom, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com", UpstreamUsername: "u"}, UpstreamPassword: "hunter22"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(r.Stack.Data, []byte("hunter22")) || !bytes.Contains(r.Configs[0].Data, []byte("hunter22")) {
		t.Errorf("stack:\n%s\nconfig:\n%s", r.Stack.Data, r.Configs[0].Data)
	}
}

func TestYAMLScalarRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "a: b", "#x", "- x", "x\ny", "  lead", "trail ", "true", "0x10", "~", "null",
		"'", `"`, `\`, "*alias", "&anchor", "!tag", "{a: 1}", "[1]", "|", ">", "%", "@", "`x`", "a #b", "\t", "\u2028", "\ufeff", "\x00", "\x7f", "\u0085"} {
		q, err := yamlScalar(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if strings.ContainsAny(q, "\n\r") {
			t.Errorf("%q renders on several lines: %q", s, q)
		}
		var got map[string]string
		if err := yaml.Unmarshal([]byte("k: "+q+"\nz: end\n"), &got); err != nil || got["k"] != s || got["z"] != "end" {
			t.Errorf("%q -> %q -> %q (%v)", s, q, got, err)
		}
	}
	if _, err := yamlScalar("\xff"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

func BenchmarkRender(b *testing.B) {
	v := Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV3, Publish: 5000, PublishMode: PublishHost, UpstreamUsername: "u", Constraints: []string{"node.role==manager"}}, UpstreamPassword: "p"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(templates.FS, v); err != nil {
			b.Fatal(err)
		}
	}
}

// No template sees the TLS key's bytes.
func TestTemplatesCannotSeeTheKey(t *testing.T) {
	custom := fstest.MapFS{
		templates.StackFile:  {Data: []byte("services:\n{{ range .Services }}  {{ .ServiceKey }}:\n    x: {{ yaml (printf \"%s\" $.TLSKeyPEM) }}\n{{ end }}")},
		templates.ConfigFile: {Data: []byte("proxy:\n  remoteurl: {{ yaml .RemoteURL }}\nk: {{ yaml (printf \"%s\" .TLSKeyPEM) }}\n")},
	}
	r, err := Render(custom, tlsValues(t))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Split(string(tlsValues(t).TLSKeyPEM), "\n")[1]
	for _, f := range append(r.Configs, r.Stack) {
		if bytes.Contains(f.Data, []byte(key)) {
			t.Errorf("%s holds the key:\n%s", f.Path, f.Data)
		}
	}
}
