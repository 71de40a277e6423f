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
		{"bad role", "nodes:\n  - host: a\n    role: boss\n", 3, "must be manager or worker"},
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

// One run reports every problem of the file, each at its line, nodes
// named by their name:, with the nearest key for a mistyped one.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	in := `defaults:
  usr: ops
mirorr:
  url: x
nodes:
  - host: 10.0.0.1
    name: m1
    role: manger
  - host: 10.0.0.2
    name: m2
    hots: x
    port: 70000
  - name: w1
  - host: 10.0.0.1
    name: m1
`
	_, err := Parse("inv.yaml", []byte(in))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v (%T), want Errors", err, err)
	}
	want := []string{
		`inv.yaml:2: defaults: unknown key "usr" (did you mean "user"?)`,
		`inv.yaml:3: unknown key "mirorr" (want defaults, mirror or nodes) (did you mean "mirror"?)`,
		`inv.yaml:11: node "m2": unknown key "hots" (did you mean "host"?)`,
	}
	if len(es) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, es[i], w)
		}
	}
	if !strings.HasPrefix(err.Error(), "inv.yaml: 3 problems:\n  inv.yaml:2: ") {
		t.Errorf("message:\n%s", err)
	}

	// Once the keys are right, the values are checked, all of them.
	in = strings.NewReplacer("usr:", "user:", "mirorr:", "mirror:", "    hots: x\n", "").Replace(in)
	_, err = Parse("inv.yaml", []byte(in))
	if !errors.As(err, &es) {
		t.Fatalf("err = %v (%T), want Errors", err, err)
	}
	want = []string{
		`inv.yaml:8: role "manger" of node "m1" must be manager or worker (did you mean "manager"?)`,
		`inv.yaml:11: port 70000 of node "m2" is not a TCP port (1-65535)`,
		`inv.yaml:12: node "w1" has no host`,
		`inv.yaml:13: duplicate host "10.0.0.1" (first at line 6)`,
		`inv.yaml:13: duplicate node name "m1" (first at line 6)`,
	}
	if len(es) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if es[i].Error() != w {
			t.Errorf("problem %d = %q, want %q", i, es[i], w)
		}
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
