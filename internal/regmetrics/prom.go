package regmetrics

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// The registry:3 proxy metric families, by field.
const (
	MetricRequests    = "registry_proxy_requests_total"
	MetricHits        = "registry_proxy_hits_total"
	MetricMisses      = "registry_proxy_misses_total"
	MetricPulledBytes = "registry_proxy_pulled_bytes_total"
	MetricPushedBytes = "registry_proxy_pushed_bytes_total"
)

// ErrNoProxyMetrics: the page parsed but holds none of the registry_proxy_
// families.
var ErrNoProxyMetrics = errors.New("no registry_proxy_* metrics: not a registry:3 pull-through cache (registry:2 has none; use /debug/vars), or http.debug.prometheus is off")

// Parse reads a Prometheus metrics page from a registry:3 debug address
// (/metrics) into its proxy counters. contentType is the response's
// Content-Type ("" means the text format); the text format, OpenMetrics and
// delimited protobuf are understood. Series of one family are summed by
// their "type" label, so extra labels (added by a relabelling proxy) do not
// matter; types other than blob and manifest are ignored.
func Parse(r io.Reader, contentType string) (Stats, error) {
	format := expfmt.FmtText
	if contentType != "" {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		if f := expfmt.ResponseFormat(h); f.FormatType() != expfmt.TypeUnknown {
			format = f
		}
	}
	dec := expfmt.NewDecoder(r, format)
	s := Stats{Source: SourcePrometheus, BlobKnown: true}
	found := false
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Stats{}, fmt.Errorf("metrics: %w", err)
		}
		field := fieldOf(mf.GetName())
		if field == nil {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			v, ok := value(mf.GetType(), m)
			if !ok {
				return Stats{}, fmt.Errorf("metrics: %s is not a counter", mf.GetName())
			}
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v > math.MaxUint64/2 {
				return Stats{}, fmt.Errorf("metrics: %s = %v is not a count", mf.GetName(), v)
			}
			var c *Counters
			switch label(m, "type") {
			case "blob":
				c = &s.Blob
			case "manifest":
				c = &s.Manifest
			default:
				continue
			}
			*field(c) += uint64(math.Round(v))
		}
	}
	if !found {
		return Stats{}, ErrNoProxyMetrics
	}
	return s, nil
}

// fieldOf maps a family name to the Counters field it feeds; an
// OpenMetrics counter family may be named without its "_total".
func fieldOf(name string) func(*Counters) *uint64 {
	if !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	switch name {
	case MetricRequests:
		return func(c *Counters) *uint64 { return &c.Requests }
	case MetricHits:
		return func(c *Counters) *uint64 { return &c.Hits }
	case MetricMisses:
		return func(c *Counters) *uint64 { return &c.Misses }
	case MetricPulledBytes:
		return func(c *Counters) *uint64 { return &c.PulledBytes }
	case MetricPushedBytes:
		return func(c *Counters) *uint64 { return &c.PushedBytes }
	}
	return nil
}

// value is a counter's value; an untyped sample (a text page without TYPE
// lines) is taken as one too.
func value(t dto.MetricType, m *dto.Metric) (float64, bool) {
	switch {
	case t == dto.MetricType_COUNTER && m.GetCounter() != nil:
		return m.GetCounter().GetValue(), true
	case t == dto.MetricType_UNTYPED && m.GetUntyped() != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}
