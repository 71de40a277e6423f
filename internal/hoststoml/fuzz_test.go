package hoststoml

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// FuzzApplyRemove: for any file and desired mirrors, Apply either refuses
// or returns a file that parses without problems, lists swarmctl's mirrors
// in the desired order, keeps every whole-line comment and every section
// it does not own, and does not change on a second Apply; Remove after
// Apply gives a file that means the same as Remove of the original (for a
// file without swarmctl's tables: the original itself).
func FuzzApplyRemove(f *testing.F) {
	for _, dir := range []string{"testdata/in", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, byte(0x06), "")
			f.Add(b, byte(0x0b), "https://proxy.example.com/v2/ghcr")
		}
	}
	f.Add([]byte(nil), byte(0x07), "http://[::1]:5000")
	f.Fuzz(func(t *testing.T, in []byte, mode byte, extra string) {
		d := Desired{Registry: "ghcr.io", DaemonJSON: &DaemonJSON{}}
		if mode&1 != 0 {
			d.Registry = "docker.io"
		}
		if mode&2 != 0 {
			d.Mirrors = append(d.Mirrors, Mirror{URL: "https://ghcr.mirror.example.com"})
		}
		if mode&4 != 0 {
			d.Mirrors = append(d.Mirrors, Mirror{URL: "http://10.0.0.5:5001", CAPath: "/etc/docker/certs.d/10.0.0.5:5001/ca.crt"})
		}
		if _, err := cleanURL("mirror", extra, true); err == nil && len(extra) < 100 {
			d.Mirrors = append(d.Mirrors, Mirror{URL: extra, OverridePath: mode&16 != 0})
		}
		if mode&8 != 0 {
			slices.Reverse(d.Mirrors)
		}
		orig, perr := Parse(in)
		res, err := Apply(in, d)
		if perr != nil {
			if err == nil {
				t.Fatalf("Parse refused (%v) but Apply did not", perr)
			}
			return
		}
		if err != nil {
			return // a refusal: problems, a server conflict, a bad mirror
		}
		if res.Changed != (len(res.Changes) > 0) {
			t.Fatalf("Changed %v with changes %+v", res.Changed, res.Changes)
		}
		if res.Delete {
			return
		}
		if len(in) > 0 && !res.Changed && !bytes.Equal(res.Out, in) {
			t.Fatalf("unchanged but bytes differ:\n%q\n%q", in, res.Out)
		}
		out, err := Parse(res.Out)
		if err != nil || len(out.Problems) > 0 {
			t.Fatalf("output: %v %+v\nin  %q\nout %q", err, out, in, res.Out)
		}
		var owned []string
		for _, h := range out.Hosts {
			if h.Owned {
				owned = append(owned, h.Key)
			}
		}
		var want []string
		for _, m := range d.Mirrors {
			c, _ := cleanURL("mirror", m.URL, true)
			ep, _ := endpointOf(c, m.OverridePath)
			if !slices.ContainsFunc(orig.Hosts, func(h Host) bool { return !h.Owned && (h.Endpoint == ep || keyNorm(h.Key) == c) }) {
				want = append(want, c)
			}
		}
		if !slices.Equal(owned, want) {
			t.Fatalf("swarmctl's hosts %q, want %q\n%s", owned, want, res.Out)
		}
		if a, b := comments(orig), comments(out); !isSubMultiset(a, b) {
			t.Fatalf("comments lost:\nin  %q\nout %q", a, b)
		}
		if len(in) > 0 && !hasOwned(orig) {
			if a, b := foreignSections(orig), foreignSections(out); !slices.Equal(a, b) {
				t.Fatalf("sections not swarmctl's changed:\nin  %q\nout %q", a, b)
			}
		}
		again, err := Apply(res.Out, d)
		if err != nil || again.Changed || !bytes.Equal(again.Out, res.Out) {
			t.Fatalf("second Apply: %v %+v\nfirst  %q\nsecond %q", err, again.Changes, res.Out, again.Out)
		}

		r1, err1 := Remove(res.Out, nil)
		r0, err0 := Remove(in, nil)
		if err1 != nil || err0 != nil {
			t.Fatalf("Remove: after Apply %v, original %v", err1, err0)
		}
		if s1, s0 := meaning(t, r1), meaning(t, r0); !reflect.DeepEqual(s1, s0) {
			t.Fatalf("Remove(Apply(x)) means %v, Remove(x) means %v\nin  %q\nout %q\nr1 %q", s1, s0, in, res.Out, r1.Out)
		}
		if !hasOwned(orig) && !r1.Delete {
			if s1, s0 := meaning(t, r1), meaning(t, Result{Out: in}); !reflect.DeepEqual(s1, s0) {
				t.Fatalf("Remove(Apply(x)) means %v, x means %v", s1, s0)
			}
		}
	})
}

func hasOwned(f *File) bool {
	return slices.ContainsFunc(f.layout.sections, func(s section) bool { return s.marked })
}

// comments lists the whole-line comments other than swarmctl's markers.
func comments(f *File) []string {
	var cs []string
	for _, it := range f.layout.items {
		if it.kind == unstable.Comment && !strings.HasPrefix(it.text, MarkerTable) && !strings.HasPrefix(it.text, MarkerFile) {
			cs = append(cs, it.text)
		}
	}
	return cs
}

func isSubMultiset(a, b []string) bool {
	count := map[string]int{}
	for _, s := range b {
		count[s]++
	}
	for _, s := range a {
		if count[s]--; count[s] < 0 {
			return false
		}
	}
	return true
}

// foreignSections are the texts of the sections swarmctl does not own,
// trailing white space aside (a blank line may be added before its tables).
func foreignSections(f *File) []string {
	var out []string
	l := f.layout
	for _, s := range l.sections {
		if s.marked {
			continue
		}
		var sb strings.Builder
		for ln := s.start; ln < s.end; ln++ {
			sb.Write(l.line(ln))
		}
		if t := strings.TrimRight(sb.String(), " \t\r\n"); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// meaning is what dockerd reads from a result: the decoded keys and the
// order of the hosts.
func meaning(t *testing.T, r Result) []any {
	t.Helper()
	if r.Delete || len(r.Out) == 0 {
		return []any{map[string]any{}, []string(nil)}
	}
	var m map[string]any
	if err := toml.Unmarshal(r.Out, &m); err != nil {
		t.Fatalf("%v\n%q", err, r.Out)
	}
	if m == nil {
		m = map[string]any{}
	}
	f, err := Parse(r.Out)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, h := range f.Hosts {
		keys = append(keys, h.Key)
	}
	return []any{m, keys}
}
