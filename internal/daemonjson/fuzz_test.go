package daemonjson

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzMerge: for any file and settings, Merge either refuses or returns
// valid JSON in which every other top-level key keeps its value and place,
// our settings hold, and a second merge is a no-op.
func FuzzMerge(f *testing.F) {
	for _, dir := range []string{"testdata/in", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, byte(0), "")
			f.Add(b, byte(0x1f), "http://10.0.0.5:5000")
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, mode byte, extra string) {
		s := Settings{Insecure: mode&4 != 0, Remove: mode&8 != 0}
		switch mode & 3 {
		case 1:
			s.Experimental = ptr(true)
		case 2:
			s.Experimental = ptr(false)
		}
		if mode&16 != 0 {
			s.Mirrors = append(s.Mirrors, "https://mirror.example.com")
		}
		if mode&32 != 0 {
			s.Mirrors = append(s.Mirrors, "HTTP://10.0.0.5:5000/")
		}
		if _, err := ValidateMirror(extra); err == nil {
			s.Mirrors = append(s.Mirrors, extra)
		}
		res, err := Merge(in, s)
		if err != nil {
			if res.Bytes != nil || res.Changed {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if !res.Changed {
			if !bytes.Equal(res.Bytes, in) || len(res.Changes) != 0 {
				t.Fatalf("unchanged but bytes or changes differ")
			}
			return
		}
		out := res.Bytes
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out of\n%q:\n%q", in, out)
		}
		var asMap map[string]any
		if err := json.Unmarshal(out, &asMap); err != nil {
			t.Fatalf("does not decode as an object: %v\n%q", err, out)
		}
		if a, b := others(bytes.TrimPrefix(in, bom)), others(out); !slices.Equal(a, b) {
			t.Fatalf("other keys changed:\n%q\n%q\nin  %q\nout %q", a, b, in, out)
		}
		ms, err := ReadMirrors(out)
		if err != nil {
			t.Fatalf("ReadMirrors of output: %v", err)
		}
		ours, _ := validMirrors(s.Mirrors)
		for i, o := range ours {
			if s.Remove {
				for _, m := range ms {
					if NormalizeMirror(m) == o {
						t.Fatalf("%s still there after remove: %q", o, out)
					}
				}
			} else if i >= len(ms) || NormalizeMirror(ms[i]) != o {
				t.Fatalf("mirror %d is not %s: %q", i, o, ms)
			}
		}
		if s.Experimental != nil {
			if v, present, err := ReadExperimental(out); err != nil || !present || v != *s.Experimental {
				t.Fatalf("experimental = %v %v %v", v, present, err)
			}
		}
		again, err := Merge(out, s)
		if err != nil || again.Changed || !bytes.Equal(again.Bytes, out) {
			t.Fatalf("second merge: err %v changed %v %v\nfirst  %q\nsecond %q", err, again.Changed, again.Changes, out, again.Bytes)
		}
	})
}

// others lists the top-level keys swarmctl does not own with their raw
// values, in file order.
func others(b []byte) []string {
	var out []string
	gjson.ParseBytes(b).ForEach(func(k, v gjson.Result) bool {
		switch k.String() {
		case keyExperimental, keyMirrors, keyInsecure:
		default:
			out = append(out, k.String(), v.Raw)
		}
		return true
	})
	return out
}
