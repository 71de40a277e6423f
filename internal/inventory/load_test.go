package inventory

import (
	"errors"
	"strings"
	"testing"
)

const good = `defaults:
  user: ops
  port: 2222
  sudo: true
  known_hosts: ./known_hosts
mirror:
  url: https://mirror.example.com
  remote_url: https://registry-1.docker.io
  constraints: [node.role==manager]
nodes:
  - host: 10.0.0.1
    name: m1
    role: manager
  - host: node2.example.com
    user: root
    port: 22
`

func TestParseGood(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Defaults.User != "ops" || inv.Defaults.Port != 2222 || inv.Defaults.Sudo == nil || !*inv.Defaults.Sudo {
		t.Errorf("defaults = %+v", inv.Defaults)
	}
	if inv.Mirror.URL != "https://mirror.example.com" || len(inv.Mirror.Constraints) != 1 {
		t.Errorf("mirror = %+v", inv.Mirror)
	}
	if len(inv.Nodes) != 2 || inv.Nodes[0].Name != "m1" || inv.Nodes[0].Line != 11 || inv.Nodes[1].DisplayName() != "node2.example.com" {
		t.Errorf("nodes = %+v", inv.Nodes)
	}
}

func TestParseEmpty(t *testing.T) {
	inv, err := Parse("e.yaml", nil)
	if err != nil || len(inv.Nodes) != 0 {
		t.Fatalf("inv=%v err=%v", inv, err)
	}
}

func TestParseErrorsHaveFileLine(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		want     string
	}{
		{"unknown top key", "defaults: {}\nnodez: []\n", 2, `unknown key "nodez"`},
		{"unknown node key", "nodes:\n  - host: a\n    hots: b\n", 3, `unknown key "hots"`},
		{"unknown default key", "defaults:\n  usr: x\n", 2, `unknown key "usr"`},
		{"bad port", "nodes:\n  - host: a\n  - host: b\n    name: x\n    port: 70000\n", 5, "not a TCP port"},
		{"bad defaults port", "mirror: {}\ndefaults:\n  user: ops\n  port: -1\n", 4, "defaults.port -1 is not a TCP port"},
		{"port not int", "nodes:\n  - host: a\n    port: ssh\n", 3, "cannot unmarshal"},
		{"duplicate host", "nodes:\n  - host: a\n  - host: b\n  - host: a\n", 4, `duplicate host "a" (first at line 2)`},
		{"duplicate host, default port written", "nodes:\n  - host: a\n  - host: b\n  - host: a\n    port: 22\n", 4, `duplicate host "a" (first at line 2)`},
		{"duplicate host, defaults port written", "defaults: {port: 2222}\nnodes:\n  - host: a\n    port: 2222\n  - host: a\n", 5, `duplicate host "a" (first at line 3)`},
		{"duplicate name", "nodes:\n  - host: a\n    name: x\n  - host: b\n    name: x\n", 4, `duplicate node name "x"`},
		{"bad role", "nodes:\n  - host: a\n    role: boss\n", 2, "must be manager or worker"},
		{"hostile host", "nodes:\n  - host: \"a;rm -rf /\"\n", 2, "not allowed"},
		{"syntax", "nodes:\n  - host: a\n   bad\n", -1, ""},
		{"not mapping", "- a\n- b\n", 1, "must be a mapping"},
		{"nodes not list", "nodes: {a: 1}\n", 1, "nodes must be a list"},
		{"missing host", "nodes:\n  - name: x\n", 2, "no host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("inv.yaml", []byte(c.in))
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if ie.File != "inv.yaml" || (c.line >= 0 && ie.Line != c.line) || ie.Line == 0 {
				t.Errorf("at %s:%d, want line %d (%v)", ie.File, ie.Line, c.line, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %q lacks %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "inv.yaml:") {
				t.Errorf("err %q does not start with file name", err)
			}
		})
	}
}

// The same host on another effective port is another node (e.g. machines
// behind one NAT address).
func TestParseSameHostOtherPort(t *testing.T) {
	for _, in := range []string{
		"nodes:\n  - host: a\n  - host: a\n    name: a2222\n    port: 2222\n",
		"defaults: {port: 2222}\nnodes:\n  - host: a\n  - host: a\n    name: a22\n    port: 22\n",
	} {
		if _, err := Parse("inv.yaml", []byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("nodes:\n  - host: a\n"))
	f.Add([]byte("defaults: {port: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse("f.yaml", data)
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			return
		}
		for _, n := range inv.Nodes {
			if ValidateHost(n.Host) != nil || n.Port < 0 || n.Port > 65535 {
				t.Fatalf("invalid node accepted: %+v", n)
			}
		}
	})
}

// A top-level key given twice is an error with file:line (the second
// "nodes:" used to replace the first silently); so is one inside a section.
func TestDuplicateKeysRefused(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"nodes:\n  - {host: a}\nmirror:\n  url: https://m.example.com\nnodes:\n  - {host: b}\n", `inv.yaml:5: duplicate key "nodes" (first at line 1)`},
		{"mirror:\n  url: https://a.example.com\nmirror:\n  url: https://b.example.com\n", `inv.yaml:3: duplicate key "mirror" (first at line 1)`},
		{"mirror:\n  url: https://a.example.com\n  url: https://b.example.com\n", `inv.yaml:3:`},
	} {
		_, err := Parse("inv.yaml", []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
}

// host: "[::1]" is the address ::1 (it was dialled as [[::1]]:22), and the
// same machine as host: ::1.
func TestBracketedIPv6Host(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte("nodes:\n  - {host: \"[::1]\"}\n  - {host: \"[fe80::1]\", port: 2222}\n"))
	if err != nil || inv.Nodes[0].Host != "::1" || inv.Nodes[1].Host != "fe80::1" {
		t.Fatalf("%+v %v", inv, err)
	}
	if _, err := Parse("inv.yaml", []byte("nodes:\n  - {host: \"[::1]\"}\n  - {host: \"::1\"}\n")); err == nil || !strings.Contains(err.Error(), "duplicate host") {
		t.Errorf("[::1] and ::1: %v", err)
	}
}
