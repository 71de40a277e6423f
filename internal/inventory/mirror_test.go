package inventory

import (
	"errors"
	"strings"
	"testing"
)

// publish: 0 means "not published" (like --publish 0); no key means the
// default, so the two must be told apart.
func TestMirrorPublishZeroDiffersFromAbsent(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte("mirror:\n  fqdn: m.example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Mirror.PublishSet || inv.Mirror.Publish != 0 {
		t.Errorf("no publish key: %+v", inv.Mirror)
	}
	inv, err = Parse("inv.yaml", []byte("mirror:\n  fqdn: m.example.com\n  publish: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Mirror.PublishSet || inv.Mirror.Publish != 0 {
		t.Errorf("publish: 0: %+v", inv.Mirror)
	}
	inv, err = Parse("inv.yaml", []byte("mirror:\n  publish: 5001\n  fqdn: m.example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !inv.Mirror.PublishSet || inv.Mirror.Publish != 5001 || inv.Mirror.FQDN != "m.example.com" {
		t.Errorf("publish: 5001: %+v", inv.Mirror)
	}
}

func TestMirrorPublishErrorsHaveFileLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		line int
		want string
	}{
		{"mirror:\n  fqdn: m\n  publish: -1\n", 3, "mirror.publish -1: want a port 1-65535, or 0 to not publish"},
		{"mirror:\n  publish: 70000\n", 2, "mirror.publish 70000"},
		{"mirror:\n  fqdn: m\n  publish: web\n", 3, "cannot unmarshal"},
		{"mirror:\n  fqdn: m\n  publsh: 1\n", 3, `unknown key "publsh"`},
		{"mirror:\n  delete_enabled: maybe\n", 2, "cannot unmarshal"},
	} {
		_, err := Parse("inv.yaml", []byte(tc.in))
		var ie *Error
		if !errors.As(err, &ie) || ie.File != "inv.yaml" || ie.Line != tc.line || !strings.Contains(ie.Msg, tc.want) {
			t.Errorf("%q: err = %v, want inv.yaml:%d: ...%s", tc.in, err, tc.line, tc.want)
		}
	}
}

func TestMirrorDeleteEnabled(t *testing.T) {
	inv, err := Parse("inv.yaml", []byte("mirror:\n  delete_enabled: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := inv.Mirror.DeleteEnabled; d == nil || *d {
		t.Errorf("delete_enabled: false -> %v", d)
	}
	inv, err = Parse("inv.yaml", []byte("mirror:\n  fqdn: m\n"))
	if err != nil || inv.Mirror.DeleteEnabled != nil {
		t.Errorf("absent delete_enabled: %v %v", inv.Mirror.DeleteEnabled, err)
	}
}
