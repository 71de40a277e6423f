package regmetrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version says which registry served a /debug/vars page: the JSON looks the
// same, but registry 2.8's blob numbers mean something else (see the
// package doc).
type Version int

const (
	Registry2 Version = 2 // registry:2, distribution 2.8
	Registry3 Version = 3 // registry:3, distribution 3.x
)

// ErrNoProxyVars: the page is expvar JSON without registry.proxy, which the
// registry publishes only when it runs as a pull-through cache.
var ErrNoProxyVars = errors.New("no registry.proxy in /debug/vars: the registry is not running as a pull-through cache")

// expvarMetrics is distribution's proxy.Metrics as encoding/json writes it.
type expvarMetrics struct {
	Requests    *uint64
	Hits        *uint64
	Misses      *uint64
	BytesPulled *uint64
	BytesPushed *uint64
}

// ParseExpvar reads the JSON of a registry's debug address /debug/vars into
// its proxy counters, read as registry v says (registry:2 fixes and marks
// the blob numbers; see the package doc).
func ParseExpvar(r io.Reader, v Version) (Stats, error) {
	if v != Registry2 && v != Registry3 {
		return Stats{}, fmt.Errorf("debug vars: unknown registry version %d", v)
	}
	var page struct {
		Registry *struct {
			Proxy *struct {
				Blobs     *expvarMetrics `json:"blobs"`
				Manifests *expvarMetrics `json:"manifests"`
			} `json:"proxy"`
		} `json:"registry"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&page); err != nil {
		return Stats{}, fmt.Errorf("debug vars: %w", err)
	}
	if page.Registry == nil || page.Registry.Proxy == nil {
		return Stats{}, ErrNoProxyVars
	}
	p := page.Registry.Proxy
	if p.Blobs == nil || p.Manifests == nil {
		return Stats{}, fmt.Errorf("debug vars: registry.proxy lacks blobs or manifests")
	}
	blob, err := p.Blobs.counters("blobs")
	if err != nil {
		return Stats{}, err
	}
	man, err := p.Manifests.counters("manifests")
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Source: SourceExpvar, Blob: blob, Manifest: man, BlobKnown: true}
	if v == Registry2 {
		// 2.8 counts every manifest request as a hit too.
		if man.Misses > man.Requests {
			return Stats{}, fmt.Errorf("debug vars: manifests: %d misses for %d requests is not registry 2.8's counting", man.Misses, man.Requests)
		}
		s.Manifest.Hits = man.Requests - man.Misses
		s.Blob = Counters{Requests: blob.Requests, PushedBytes: blob.PushedBytes}
		s.BlobKnown = false
	}
	return s, nil
}

func (m *expvarMetrics) counters(kind string) (Counters, error) {
	fields := []struct {
		name string
		v    *uint64
	}{{"Requests", m.Requests}, {"Hits", m.Hits}, {"Misses", m.Misses}, {"BytesPulled", m.BytesPulled}, {"BytesPushed", m.BytesPushed}}
	for _, f := range fields {
		if f.v == nil {
			return Counters{}, fmt.Errorf("debug vars: registry.proxy.%s has no %s", kind, f.name)
		}
	}
	return Counters{Requests: *m.Requests, Hits: *m.Hits, Misses: *m.Misses, PulledBytes: *m.BytesPulled, PushedBytes: *m.BytesPushed}, nil
}
