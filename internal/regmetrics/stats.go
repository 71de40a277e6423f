package regmetrics

import (
	"errors"
	"fmt"
)

// Counters are one kind's (blob or manifest) proxy counters.
type Counters struct {
	Requests    uint64 `json:"requests"`     // answered to clients
	Hits        uint64 `json:"hits"`         // served from the cache
	Misses      uint64 `json:"misses"`       // fetched from the upstream
	PulledBytes uint64 `json:"pulled_bytes"` // bytes fetched from the upstream
	PushedBytes uint64 `json:"pushed_bytes"` // bytes sent to clients
}

// HitRatio is Hits/Requests; ok is false when there were no requests.
func (c Counters) HitRatio() (ratio float64, ok bool) {
	if c.Requests == 0 {
		return 0, false
	}
	return float64(c.Hits) / float64(c.Requests), true
}

// Add sums two counters (two replicas, or blobs and manifests).
func (c Counters) Add(o Counters) Counters {
	return Counters{
		Requests:    c.Requests + o.Requests,
		Hits:        c.Hits + o.Hits,
		Misses:      c.Misses + o.Misses,
		PulledBytes: c.PulledBytes + o.PulledBytes,
		PushedBytes: c.PushedBytes + o.PushedBytes,
	}
}

// ErrCounterReset is returned by Sub when a counter went down: the registry
// restarted (or another replica answered) between the two readings.
var ErrCounterReset = errors.New("the registry's counters went down between two readings (restarted, or another replica answered)")

// Sub is c minus an earlier reading of the same registry.
func (c Counters) Sub(before Counters) (Counters, error) {
	a := []uint64{c.Requests, c.Hits, c.Misses, c.PulledBytes, c.PushedBytes}
	b := []uint64{before.Requests, before.Hits, before.Misses, before.PulledBytes, before.PushedBytes}
	for i := range a {
		if a[i] < b[i] {
			return Counters{}, ErrCounterReset
		}
		a[i] -= b[i]
	}
	return Counters{Requests: a[0], Hits: a[1], Misses: a[2], PulledBytes: a[3], PushedBytes: a[4]}, nil
}

// Source says where Stats came from.
type Source string

const (
	SourcePrometheus Source = "prometheus" // registry:3 /metrics
	SourceExpvar     Source = "expvar"     // /debug/vars
)

// Stats is one registry instance's proxy counters.
type Stats struct {
	Source   Source   `json:"source"`
	Blob     Counters `json:"blob"`
	Manifest Counters `json:"manifest"`
	// BlobKnown is false when the registry does not really count blob
	// hits, misses and upstream bytes (registry 2.8's expvar): then Blob
	// holds only what it does count (Requests, PushedBytes, both inflated
	// by upstream fetches) and must not be shown as hits and misses.
	BlobKnown bool `json:"blob_known"`
}

// BlobUnknownReason is the words to show when BlobKnown is false.
const BlobUnknownReason = "registry:2 does not count blob cache misses or bytes pulled from the upstream (only registry:3 does)"

// Total is blobs and manifests together; with BlobKnown false it is
// manifests only.
func (s Stats) Total() Counters {
	if !s.BlobKnown {
		return s.Manifest
	}
	return s.Blob.Add(s.Manifest)
}

// Add sums two instances' Stats (replicas of one mirror).
func (s Stats) Add(o Stats) Stats {
	out := Stats{Source: s.Source, Blob: s.Blob.Add(o.Blob), Manifest: s.Manifest.Add(o.Manifest), BlobKnown: s.BlobKnown && o.BlobKnown}
	if o.Source != s.Source {
		out.Source = ""
	}
	return out
}

// Sub is what the registry counted between an earlier reading and s.
func (s Stats) Sub(before Stats) (Stats, error) {
	if s.Source != before.Source {
		return Stats{}, fmt.Errorf("readings from two sources (%s, %s) cannot be compared", before.Source, s.Source)
	}
	b, err := s.Blob.Sub(before.Blob)
	if err != nil {
		return Stats{}, err
	}
	m, err := s.Manifest.Sub(before.Manifest)
	if err != nil {
		return Stats{}, err
	}
	return Stats{Source: s.Source, Blob: b, Manifest: m, BlobKnown: s.BlobKnown && before.BlobKnown}, nil
}
