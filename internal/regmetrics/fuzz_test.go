package regmetrics

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// FuzzParseProxyMetrics: any page either fails or gives counters that keep
// Parse's own invariants; it never panics. The seed is the proxy part of the
// real registry:3 page (the whole page makes each run slow).
func FuzzParseProxyMetrics(f *testing.F) {
	file, err := os.Open("testdata/registry3-metrics.txt")
	if err != nil {
		f.Fatal(err)
	}
	var seed strings.Builder
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "registry_proxy_") {
			seed.WriteString(sc.Text() + "\n")
		}
	}
	file.Close()
	f.Add(seed.String())
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
