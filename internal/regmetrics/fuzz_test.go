package regmetrics

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse: any page either fails or gives counters that keep Parse's
// own invariants; it never panics.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"registry3-metrics.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("registry_proxy_hits_total{type=\"blob\"} 1\n")
	f.Add("# TYPE registry_proxy_misses_total counter\nregistry_proxy_misses_total{type=\"manifest\"} 1e3\n")
	f.Fuzz(func(t *testing.T, page string) {
		s, err := Parse(strings.NewReader(page), "")
		if err != nil {
			return
		}
		if s.Source != SourcePrometheus || !s.BlobKnown {
			t.Fatalf("%+v", s)
		}
		if _, err := s.Sub(s); err != nil {
			t.Fatalf("s - s: %v", err)
		}
	})
}
