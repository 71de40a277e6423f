package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRegistriesParse(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte(`mirror:
  fqdn: m.example.com
  registries:
    - registry: index.docker.io
      username: bot
      password_file: hub.pass
    - ghcr.io
    - registry: registry.example.com:5000
      remote_url: https://upstream.example.com
      url: https://cache.example.com:6000
      publish: 6000
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Registry{
		{Registry: "docker.io", Username: "bot", PasswordFile: "hub.pass", Line: 4},
		{Registry: "ghcr.io", Line: 7},
		{Registry: "registry.example.com:5000", RemoteURL: "https://upstream.example.com", URL: "https://cache.example.com:6000", Publish: 6000, Line: 8},
	}
	if !reflect.DeepEqual(inv.Mirror.Registries, want) {
		t.Errorf("registries\n got %+v\nwant %+v", inv.Mirror.Registries, want)
	}
	if inv.Mirror.Source != "inv.yaml" || inv.Mirror.Lines["fqdn"] != 2 || inv.Mirror.Lines["registries"] != 3 {
		t.Errorf("source %q lines %v", inv.Mirror.Source, inv.Mirror.Lines)
	}
}

func TestRegistriesErrorsHaveFileLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		line int
		want string
	}{
		{"mirror:\n  registries:\n    - registry: ghcr.io\n      pasword_file: x\n", 4, `unknown key "pasword_file"`},
		{"mirror:\n  registries:\n    - ghcr.io\n    - registry: GHCR.io\n", 4, "lower case"},
		{"mirror:\n  registries:\n    - https://ghcr.io\n", 3, "not a URL: write ghcr.io"},
		{"mirror:\n  registries:\n    - ghcr\n", 3, "Docker Hub namespace"},
		{"mirror:\n  registries:\n    - registry: ghcr.io/x\n", 3, "without a path"},
		{"mirror:\n  registries:\n    - docker.io\n    - registry-1.docker.io\n", 4, "duplicate registry docker.io (first at line 3)"},
		{"mirror:\n  registries:\n    - registry: quay.io\n      password_file: a\n      password_env: B\n", 3, "not both"},
		{"mirror:\n  registries:\n    - registry: quay.io\n      publish: 70000\n", 3, "publish 70000"},
		{"mirror:\n  registries:\n    - registry: ''\n", 3, "has no registry"},
		{"mirror:\n  registries:\n    - [a, b]\n", 3, "each entry is a registry name or a mapping"},
		{"mirror:\n  registries: ghcr.io\n", 2, "cannot unmarshal"},
		{"mirror:\n  registries:\n    - registry: quay.io\n      publish: many\n", 4, "cannot unmarshal"},
	} {
		_, err := Parse("inv.yaml", []byte(tc.in))
		var ie *Error
		if !errors.As(err, &ie) || ie.File != "inv.yaml" || ie.Line != tc.line || !strings.Contains(ie.Msg, tc.want) {
			t.Errorf("%q: err = %v, want inv.yaml:%d: ...%s", tc.in, err, tc.line, tc.want)
		}
	}
}

func TestParseRegistryFlag(t *testing.T) {
	for in, want := range map[string]Registry{
		"ghcr.io":                     {Registry: "ghcr.io"},
		"index.docker.io":             {Registry: "docker.io"},
		"quay.io=https://q.example":   {Registry: "quay.io", RemoteURL: "https://q.example"},
		" localhost:5000 = http://x ": {Registry: "localhost:5000", RemoteURL: "http://x"},
	} {
		got, err := ParseRegistryFlag(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ghcr.io=", "https://ghcr.io", "ghcr.io\nx", "Quay.io"} {
		if r, err := ParseRegistryFlag(in); err == nil {
			t.Errorf("%q accepted: %+v", in, r)
		}
	}
}

// --registry replaces the list but keeps what the inventory says about the
// names it repeats (credentials only ever come from there).
func TestOverlayRegistries(t *testing.T) {
	inv := []Registry{
		{Registry: "docker.io", Username: "bot", PasswordEnv: "HUB", Line: 3},
		{Registry: "ghcr.io", URL: "https://g.example", Publish: 7000, Line: 6},
	}
	got, err := OverlayRegistries(inv, []Registry{{Registry: "quay.io"}, {Registry: "ghcr.io", RemoteURL: "https://gh.example"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Registry{
		{Registry: "quay.io"},
		{Registry: "ghcr.io", RemoteURL: "https://gh.example", URL: "https://g.example", Publish: 7000, Line: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := OverlayRegistries(inv, []Registry{{Registry: "ghcr.io"}, {Registry: "ghcr.io"}}); err == nil {
		t.Error("the same --registry twice accepted")
	}
}
