package warm

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParseImage(t *testing.T) {
	d := "sha256:" + strings.Repeat("0a", 32)
	for _, c := range []struct {
		in                             string
		registry, repo, tag, digest, c string
	}{
		{"busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36"},
		{"docker.io/library/busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
		{"index.docker.io/traefik/whoami:v1", "docker.io", "traefik/whoami", "v1", "", "docker.io/traefik/whoami:v1"},
		{"ghcr.io/lab/hello:1", "ghcr.io", "lab/hello", "1", "", "ghcr.io/lab/hello:1"},
		{"quay.io/x/y@" + d, "quay.io", "x/y", "", d, "quay.io/x/y@" + d},
		{"quay.io/x/y:2@" + d, "quay.io", "x/y", "2", d, "quay.io/x/y:2@" + d},
		{"registry.example.com:5000/team/app:3", "registry.example.com:5000", "team/app", "3", "", "registry.example.com:5000/team/app:3"},
	} {
		im, err := parseImage(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if im.registry != c.registry || im.repo != c.repo || im.tag != c.tag || im.digest != c.digest || im.canonical() != c.c {
			t.Errorf("%s: %+v canonical %s", c.in, im, im.canonical())
		}
	}
	for _, bad := range []string{"", "  ", "UPPER/case", "busybox@sha256:short", "a b"} {
		if _, err := parseImage(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":     "linux/amd64",
		"linux/x86_64":    "linux/amd64",
		"Linux/AMD64/v1":  "linux/amd64",
		"linux/aarch64":   "linux/arm64",
		"linux/arm64/v8":  "linux/arm64",
		"linux/arm":       "linux/arm/v7",
		"linux/armhf":     "linux/arm/v7",
		"linux/arm/6":     "linux/arm/v6",
		"linux/i686":      "linux/386",
		"linux/ppc64le":   "linux/ppc64le",
		"windows/amd64":   "windows/amd64",
		"linux/riscv64":   "linux/riscv64",
		"linux/arm64/v9":  "linux/arm64/v9",
		"linux/armv6l":    "linux/arm/v6",
		" linux/s390x\n":  "linux/s390x",
		"linux/amd64/v3 ": "linux/amd64/v3",
	} {
		p, err := ParsePlatform(in)
		if err != nil || p.String() != want {
			t.Errorf("%q: %v %v, want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "linux/amd64/", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, c := range [][3]string{{"linux", "x86_64", "linux/amd64"}, {"linux", "aarch64", "linux/arm64"}, {"linux", "armv7l", "linux/arm/v7"}} {
		p, err := PlatformFromDockerInfo(c[0], c[1])
		if err != nil || p.String() != c[2] {
			t.Errorf("%v: %v %v", c, p, err)
		}
	}
	if _, err := PlatformFromDockerInfo("linux", ""); err == nil {
		t.Error("empty architecture accepted")
	}
}

func TestSelectManifests(t *testing.T) {
	desc := func(hex, os, arch, variant string) v1.Descriptor {
		return v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: hex}, Platform: &v1.Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	idx := &v1.IndexManifest{Manifests: []v1.Descriptor{
		desc("a1", "linux", "amd64", ""),
		desc("a2", "linux", "arm64", "v8"),
		desc("a3", "linux", "arm", "v6"),
		desc("a4", "unknown", "unknown", ""),
		{Digest: v1.Hash{Algorithm: "sha256", Hex: "a5"}},
		desc("a6", "linux", "amd64", "v3"),
	}}
	p := func(s string) Platform { q, _ := ParsePlatform(s); return q }
	for _, c := range []struct {
		want    []Platform
		chosen  []string
		missing []string
	}{
		{[]Platform{p("linux/amd64")}, []string{"a1"}, nil},
		{[]Platform{p("linux/arm64")}, []string{"a2"}, nil},
		{[]Platform{p("linux/arm/v7")}, []string{"a3"}, nil}, // v7 runs v6
		{[]Platform{p("linux/arm/v5")}, nil, []string{"linux/arm/v5"}},
		{[]Platform{p("linux/amd64/v3")}, []string{"a6"}, nil},
		{[]Platform{p("linux/amd64"), p("linux/amd64"), p("linux/s390x")}, []string{"a1"}, []string{"linux/s390x"}},
		{[]Platform{p("unknown/unknown")}, nil, []string{"unknown/unknown"}},
	} {
		chosen, missing := selectManifests(idx, c.want)
		var ch, mi []string
		for _, d := range chosen {
			ch = append(ch, d.Digest.Hex)
		}
		for _, m := range missing {
			mi = append(mi, m.String())
		}
		if !slices.Equal(ch, c.chosen) || !slices.Equal(mi, c.missing) {
			t.Errorf("%v: chosen %v missing %v, want %v %v", c.want, ch, mi, c.chosen, c.missing)
		}
	}
	if got := strings.Join(indexPlatforms(idx), ","); got != "linux/amd64,linux/arm64,linux/arm/v6,linux/amd64/v3" {
		t.Errorf("index platforms %s", got)
	}
}

func TestManifestType(t *testing.T) {
	for _, c := range []struct{ ct, body, want string }{
		{"application/vnd.oci.image.index.v1+json", `{}`, "application/vnd.oci.image.index.v1+json"},
		{"application/vnd.docker.distribution.manifest.v2+json; charset=utf-8", `{}`, "application/vnd.docker.distribution.manifest.v2+json"},
		{"application/json", `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}`, "application/vnd.docker.distribution.manifest.list.v2+json"},
		{"application/json", `{"schemaVersion":2,"manifests":[]}`, "application/vnd.oci.image.index.v1+json"},
		{"application/json", `{"schemaVersion":2,"layers":[]}`, "application/vnd.oci.image.manifest.v1+json"},
		{"", `{"schemaVersion":1}`, "application/vnd.docker.distribution.manifest.v1+json"},
	} {
		if got := string(manifestType(c.ct, []byte(c.body))); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.ct, c.body, got, c.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for in, want := range map[string][3]int64{
		"bytes 0-99/100": {0, 100, 1},
		"bytes 5-9/10":   {5, 10, 1},
		"bytes */100":    {0, 0, 0},
		"":               {0, 0, 0},
		"bytes 0-99":     {0, 0, 0},
	} {
		s, tot, ok := parseContentRange(in)
		if (ok && (s != want[0] || tot != want[1])) || ok != (want[2] == 1) {
			t.Errorf("%q: %d %d %v", in, s, tot, ok)
		}
	}
}
