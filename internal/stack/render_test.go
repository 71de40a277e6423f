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

// goldenCases cover every Traefik flavour, publish mode, both registry
// majors and credentials.
var goldenCases = []struct {
	name string
	v    Values
}{
	{"recipe-v1-ingress", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}}},
	{"v1-unpublished", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Network: "proxy"}}},
	{"v2-host", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV2, Publish: 5000, PublishMode: PublishHost}}},
	{"v3-custom", Values{Mirror: inventory.Mirror{FQDN: "registry.lan", Traefik: TraefikV3, Entrypoint: "https", CertResolver: "le", StackName: "cache", Constraints: []string{"node.role==manager", "node.labels.disk!=slow"}, Replicas: 2, DeleteEnabled: boolp(false)}}},
	{"none-host", Values{Mirror: inventory.Mirror{Traefik: TraefikNone, URL: "http://10.0.0.5:5000", Publish: 5000, PublishMode: PublishHost, RemoteURL: "http://172.30.0.9:5000"}}},
	{"none-ingress", Values{Mirror: inventory.Mirror{Traefik: TraefikNone, Publish: 5001}}},
	{"registry3-ttl", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV3, Image: "registry:3", TTL: "72h", Publish: 5000}}},
	{"credentials", Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000, UpstreamUsername: "hubuser"}, UpstreamPassword: `s3cr"et: #pw'`}},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(templates.FS, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".stack.yml", r.Stack.Data)
			golden(t, tc.name+".config.yml", r.Config.Data)
			v := r.Values
			assertStack(t, v, r.Stack.Data)
			assertConfig(t, v, r.Config.Data)
			if r.Stack.Mode != 0o644 || r.Stack.Path != v.StackFile || r.Config.Path != v.ConfigFile {
				t.Errorf("stack file %s %o, config %s", r.Stack.Path, r.Stack.Mode, r.Config.Path)
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
	Rest     map[string]any            `yaml:",inline"`
}

func parseStack(t testing.TB, b []byte) stackDoc {
	t.Helper()
	var d stackDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatalf("stack file is not YAML: %v\n%s", err, b)
	}
	return d
}

type serviceDoc struct {
	Image    string   `yaml:"image"`
	Networks []string `yaml:"networks"`
	Labels   any      `yaml:"labels"`
	Ports    []any    `yaml:"ports"`
	Volumes  []struct {
		Type     string `yaml:"type"`
		Source   string `yaml:"source"`
		Target   string `yaml:"target"`
		ReadOnly bool   `yaml:"read_only"`
	} `yaml:"volumes"`
	Deploy struct {
		Replicas  int      `yaml:"replicas"`
		Labels    []string `yaml:"labels"`
		Placement struct {
			Constraints []string `yaml:"constraints"`
		} `yaml:"placement"`
	} `yaml:"deploy"`
}

func assertStack(t testing.TB, v Values, b []byte) {
	t.Helper()
	d := parseStack(t, b)
	if len(d.Rest) != 0 {
		t.Errorf("unexpected top-level keys %v", d.Rest)
	}
	if len(d.Services) != 1 || d.Services[ServiceSuffix] == nil {
		t.Fatalf("services = %v, want only %s", d.Services, ServiceSuffix)
	}
	// Decode the service from the rendered text itself: re-encoding the
	// parsed map with yaml.Marshal is not safe (it writes "\n0" as a block
	// literal it cannot read back).
	var typed struct {
		Services map[string]serviceDoc `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &typed); err != nil {
		t.Fatal(err)
	}
	s := typed.Services[ServiceSuffix]
	if s.Image != v.Image {
		t.Errorf("image %q, want %q", s.Image, v.Image)
	}
	if s.Labels != nil {
		t.Errorf("labels at service level (swarm ignores them): %v", s.Labels)
	}
	if !reflect.DeepEqual(s.Deploy.Labels, v.Labels()) {
		t.Errorf("deploy.labels = %q, want %q", s.Deploy.Labels, v.Labels())
	}
	if s.Deploy.Replicas != v.Replicas {
		t.Errorf("replicas %d, want %d", s.Deploy.Replicas, v.Replicas)
	}
	if !reflect.DeepEqual(s.Deploy.Placement.Constraints, v.Constraints) && len(v.Constraints)+len(s.Deploy.Placement.Constraints) > 0 {
		t.Errorf("constraints %q, want %q", s.Deploy.Placement.Constraints, v.Constraints)
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
	case v.Publish == 0:
		if s.Ports != nil {
			t.Errorf("ports %v, want none", s.Ports)
		}
	case v.PublishMode == PublishHost:
		want := []any{map[string]any{"target": 5000, "published": v.Publish, "protocol": "tcp", "mode": "host"}}
		if !reflect.DeepEqual(s.Ports, want) {
			t.Errorf("ports %v, want %v", s.Ports, want)
		}
	default:
		want := []any{itoa(v.Publish) + ":5000"}
		if !reflect.DeepEqual(s.Ports, want) {
			t.Errorf("ports %#v, want %#v", s.Ports, want)
		}
	}
	if len(s.Volumes) != 2 || s.Volumes[0].Source != v.DataDir || s.Volumes[0].Target != "/var/lib/registry" ||
		s.Volumes[1].Source != v.ConfigFile || s.Volumes[1].Target != v.ConfigTarget() || !s.Volumes[1].ReadOnly {
		t.Errorf("volumes %+v", s.Volumes)
	}
	if len(v.UpstreamPassword) >= 8 && bytes.Contains(b, []byte(v.UpstreamPassword)) {
		t.Error("the password is in the stack file")
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

func assertConfig(t testing.TB, v Values, b []byte) {
	t.Helper()
	var c configDoc
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("config is not YAML: %v\n%s", err, b)
	}
	want := map[string]string{"remoteurl": v.RemoteURL}
	if v.UpstreamUsername != "" {
		want["username"] = v.UpstreamUsername
		want["password"] = v.UpstreamPassword
	}
	if v.TTL != "" {
		want["ttl"] = v.TTL
	}
	if !reflect.DeepEqual(c.Proxy, want) {
		t.Errorf("proxy = %q, want %q", c.Proxy, want)
	}
	if c.Storage.Delete.Enabled != *v.DeleteEnabled || c.Storage.Filesystem.Root != "/var/lib/registry" || c.HTTP.Addr != ":5000" {
		t.Errorf("storage/http = %+v %+v", c.Storage, c.HTTP)
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
	if v.Image != "registry:2" || v.StackName != "registry" || v.RemoteURL != "https://registry-1.docker.io" ||
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
		"target: /etc/docker/registry/config.yml\n",
	} {
		if !bytes.Contains(r.Stack.Data, []byte(want)) {
			t.Errorf("stack file lacks %q", want)
		}
	}
	if r.Config.Mode != 0o644 || r.Config.Secret || r.Secrets() != nil {
		t.Errorf("no credentials: config mode %o secret %v secrets %q", r.Config.Mode, r.Config.Secret, r.Secrets())
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
	if !bytes.Contains(r.Config.Data, []byte("ttl: 0s\n")) {
		t.Errorf("ttl missing:\n%s", r.Config.Data)
	}
	for img, v3 := range map[string]bool{"registry:2": false, "registry:2.8.3": false, "registry": false,
		"registry:3": true, "registry:3.0.0-rc.1": true, "r.lan:3/registry": false, "registry:v3": true, "registry:30": false} {
		if got := (Values{Mirror: inventory.Mirror{Image: img}}).RegistryV3(); got != v3 {
			t.Errorf("RegistryV3(%q) = %v, want %v", img, got, v3)
		}
	}
}

func TestRenderCredentials(t *testing.T) {
	pw := `s3cr"et: #pw'\x`
	r, err := Render(templates.FS, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "mirror.example.com", Publish: 5000, UpstreamUsername: "u"}, UpstreamPassword: pw})
	if err != nil {
		t.Fatal(err)
	}
	if r.Config.Mode != 0o600 || !r.Config.Secret {
		t.Errorf("config mode %o secret %v, want 0600 secret", r.Config.Mode, r.Config.Secret)
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
		found = found || bytes.Contains(r.Config.Data, []byte(s))
		if bytes.Contains(r.Stack.Data, []byte(s)) {
			t.Errorf("stack file contains secret form %q", s)
		}
	}
	if !found {
		t.Errorf("no secret form %q found in config:\n%s", secrets, r.Config.Data)
	}
	assertConfig(t, r.Values, r.Config.Data)

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
	if red.Values.UpstreamPassword != "" || r.Values.UpstreamPassword != pw {
		t.Error("Redacted must clear the copy's password and keep the original")
	}
	if !bytes.Contains(red.Config.Data, []byte("password: \"***\"\n")) {
		t.Errorf("redacted config:\n%s", red.Config.Data)
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
		templates.StackFile:  {Data: []byte("services:\n  x:\n    environment: [{{ yaml .UpstreamPassword }}]\n")},
		templates.ConfigFile: {Data: base},
	}
	r, err := Render(custom, Values{Mirror: inventory.Mirror{Traefik: TraefikV1, FQDN: "m.example.com", UpstreamUsername: "u"}, UpstreamPassword: "hunter22"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(r.Stack.Data, []byte("hunter22")) || !bytes.Contains(r.Config.Data, []byte("hunter22")) {
		t.Errorf("stack:\n%s\nconfig:\n%s", r.Stack.Data, r.Config.Data)
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
