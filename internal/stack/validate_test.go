package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/templates"
)

func valid() Values {
	v := Values{Mirror: inventory.Mirror{FQDN: "mirror.example.com", Traefik: TraefikV1, Publish: 5000}}
	v.Defaults()
	return v
}

func TestValidateAcceptsDefaults(t *testing.T) {
	for _, tc := range goldenCases {
		v := tc.v
		v.Defaults()
		if err := v.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestValidateRejectsHostileValues(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Values)
		flag string // the flag the error must name
	}{
		{"fqdn newline injects a key", func(v *Values) { v.FQDN = "m.example.com\nimage: evil" }, "--fqdn"},
		{"fqdn shell", func(v *Values) { v.FQDN = "m.example.com;rm -rf /" }, "--fqdn"},
		{"fqdn command substitution", func(v *Values) { v.FQDN = "$(id).example.com" }, "--fqdn"},
		{"fqdn backquote", func(v *Values) { v.FQDN = "m`id`.example.com" }, "--fqdn"},
		{"fqdn quote", func(v *Values) { v.FQDN = `m".example.com` }, "--fqdn"},
		{"fqdn empty label", func(v *Values) { v.FQDN = "m..example.com" }, "--fqdn"},
		{"fqdn leading hyphen", func(v *Values) { v.FQDN = "-m.example.com" }, "--fqdn"},
		{"fqdn label too long", func(v *Values) { v.FQDN = strings.Repeat("a", 64) + ".com" }, "--fqdn"},
		{"fqdn with port", func(v *Values) { v.FQDN = "m.example.com:443" }, "--fqdn"},
		{"fqdn backtick breaks Host()", func(v *Values) { v.FQDN = "a`) || Host(`b" }, "--fqdn"},
		{"fqdn missing with traefik", func(v *Values) { v.FQDN = "" }, "--fqdn): required with Traefik v1 labels (the Host rule): set it, or choose --traefik none (a published port only) or auto"},
		{"url userinfo", func(v *Values) { v.URL = "https://u:p@m.example.com" }, "--url"},
		{"url scheme", func(v *Values) { v.URL = "ftp://m.example.com" }, "--url"},
		{"url no scheme", func(v *Values) { v.URL = "m.example.com" }, "--url"},
		{"url query", func(v *Values) { v.URL = "https://m.example.com/?x=1" }, "--url"},
		{"url newline", func(v *Values) { v.URL = "https://m.example.com\n- evil" }, "--url"},
		{"url quote", func(v *Values) { v.URL = `https://m.example.com/"` }, "--url"},
		{"remote userinfo", func(v *Values) { v.RemoteURL = "https://user:pw@r.example.com" }, "--remote-url"},
		{"remote space", func(v *Values) { v.RemoteURL = "https://r.example.com x" }, "--remote-url"},
		{"remote dollar", func(v *Values) { v.RemoteURL = "https://r.example.com/$HOME" }, "--remote-url"},
		{"image uppercase", func(v *Values) { v.Image = "Registry:2" }, "--image"},
		{"image flag", func(v *Values) { v.Image = "registry:2 --privileged" }, "--image"},
		{"image newline", func(v *Values) { v.Image = "registry:2\n    privileged: true" }, "--image"},
		{"image empty tag", func(v *Values) { v.Image = "registry:" }, "--image"},
		{"stack space", func(v *Values) { v.StackName = "my stack" }, "--stack"},
		{"stack option", func(v *Values) { v.StackName = "-rm" }, "--stack"},
		{"stack semicolon", func(v *Values) { v.StackName = "r;reboot" }, "--stack"},
		{"stack dot", func(v *Values) { v.StackName = "r.x" }, "--stack"},
		{"relative stack file", func(v *Values) { v.StackFile = "registry.yml" }, "--stack-file"},
		{"unclean config file", func(v *Values) { v.ConfigFile = "/var/data/../etc/shadow" }, "--config-file"},
		{"data dir root", func(v *Values) { v.DataDir = "/" }, "--data-dir"},
		{"data dir newline", func(v *Values) { v.DataDir = "/var/x\n/y" }, "--data-dir"},
		{"data dir colon", func(v *Values) { v.DataDir = "/var/x:/etc" }, "--data-dir"},
		{"data dir quote", func(v *Values) { v.DataDir = "/var/x'y" }, "--data-dir"},
		{"same file twice", func(v *Values) { v.ConfigFile = v.StackFile }, "--config-file"},
		{"config inside data", func(v *Values) { v.ConfigFile = v.DataDir + "/config.yml" }, "--config-file"},
		{"traefik v4", func(v *Values) { v.Traefik = "v4" }, "--traefik"},
		{"network semicolon", func(v *Values) { v.Network = "net;x" }, "--network"},
		{"network newline", func(v *Values) { v.Network = "net\nx: y" }, "--network"},
		{"entrypoint", func(v *Values) { v.Traefik = TraefikV2; v.Entrypoint = "web secure"; v.CertResolver = "le" }, "--entrypoint"},
		{"resolver", func(v *Values) { v.Traefik = TraefikV3; v.Entrypoint = "web"; v.CertResolver = "le`" }, "--cert-resolver"},
		{"publish too big", func(v *Values) { v.Publish = 70000 }, "--publish"},
		{"publish negative", func(v *Values) { v.Publish = -1 }, "--publish"},
		{"publish mode", func(v *Values) { v.PublishMode = "both" }, "--publish-mode"},
		{"unreachable", func(v *Values) { v.Traefik = TraefikNone; v.Publish = 0 }, "--publish"},
		{"constraint newline", func(v *Values) { v.Constraints = []string{"node.role==manager\n- x"} }, "--constraint"},
		{"constraint no operator", func(v *Values) { v.Constraints = []string{"node.role"} }, "--constraint"},
		{"replicas zero", func(v *Values) { v.Replicas = 0 }, "--replicas"},
		{"user without password", func(v *Values) { v.UpstreamUsername = "u" }, "--upstream-password-file"},
		{"password without user", func(v *Values) { v.UpstreamPassword = "pw" }, "--upstream-username"},
		{"user newline", func(v *Values) { v.UpstreamUsername = "u\npassword: x"; v.UpstreamPassword = "p" }, "--upstream-username"},
		{"ttl on registry:2", func(v *Values) { v.Image = "registry:2"; v.TTL = "24h" }, "--ttl"},
		{"otlp on registry:2", func(v *Values) { v.Image = "registry:2"; v.TTL = ""; v.OTLPEndpoint = "http://c:4318" }, "--otlp-endpoint"},
		{"otlp not a URL", func(v *Values) { v.OTLPEndpoint = "c:4318" }, "--otlp-endpoint"},
		{"ttl syntax", func(v *Values) { v.Image = "registry:3"; v.TTL = "forever" }, "--ttl"},
		{"ttl negative", func(v *Values) { v.Image = "registry:3"; v.TTL = "-1h" }, "--ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := valid()
			tc.edit(&v)
			err := v.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.flag) {
				t.Errorf("error does not name %s: %v", tc.flag, err)
			}
			// Render applies Defaults first (replicas 0 becomes 1); whatever
			// still fails validation after that must fail Render too.
			d := v
			d.Defaults()
			if _, rerr := Render(templates.FS, v); rerr == nil && d.Validate() != nil {
				t.Error("Render accepted what Validate rejects")
			}
		})
	}
}

func TestValidateNeverShowsPassword(t *testing.T) {
	v := valid()
	v.UpstreamUsername = "u"
	v.UpstreamPassword = "hunter2\nsecret-line"
	err := v.Validate()
	if err == nil {
		t.Fatal("password with a newline accepted")
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret-line") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestValidateReportsAllErrors(t *testing.T) {
	v := valid()
	v.FQDN = "bad host"
	v.Replicas = -1
	v.Traefik = "x"
	err := v.Validate()
	for _, flag := range []string{"--fqdn", "--replicas", "--traefik"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("missing %s in %v", flag, err)
		}
	}
}

func TestFromInventory(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := inventory.Mirror{FQDN: "m.example.com", Traefik: "v2", StackName: "cache", Image: "registry:3", TTL: "1h",
		Constraints: []string{"node.role==manager"}, UpstreamUsername: "u", UpstreamPasswordFile: pwFile, PublishMode: "host"}
	v, err := FromInventory(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.UpstreamPassword != "from-file" || v.Publish != 5000 || v.StackName != "cache" || v.TTL != "1h" || v.UpstreamUsername != "u" || v.PublishMode != "host" {
		t.Errorf("FromInventory = %+v", v)
	}
	v.Defaults()
	if err := v.Validate(); err != nil {
		t.Error(err)
	}

	t.Setenv("SWARMCTL_TEST_PW", "from-env")
	v, err = FromInventory(inventory.Mirror{UpstreamUsername: "u", UpstreamPasswordEnv: "SWARMCTL_TEST_PW", Publish: 0, PublishSet: true}, nil)
	if err != nil || v.UpstreamPassword != "from-env" || v.Publish != 0 {
		t.Errorf("env: %+v %v", v, err)
	}
	for name, m := range map[string]inventory.Mirror{
		"both":        {UpstreamPasswordFile: pwFile, UpstreamPasswordEnv: "SWARMCTL_TEST_PW"},
		"no file":     {UpstreamPasswordFile: filepath.Join(dir, "missing")},
		"env not set": {UpstreamPasswordEnv: "SWARMCTL_TEST_UNSET_VAR"},
		"publish -1":  {Publish: -1, PublishSet: true},
	} {
		if _, err := FromInventory(m, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The inventory's publish: 0 means "not published", as --publish 0 and the
// README say; only a missing key means the default 5000.
func TestFromInventoryPublish(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    inventory.Mirror
		want int
	}{
		{"absent", inventory.Mirror{}, 5000},
		{"zero", inventory.Mirror{Publish: 0, PublishSet: true}, 0},
		{"port", inventory.Mirror{Publish: 5001, PublishSet: true}, 5001},
	} {
		v, err := FromInventory(tc.m, nil)
		if err != nil || v.Publish != tc.want {
			t.Errorf("%s: publish %d, %v; want %d", tc.name, v.Publish, err, tc.want)
		}
	}
	_, err := FromInventory(inventory.Mirror{Publish: -1, PublishSet: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "mirror.publish -1") {
		t.Errorf("publish -1: %v", err)
	}
}

// delete_enabled reaches storage.delete.enabled; absent keeps the recipe's true.
func TestFromInventoryDeleteEnabled(t *testing.T) {
	for _, tc := range []struct {
		set  *bool
		want string
	}{{nil, "enabled: true"}, {boolp(false), "enabled: false"}, {boolp(true), "enabled: true"}} {
		v, err := FromInventory(inventory.Mirror{FQDN: "m.example.com", Traefik: TraefikV3, DeleteEnabled: tc.set}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Render(templates.FS, v)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(r.Configs[0].Data), "  delete:\n    "+tc.want+"\n") {
			t.Errorf("delete_enabled %v: config\n%s", tc.set, r.Configs[0].Data)
		}
	}
}
