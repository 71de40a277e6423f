package warm

import (
	"slices"
	"strings"
	"testing"
)

func TestParseStackFile(t *testing.T) {
	const file = `version: "3.8"
x-common: &common
  image: ghcr.io/lab/base:1
  deploy:
    replicas: 2
services:
  web:
    image: traefik/whoami:v1.10
  api:
    <<: *common
  worker:
    <<: [*common]
    image: "ghcr.io/lab/worker@sha256:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
  cache:
    image: 'redis:7'
  again:
    image: traefik/whoami:v1.10
`
	got, err := ParseStackFile("stack.yml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []StackImage{
		{"web", "traefik/whoami:v1.10", 8},
		{"api", "ghcr.io/lab/base:1", 3},
		{"worker", "ghcr.io/lab/worker@sha256:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", 13},
		{"cache", "redis:7", 15},
		{"again", "traefik/whoami:v1.10", 17},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	refs := StackImageRefs(got)
	if len(refs) != 4 || refs[0] != "traefik/whoami:v1.10" {
		t.Errorf("refs %v", refs)
	}
}

func TestParseStackFileErrors(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"services:\n  web:\n    image: [a\n", "compose.yml:2: did not find expected ','"},
		{"services:\n  web:\n  image: x\n    bad: indent\n", "compose.yml:4: mapping values are not allowed"},
		{"", "compose.yml: empty file"},
		{"- a\n- b\n", "compose.yml:1: want a mapping with services:, got a list"},
		{"version: '3'\n", "compose.yml: no services: section"},
		{"services: []\n", "compose.yml:1: services: want a mapping of service names, got a list"},
		{"services: {}\n", "compose.yml:1: services: none defined"},
		{"services:\n  web: nginx\n", `compose.yml:2: service "web": want a mapping, got "nginx"`},
		{"services:\n  web:\n    build: .\n", `compose.yml:2: service "web" has no image:`},
		{"services:\n  web:\n    image:\n", `compose.yml:3: service "web": image: want an image reference, got an empty value`},
		{"services:\n  web:\n    image: [a, b]\n", `compose.yml:3: service "web": image: want an image reference, got a list`},
		{"services:\n  web:\n    image: app:${TAG:-1}\n", `compose.yml:3: service "web": image "app:${TAG:-1}" uses variable substitution`},
		{"services:\n  ok:\n    image: a\n  web:\n    image: Bad/Name\n", `compose.yml:5: service "web": image "Bad/Name"`},
	} {
		_, err := ParseStackFile("compose.yml", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.body, err, c.want)
		}
	}
}

// FuzzParseStackFile: never panics; every image it returns is one Warm can
// parse, with a line inside the file.
func FuzzParseStackFile(f *testing.F) {
	f.Add("services:\n  web:\n    image: nginx:1\n")
	f.Add("x: &a\n  image: b\nservices:\n  s:\n    <<: *a\n")
	f.Add("services:\n  s:\n    image: *x\n")
	f.Add("services:\n  a: &a\n    image: c\n  b: *a\n")
	f.Fuzz(func(t *testing.T, body string) {
		imgs, err := ParseStackFile("f.yml", []byte(body))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yml:") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		lines := strings.Count(body, "\n") + 1
		for _, im := range imgs {
			if _, err := parseImage(im.Image); err != nil {
				t.Fatalf("returned an image Warm cannot parse: %q: %v", im.Image, err)
			}
			if im.Line < 1 || im.Line > lines {
				t.Fatalf("line %d outside the file's %d lines", im.Line, lines)
			}
		}
	})
}
