package stack

import (
	"reflect"
	"testing"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/templates"
)

// FuzzRenderValues feeds arbitrary strings into every templated field. The
// unvalidated render must still produce valid YAML of the same shape with
// each value decoding back to exactly what went in (quoting alone keeps a
// value inside its scalar); Render must accept only values that also do so.
func FuzzRenderValues(f *testing.F) {
	f.Add("mirror.example.com", "registry:2", "traefik_public", "node.role==manager", "u", "p", "https://r.example.com", "/var/data/x", "168h", uint8(0))
	f.Add("m\nimage: x", "a: b", "n\n  x: y", "c #d", "'", `"`, "&a *a", "/p: q", "|\n x", uint8(1))
	f.Add("a`) || Host(`b", "x\ry", "- z", "{a: b}", "\u2028", "\ufeff", "%TAG", "~", "null", uint8(2))
	f.Add("", "", "", "", "", "", "", "", "", uint8(3))
	// yaml.v3's own Marshal writes "\n0" as a block literal it cannot read
	// back (CI found this through the test's re-encoding).
	f.Add("\n0", "\n0", "\n0", "\n0", "\n0", "\n0", "\n0", "\n0", "\n0", uint8(0))
	f.Fuzz(func(t *testing.T, fqdn, image, network, constraint, user, pw, remote, dataDir, ttl string, mode uint8) {
		v := Values{Mirror: inventory.Mirror{FQDN: fqdn, Image: image, Network: network, Constraints: []string{constraint}, UpstreamUsername: user, RemoteURL: remote, DataDir: dataDir, TTL: ttl, Traefik: []string{TraefikV1, TraefikV2, TraefikV3, TraefikNone}[mode%4], Publish: 5000}, UpstreamPassword: pw}
		if mode&4 != 0 {
			v.PublishMode = PublishHost
		}
		v.Defaults()
		// Defaults may have filled empty fields: look at the values the
		// templates actually use.
		used := []string{v.Image, constraint, v.UpstreamUsername, v.RemoteURL, v.DataDir, v.TTL}
		if v.Traefik != TraefikNone {
			used = append(used, v.FQDN, v.Network)
		}
		if v.UpstreamUsername != "" {
			used = append(used, v.UpstreamPassword)
		}
		allUTF8 := true
		for _, s := range used {
			allUTF8 = allUTF8 && utf8.ValidString(s)
		}
		r, err := render(templates.FS, v)
		if !allUTF8 {
			if err == nil {
				t.Fatal("invalid UTF-8 rendered")
			}
			return
		}
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		checkShape(t, v, r)

		if rv, err := Render(templates.FS, v); err == nil {
			checkShape(t, rv.Values, rv)
			if !reflect.DeepEqual(rv.Stack.Data, r.Stack.Data) {
				t.Fatal("Render and render differ")
			}
		}
	})
}

func checkShape(t *testing.T, v Values, r Rendered) {
	t.Helper()
	r.Values = v
	assertStack(t, r)
	for i, e := range r.Endpoints {
		var cfg map[string]any
		if err := yaml.Unmarshal(r.Configs[i].Data, &cfg); err != nil {
			t.Fatalf("config not YAML: %v\n%s", err, r.Configs[i].Data)
		}
		keys := []string{}
		for k := range cfg {
			keys = append(keys, k)
		}
		if len(cfg) != 6 {
			t.Fatalf("config top-level keys %v", keys)
		}
		// Proxy values decode to exactly the inputs.
		if e.Username == "" {
			// assertConfig expects no password key without a user.
			e.Password = ""
		}
		assertConfig(t, v, e, r.Configs[i].Data)
	}
}
