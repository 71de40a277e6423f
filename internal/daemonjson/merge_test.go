package daemonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

func ptr(b bool) *bool { return &b }

// profiles are the settings every input of testdata/in is merged with.
var profiles = map[string]Settings{
	"add":      {Mirrors: []string{"https://mirror.example.com"}, Experimental: ptr(true)},
	"insecure": {Mirrors: []string{"http://10.0.0.5:5000", "https://mirror.example.com"}, Experimental: ptr(true), Insecure: true},
	"remove":   {Mirrors: []string{"https://mirror.example.com/"}, Insecure: true, Remove: true},
}

func inputs(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/in/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	in := map[string][]byte{"missing": nil}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return in
}

// TestGolden merges every input with every profile and compares with
// testdata/golden/<input>.<profile>.json (go test -update rewrites them).
// Each result must also be valid JSON and merge again to itself.
func TestGolden(t *testing.T) {
	for name, in := range inputs(t) {
		for pname, s := range profiles {
			t.Run(name+"."+pname, func(t *testing.T) {
				res, err := Merge(in, s)
				if err != nil {
					t.Fatalf("Merge: %v", err)
				}
				if res.Changed != !bytes.Equal(res.Bytes, in) {
					t.Errorf("Changed=%v but bytes equal=%v", res.Changed, bytes.Equal(res.Bytes, in))
				}
				if res.Changed != (len(res.Changes) > 0) {
					t.Errorf("Changed=%v with %d changes", res.Changed, len(res.Changes))
				}
				if res.Changed && !json.Valid(res.Bytes) {
					t.Errorf("output is not valid JSON:\n%s", res.Bytes)
				}
				again, err := Merge(res.Bytes, s)
				if err != nil || again.Changed || !bytes.Equal(again.Bytes, res.Bytes) {
					t.Errorf("second merge not a no-op: err=%v changed=%v changes=%v\n%s", err, again.Changed, again.Changes, again.Bytes)
				}
				golden := filepath.Join("testdata", "golden", name+"."+pname+".json")
				if *update {
					if err := os.WriteFile(golden, res.Bytes, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(res.Bytes, want) {
					t.Errorf("got:\n%s\nwant (%s):\n%s", res.Bytes, golden, want)
				}
			})
		}
	}
}

func TestBadFiles(t *testing.T) {
	tests := []struct {
		file string
		want string // the error's text
		key  string // SyntaxError.Key
	}{
		{"trailing-comma", "line 3, column 16: trailing comma before }", ""},
		{"line-comment", "line 2, column 3: comments are not allowed in JSON", ""},
		{"block-comment", "line 2, column 17: comments are not allowed in JSON", ""},
		{"truncated", "line 5, column 1: unexpected end of file: the JSON is incomplete (missing } or ]?)", ""},
		{"duplicate", `line 3, column 3: duplicate key "debug" (first at line 2)`, ""},
		{"array-top", "line 1, column 1: the top level must be an object ({ ... }), found an array", ""},
		{"mirrors-string", `line 2, column 23: "registry-mirrors" must be an array of strings, found a string`, "registry-mirrors"},
		{"mirrors-number", `line 2, column 49: "registry-mirrors" must be an array of strings, found a number`, "registry-mirrors"},
		{"insecure-object", `line 2, column 26: "insecure-registries" must be an array of strings, found an object`, "insecure-registries"},
		{"experimental-string", `line 2, column 19: "experimental" must be true or false, found a string`, "experimental"},
		{"missing-comma", `line 3, column 3: expected , or } after member, found '"' (missing comma?)`, ""},
		{"single-quotes", "line 2, column 3: keys need double quotes, not single quotes", ""},
		{"case-variant", `line 2, column 3: key "Registry-Mirrors": dockerd reads it as "registry-mirrors" too; keep a single "registry-mirrors"`, "registry-mirrors"},
		{"two-objects", `line 1, column 10: unexpected '{' after the end of the top-level object`, ""},
		{"utf16", "line 1, column 1: the file is UTF-16 encoded; save it as UTF-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "bad", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			for pname, s := range profiles {
				res, err := Merge(in, s)
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("%s: err = %v, want a *SyntaxError", pname, err)
				}
				if err.Error() != tt.want || se.Key != tt.key {
					t.Errorf("%s: err = %q (key %q), want %q (key %q)", pname, err, se.Key, tt.want, tt.key)
				}
				if res.Bytes != nil || res.Changed {
					t.Errorf("%s: error with a result: %+v", pname, res)
				}
			}
			if _, err := ReadMirrors(in); err == nil || err.Error() != tt.want {
				t.Errorf("ReadMirrors err = %v", err)
			}
			if _, _, err := ReadExperimental(in); err == nil || err.Error() != tt.want {
				t.Errorf("ReadExperimental err = %v", err)
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": [1, 2,]}`, "line 1, column 12: trailing comma before ]"},
		{`{"a": tru}`, "line 1, column 7: invalid value (expected true?)"},
		{`{"a": 01}`, `line 1, column 7: invalid number "01"`},
		{`{"a": 1.}`, `line 1, column 7: invalid number "1."`},
		{`{"a": -}`, `line 1, column 7: invalid number "-"`},
		{`{"a": "x` + "\n" + `"}`, `line 1, column 7: string not closed before the end of the line (missing "?)`},
		{"{\"a\": \"\t\"}", `line 1, column 8: control character in string (write it as an escape like \t)`},
		{`{"a": "\x"}`, `line 1, column 8: invalid escape \x in string`},
		{`{"a": "\u12"}`, `line 1, column 8: invalid \u escape (needs 4 hex digits)`},
		{"{\"a\": \"\xff\"}", `line 1, column 8: invalid UTF-8 (save the file as UTF-8)`},
		{`{"a" 1}`, `line 1, column 6: expected : after the key, found '1'`},
		{`{"a": {"b": 1, "b": 2}}`, `line 1, column 16: duplicate key "b"`},
		{`{"a": ,}`, `line 1, column 7: expected a value, found , (extra comma?)`},
		{`{,}`, `line 1, column 2: expected a key in double quotes, found ','`},
		{`{"a": 1,,}`, `line 1, column 9: expected a key in double quotes, found ','`},
		{`{"é": x}`, `line 1, column 7: expected a value, found 'x'`},
		{`"x"`, `line 1, column 1: the top level must be an object ({ ... }), found a string`},
		{`{"a": [`, `line 1, column 8: unexpected end of file: the JSON is incomplete (missing } or ]?)`},
		{`{"a": t`, `line 1, column 8: unexpected end of file: the JSON is incomplete (missing } or ]?)`},
		{`{"a": 1} x`, `line 1, column 10: unexpected 'x' after the end of the top-level object`},
		{`{"registry-mirrors": null}`, `line 1, column 22: "registry-mirrors" must be an array of strings, found null`},
		{`{"registry\u002dmirrors": [], "registry-mirrors": []}`, `line 1, column 31: duplicate key "registry-mirrors" (first at line 1)`},
		{strings.Repeat("[", 5), `line 1, column 6: unexpected end of file: the JSON is incomplete (missing } or ]?)`},
	}
	for _, tt := range tests {
		_, err := Merge([]byte(tt.in), profiles["add"])
		if err == nil || err.Error() != tt.want {
			t.Errorf("Merge(%q) err = %v\nwant %s", tt.in, err, tt.want)
		}
	}
}

// When no top-level member starts its own line, a registry-mirrors array
// that is written one element per line keeps that layout (it was rewritten
// onto one line).
func TestMultiLineArrayInOneLineObjectKeepsItsLayout(t *testing.T) {
	in := "{\"debug\": true, \"registry-mirrors\": [\n    \"https://a.example.com\"\n  ], \"log-driver\": \"journald\"}\n"
	want := "{\"debug\": true, \"registry-mirrors\": [\n    \"https://m.example.com/\",\n    \"https://a.example.com\"\n  ], \"log-driver\": \"journald\"}\n"
	res, err := Merge([]byte(in), Settings{Mirrors: []string{"https://m.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Bytes) != want {
		t.Errorf("got:\n%s\nwant:\n%s", res.Bytes, want)
	}
	// Removing keeps it too.
	res, err = Merge([]byte(want), Settings{Mirrors: []string{"https://m.example.com"}, Remove: true})
	if err != nil || string(res.Bytes) != in {
		t.Errorf("remove: %v\n%s", err, res.Bytes)
	}
}
