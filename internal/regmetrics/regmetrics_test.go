package regmetrics

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// registry3 served one image of 3 blobs and 2 manifests (index, image)
// cold, then again from its cache.
func checkRegistry3(t *testing.T, s Stats) {
	t.Helper()
	b, m := s.Blob, s.Manifest
	if !s.BlobKnown || b.Requests != 6 || b.Hits != 3 || b.Misses != 3 || m.Requests != 4 || m.Hits != 2 || m.Misses != 2 {
		t.Errorf("counts %+v", s)
	}
	// Every blob was sent to the client twice and pulled once.
	if b.PulledBytes == 0 || b.PushedBytes != 2*b.PulledBytes || m.PushedBytes != 2*m.PulledBytes {
		t.Errorf("bytes %+v", s)
	}
	if r, ok := b.HitRatio(); !ok || r != 0.5 {
		t.Errorf("blob hit ratio %v %v, want 0.5", r, ok)
	}
	if tot := s.Total(); tot.Misses != 5 || tot.PulledBytes != b.PulledBytes+m.PulledBytes {
		t.Errorf("total %+v", tot)
	}
}

func TestParseRegistry3Metrics(t *testing.T) {
	s, err := Parse(open(t, "registry3-metrics.txt"), "text/plain; version=0.0.4; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourcePrometheus {
		t.Errorf("source %q", s.Source)
	}
	checkRegistry3(t, s)

	// The same process's expvar page says the same.
	v, err := ParseExpvar(open(t, "registry3-debug-vars.json"), Registry3)
	if err != nil {
		t.Fatal(err)
	}
	checkRegistry3(t, v)
	v.Source = SourcePrometheus
	if v != s {
		t.Errorf("expvar %+v != prometheus %+v", v, s)
	}
}

func TestParseRegistry2DebugVars(t *testing.T) {
	s, err := ParseExpvar(open(t, "registry2-debug-vars.json"), Registry2)
	if err != nil {
		t.Fatal(err)
	}
	if s.BlobKnown || s.Source != SourceExpvar {
		t.Errorf("blob known %v source %q; registry:2 blob counts must be unknown", s.BlobKnown, s.Source)
	}
	// 3 hits + 2 x 3 misses, counted as requests only.
	if s.Blob.Requests != 9 || s.Blob.Hits != 0 || s.Blob.Misses != 0 || s.Blob.PulledBytes != 0 || s.Blob.PushedBytes == 0 {
		t.Errorf("blob %+v", s.Blob)
	}
	// 4 manifest requests, 2 fetched upstream: 2 hits, not the 4 it says.
	if m := s.Manifest; m.Requests != 4 || m.Hits != 2 || m.Misses != 2 || m.PulledBytes == 0 {
		t.Errorf("manifest %+v", m)
	}
	if tot := s.Total(); tot != s.Manifest {
		t.Errorf("total %+v should be manifests only", tot)
	}

	// Read as registry:3 it would be taken at its word.
	v3, err := ParseExpvar(open(t, "registry2-debug-vars.json"), Registry3)
	if err != nil || v3.Blob.Hits != 9 || !v3.BlobKnown {
		t.Errorf("as registry3: %+v %v", v3, err)
	}
}

func TestParseRegistry2MetricsHasNoProxyCounters(t *testing.T) {
	_, err := Parse(open(t, "registry2-metrics.txt"), "")
	if !errors.Is(err, ErrNoProxyMetrics) {
		t.Errorf("err %v, want ErrNoProxyMetrics", err)
	}
}

func TestParseVariants(t *testing.T) {
	const text = `# TYPE registry_proxy_misses_total counter
registry_proxy_misses_total{type="blob",instance="a"} 2
registry_proxy_misses_total{type="blob",instance="b"} 3
registry_proxy_misses_total{type="manifest"} 1
registry_proxy_misses_total{type="other"} 100
registry_proxy_pulled_bytes_total{type="blob"} 1.15e+08
`
	s, err := Parse(strings.NewReader(text), "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Blob.Misses != 5 || s.Manifest.Misses != 1 || s.Blob.PulledBytes != 115000000 {
		t.Errorf("%+v", s)
	}

	const om = `# TYPE registry_proxy_hits counter
registry_proxy_hits_total{type="blob"} 7
# EOF
`
	s, err = Parse(strings.NewReader(om), "application/openmetrics-text; version=1.0.0; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	if s.Blob.Hits != 7 {
		t.Errorf("openmetrics: %+v", s)
	}

	for _, bad := range []struct{ page, want string }{
		{"registry_proxy_hits_total{type=\"blob\"} -1\n", "is not a count"},
		{"# TYPE registry_proxy_hits_total gauge\nregistry_proxy_hits_total{type=\"blob\"} 1\n", "is not a counter"},
		{"registry_proxy_hits_total{type=\"blob\" 1\n", "metrics:"},
		{"go_goroutines 5\n", "no registry_proxy_"},
	} {
		if _, err := Parse(strings.NewReader(bad.page), ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want %q", bad.page, err, bad.want)
		}
	}
}

func TestParseExpvarErrors(t *testing.T) {
	for _, c := range []struct {
		page string
		is   error
		want string
	}{
		{`{"registry":{"cache":{}}}`, ErrNoProxyVars, "not running as a pull-through cache"},
		{`{"memstats":{}}`, ErrNoProxyVars, ""},
		{`{"registry":{"proxy":{"blobs":{"Requests":1}}}}`, nil, "lacks blobs or manifests"},
		{`{"registry":{"proxy":{"blobs":{"Requests":1,"Hits":1,"Misses":0,"BytesPulled":0},"manifests":{}}}}`, nil, "registry.proxy.blobs has no BytesPushed"},
		{`{"registry":{"proxy":{"blobs":{"Requests":-1}}}}`, nil, "debug vars:"},
		{`not json`, nil, "debug vars:"},
	} {
		_, err := ParseExpvar(strings.NewReader(c.page), Registry2)
		if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %v %q", c.page, err, c.is, c.want)
		}
	}
	if _, err := ParseExpvar(strings.NewReader(`{}`), 4); err == nil {
		t.Error("version 4 accepted")
	}
}

func TestSub(t *testing.T) {
	before := Stats{Source: SourcePrometheus, BlobKnown: true, Blob: Counters{Requests: 5, Misses: 2, PulledBytes: 100}}
	after := Stats{Source: SourcePrometheus, BlobKnown: true, Blob: Counters{Requests: 8, Hits: 1, Misses: 4, PulledBytes: 300}, Manifest: Counters{Misses: 1}}
	d, err := after.Sub(before)
	if err != nil {
		t.Fatal(err)
	}
	if d.Blob != (Counters{Requests: 3, Hits: 1, Misses: 2, PulledBytes: 200}) || d.Manifest.Misses != 1 || !d.BlobKnown {
		t.Errorf("delta %+v", d)
	}
	if _, err := before.Sub(after); !errors.Is(err, ErrCounterReset) {
		t.Errorf("reset: %v", err)
	}
	if _, err := after.Sub(Stats{Source: SourceExpvar}); err == nil {
		t.Error("two sources compared")
	}
	if _, ok := (Counters{}).HitRatio(); ok {
		t.Error("hit ratio of nothing")
	}
	sum := after.Add(before)
	if sum.Blob.Requests != 13 || sum.Source != SourcePrometheus {
		t.Errorf("add %+v", sum)
	}
}
