package daemonjson

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateMirror(t *testing.T) {
	good := map[string]string{
		"https://m.example.com":           "https://m.example.com/",
		"https://m.example.com/":          "https://m.example.com/",
		"HTTPS://M.Example.com:443/":      "https://m.example.com/",
		"http://10.0.0.5:5000":            "http://10.0.0.5:5000/",
		"http://10.0.0.5:80/":             "http://10.0.0.5/",
		"https://m.example.com:8443":      "https://m.example.com:8443/",
		"http://[fd00::1]:5000":           "http://[fd00::1]:5000/",
		"https://[FD00::1]/":              "https://[fd00::1]/",
		"https://registry-1.docker.io":    "https://registry-1.docker.io/",
		"https://xn--mnchen-3ya.example/": "https://xn--mnchen-3ya.example/",
	}
	for in, want := range good {
		got, err := ValidateMirror(in)
		if err != nil || got != want {
			t.Errorf("ValidateMirror(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                 "empty",
		"m.example.com":                    "no scheme: write https://m.example.com",
		"ftp://m.example.com":              `scheme must be http or https, not "ftp"`,
		"https://":                         "no host",
		"https:///v2/":                     "no host",
		"https://m.example.com/v2/":        `must not have a path ("/v2/")`,
		"https://m.example.com/?a=b":       "must not have a query",
		"https://m.example.com/?":          "must not have a query",
		"https://m.example.com/#x":         "must not have a fragment",
		"https://bob:secret@m.example.com": "must not contain user:password",
		"https://m.example.com:0":          "port 0 out of range",
		"https://m.example.com:70000":      "port 70000 out of range",
		"https://m.example.com:":           "empty port",
		"https://m.example.com:x":          "not a valid URL",
		" https://m.example.com":           "contains whitespace or control characters",
		"https://m.exa mple.com":           "contains whitespace or control characters",
		"https://m.example.com\n":          "contains whitespace or control characters",
		"https://m.example.com\x00":        "contains whitespace or control characters",
	}
	for in, rule := range bad {
		_, err := ValidateMirror(in)
		var me *MirrorError
		if !errors.As(err, &me) || !strings.HasPrefix(me.Rule, rule) {
			t.Errorf("ValidateMirror(%q) err = %v, want rule %q", in, err, rule)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("password leaked: %v", err)
		}
		if in != "" && !strings.Contains(err.Error(), strings.Split(strings.TrimSpace(in), ":")[0]) {
			t.Errorf("error %q does not name the URL", err)
		}
	}
}

func TestNormalizeMirror(t *testing.T) {
	same := []string{"https://m.example.com", "https://m.example.com/", "HTTPS://M.example.com:443/", " https://m.example.com// "}
	for _, s := range same {
		if got := NormalizeMirror(s); got != "https://m.example.com/" {
			t.Errorf("NormalizeMirror(%q) = %q", s, got)
		}
	}
	differ := [][2]string{
		{"https://m.example.com", "http://m.example.com"},
		{"https://m.example.com", "https://m.example.com:8443"},
		{"http://m.example.com:443", "https://m.example.com"},
	}
	for _, d := range differ {
		if NormalizeMirror(d[0]) == NormalizeMirror(d[1]) {
			t.Errorf("%q and %q compare equal", d[0], d[1])
		}
	}
	if got := NormalizeMirror("not a url"); got != "not a url/" {
		t.Errorf("NormalizeMirror(junk) = %q", got)
	}
}

func TestMirrorHost(t *testing.T) {
	tests := map[string]string{
		"http://10.0.0.5:5000/":      "10.0.0.5:5000",
		"https://M.example.com":      "m.example.com",
		"https://m.example.com:443/": "m.example.com",
		"http://m.example.com:443/":  "m.example.com:443",
		"http://[fd00::1]:5000":      "[fd00::1]:5000",
		"http://[fd00::1]":           "[fd00::1]",
		"no-scheme":                  "",
	}
	for in, want := range tests {
		if got := MirrorHost(in); got != want {
			t.Errorf("MirrorHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// Quotes and shell metacharacters in the host are refused (url.Parse lets
// some through): a mirror host is a DNS name or an IP address.
func TestValidateMirrorRefusesOddHostCharacters(t *testing.T) {
	for _, raw := range []string{`https://m.example.test'"`, "https://m.example.test'", "https://a$b.example.test", "https://m;x.example.test", "https://m`x`.test", "https://m!.test"} {
		if got, err := ValidateMirror(raw); err == nil {
			t.Errorf("%q accepted as %q", raw, got)
		}
	}
	for _, raw := range []string{"https://m-1.example_x.test", "http://[fd00::1]:5000", "http://10.0.0.5:5000"} {
		if _, err := ValidateMirror(raw); err != nil {
			t.Errorf("%q refused: %v", raw, err)
		}
	}
}
