package warm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/swarmctl/swarmctl/internal/regmetrics"
)

// Mirror is the pull-through cache that serves one upstream registry.
type Mirror struct {
	// URL is the mirror's base URL, "https://mirror.example.com[:port]".
	URL string
	// Auth logs in to the mirror itself when it asks (a 401 on /v2/); nil
	// is anonymous. It is handed to go-containerregistry's transport and
	// never printed.
	Auth authn.Authenticator
	// Stats, if set, reads the mirror's own proxy counters (registry:3's
	// Prometheus metrics, reached however the caller reaches the debug
	// address). Warm reads them before and after each image to report
	// what the upstream served. Leave it nil when the counters cannot be
	// read; the bytes read through the mirror and the cache evidence are
	// reported all the same.
	Stats func(ctx context.Context) (regmetrics.Stats, error)
}

// Options says where and how to warm.
type Options struct {
	// Mirrors maps an upstream registry ("docker.io", "ghcr.io",
	// "registry.example.com:5000") to its mirror. Docker Hub's other host
	// names are folded into "docker.io".
	Mirrors map[string]Mirror
	// Platforms are those the fleet's nodes run; empty means linux/amd64.
	Platforms []Platform
	// Transport carries every request, mirror and metrics alike; the
	// caller builds it (NewTransport dials through an SSH connection).
	// nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Parallel bounds the blobs read at once per image; 0 means 4.
	Parallel int
	// Progress, if set, is told about each step; calls never overlap.
	Progress func(Event)
}

// Event is a progress report; it carries no credentials.
type Event struct {
	Image  string // as given
	Step   string // "resolve", "manifest", "blob", "done", "failed"
	Digest string // the manifest or blob, when there is one
	Bytes  int64  // bytes read for this step
	Cached bool   // for "blob": served from the mirror's storage
}

// PlatformManifest is the manifest warmed for one platform.
type PlatformManifest struct {
	Platform Platform `json:"platform"`
	Digest   string   `json:"digest"`
}

// Result is what warming one image did. Done is true only when every
// manifest and every blob of every selected platform was read completely
// through the mirror and matched its digest; otherwise Err says why and the
// counts say how far it got.
type Result struct {
	Image    string `json:"image"`    // as given
	Name     string `json:"name"`     // canonical: docker.io/library/busybox:latest
	Registry string `json:"registry"` // upstream registry key
	Mirror   string `json:"mirror"`   // mirror base URL (no credentials)

	Digest    string             `json:"digest,omitempty"`     // what the tag resolved to (index or manifest)
	MediaType string             `json:"media_type,omitempty"` // of Digest
	Manifests []PlatformManifest `json:"manifests,omitempty"`  // one per platform warmed
	Missing   []Platform         `json:"missing_platforms,omitempty"`

	Layers      int   `json:"layers"`       // distinct layer blobs
	Blobs       int   `json:"blobs"`        // distinct blobs: layers and configs
	BlobsCached int   `json:"blobs_cached"` // blobs the mirror served from its storage
	Bytes       int64 `json:"bytes"`        // bytes read through the mirror: manifests and blobs
	// FetchedBytes are the bytes of the blobs the mirror did not hold (it
	// answered 200, not 206: see the package doc), which it fetched from
	// the upstream to serve them. distribution 2.8 (registry:2) fetches
	// such a blob twice (once to store, once to stream), so the upstream
	// may serve up to twice this; UpstreamBytes, when known, is exact.
	FetchedBytes int64 `json:"fetched_bytes"`

	// From the mirror's counters (Mirror.Stats), nil when unknown. They
	// count everything the mirror did while this image was warmed, so a
	// node pulling at the same time is counted too.
	UpstreamBytes   *int64 `json:"upstream_bytes,omitempty"`   // pulled from the upstream
	UpstreamFetches *int64 `json:"upstream_fetches,omitempty"` // cache misses, blobs and manifests

	// AlreadyCached: every blob came from the mirror's storage and, when
	// the counters are known, the mirror fetched nothing upstream.
	AlreadyCached bool          `json:"already_cached"`
	Duration      time.Duration `json:"-"`
	DurationMS    int64         `json:"duration_ms"`
	Done          bool          `json:"done"`
	Notes         []string      `json:"notes,omitempty"` // e.g. why the counters are unknown
	Err           error         `json:"-"`
	Error         string        `json:"error,omitempty"`
}

// Warm reads each image through its registry's mirror once, one image after
// another (so the mirror's counters can be read per image) and the blobs of
// one image in parallel. The results follow refs' order, without repeats;
// the error joins every image's failure, each naming the image.
func Warm(ctx context.Context, refs []string, opts Options) ([]Result, error) {
	w, err := newWarmer(opts)
	if err != nil {
		return nil, err
	}
	var results []Result
	var errs []error
	seen := map[string]bool{}
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		r := w.one(ctx, ref)
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

type warmer struct {
	opts      Options
	mirrors   map[string]*url.URL
	platforms []Platform
	mu        sync.Mutex // serialises Progress
}

func newWarmer(opts Options) (*warmer, error) {
	w := &warmer{opts: opts, mirrors: map[string]*url.URL{}}
	if w.opts.Transport == nil {
		w.opts.Transport = http.DefaultTransport
	}
	if w.opts.Parallel <= 0 {
		w.opts.Parallel = 4
	}
	byKey := map[string]Mirror{}
	for reg, m := range opts.Mirrors {
		key := registryKey(reg)
		if _, dup := byKey[key]; dup {
			return nil, fmt.Errorf("two mirrors for registry %s", key)
		}
		u, err := parseMirrorURL(key, m.URL)
		if err != nil {
			return nil, err
		}
		byKey[key] = m
		w.mirrors[key] = u
	}
	w.opts.Mirrors = byKey
	for _, p := range opts.Platforms {
		p = p.normalize()
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: os and architecture are required", p)
		}
		if !slices.Contains(w.platforms, p) {
			w.platforms = append(w.platforms, p)
		}
	}
	if len(w.platforms) == 0 {
		w.platforms = []Platform{DefaultPlatform}
	}
	return w, nil
}

func (w *warmer) progress(e Event) {
	if w.opts.Progress == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts.Progress(e)
}

// one warms one image; its error names the image as given.
func (w *warmer) one(ctx context.Context, ref string) (r Result) {
	start := time.Now()
	r.Image = ref
	defer func() {
		r.Duration = time.Since(start)
		r.DurationMS = r.Duration.Milliseconds()
		if r.Err != nil {
			r.Done = false
			r.AlreadyCached = false
			r.Err = fmt.Errorf("image %s: %w", ref, r.Err)
			r.Error = r.Err.Error()
			w.progress(Event{Image: ref, Step: "failed"})
			return
		}
		r.Done = true
		w.progress(Event{Image: ref, Step: "done", Bytes: r.Bytes})
	}()

	im, err := parseImage(ref)
	if err != nil {
		r.Err = err
		return r
	}
	r.Name, r.Registry = im.canonical(), im.registry
	base, ok := w.mirrors[im.registry]
	if !ok {
		r.Err = fmt.Errorf("%w for registry %s (mirrors are set for: %s)", ErrNoMirror, im.registry, w.mirrorList())
		return r
	}
	m := w.opts.Mirrors[im.registry]
	r.Mirror = base.String()

	var before *regmetrics.Stats
	if m.Stats != nil {
		if s, err := m.Stats(ctx); err != nil {
			r.Notes = append(r.Notes, "upstream counts unknown: reading the mirror's counters: "+err.Error())
		} else {
			before = &s
		}
	}

	if r.Err = w.fetch(ctx, im, base, m.Auth, &r); r.Err != nil {
		return r
	}
	r.AlreadyCached = r.Blobs > 0 && r.BlobsCached == r.Blobs

	if before != nil {
		w.upstreamDelta(ctx, m, *before, &r)
	}
	return r
}

func (w *warmer) mirrorList() string {
	var keys []string
	for k := range w.mirrors {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "none"
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// upstreamDelta turns the mirror's counters before and after the image into
// the upstream numbers of r, and withdraws AlreadyCached if the mirror
// fetched anything upstream (a manifest, which the blob evidence cannot see).
func (w *warmer) upstreamDelta(ctx context.Context, m Mirror, before regmetrics.Stats, r *Result) {
	after, err := m.Stats(ctx)
	if err != nil {
		r.Notes = append(r.Notes, "upstream counts unknown: reading the mirror's counters: "+err.Error())
		return
	}
	d, err := after.Sub(before)
	if err != nil {
		r.Notes = append(r.Notes, "upstream counts unknown: "+err.Error())
		return
	}
	if !d.BlobKnown {
		r.Notes = append(r.Notes, "upstream counts unknown: "+regmetrics.BlobUnknownReason)
		return
	}
	bytes := int64(d.Blob.PulledBytes + d.Manifest.PulledBytes)
	fetches := int64(d.Blob.Misses + d.Manifest.Misses)
	r.UpstreamBytes, r.UpstreamFetches = &bytes, &fetches
	if fetches > 0 {
		r.AlreadyCached = false
	}
}

// fetch resolves the image, picks the platforms' manifests and reads every
// blob, filling r as it goes.
func (w *warmer) fetch(ctx context.Context, im image, base *url.URL, auth authn.Authenticator, r *Result) error {
	c, err := connect(ctx, base, w.opts.Transport, auth, im.repo)
	if err != nil {
		return err
	}
	ref := im.digest
	if ref == "" {
		ref = im.tag
	}
	w.progress(Event{Image: im.given, Step: "resolve"})
	body, mt, dgst, err := c.manifest(ctx, ref)
	if err != nil {
		return err
	}
	r.Digest, r.MediaType = dgst.String(), string(mt)
	r.Bytes += int64(len(body))
	w.progress(Event{Image: im.given, Step: "manifest", Digest: r.Digest, Bytes: int64(len(body))})

	type picked struct {
		digest   string
		platform *Platform // nil: read it from the config
		manifest *v1.Manifest
	}
	var images []picked
	switch {
	case mt.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%w: index %s: %v", ErrUnsupported, dgst, err)
		}
		chosen, missing := selectManifests(idx, w.platforms)
		r.Missing = missing
		if len(chosen) == 0 {
			return fmt.Errorf("%w: it has no manifest for %s (it has: %s)", ErrNoPlatform, platformList(w.platforms), strings.Join(indexPlatforms(idx), ", "))
		}
		for _, d := range chosen {
			if d.MediaType.IsIndex() {
				return fmt.Errorf("%w: index %s lists another index (%s)", ErrUnsupported, dgst, d.Digest)
			}
			mb, cmt, _, err := c.manifest(ctx, d.Digest.String())
			if err != nil {
				return err
			}
			r.Bytes += int64(len(mb))
			w.progress(Event{Image: im.given, Step: "manifest", Digest: d.Digest.String(), Bytes: int64(len(mb))})
			mf, err := parseImageManifest(cmt, mb, d.Digest.String())
			if err != nil {
				return err
			}
			p := descPlatform(d)
			images = append(images, picked{digest: d.Digest.String(), platform: &p, manifest: mf})
		}
	default:
		mf, err := parseImageManifest(mt, body, dgst.String())
		if err != nil {
			return err
		}
		images = append(images, picked{digest: dgst.String(), manifest: mf})
	}

	// Distinct blobs of every selected manifest, configs kept in memory
	// when a platform must be read from them.
	var blobs []v1.Descriptor
	keep := map[v1.Hash]bool{}
	layers := map[v1.Hash]bool{}
	seen := map[v1.Hash]bool{}
	add := func(d v1.Descriptor) {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			blobs = append(blobs, d)
		}
	}
	for _, p := range images {
		add(p.manifest.Config)
		if p.platform == nil && p.manifest.Config.Size <= maxConfig {
			keep[p.manifest.Config.Digest] = true
		}
		for _, l := range p.manifest.Layers {
			if nonDistributable(l) {
				continue
			}
			layers[l.Digest] = true
			add(l)
		}
	}
	r.Blobs, r.Layers = len(blobs), len(layers)
	fetched, err := w.readBlobs(ctx, im.given, c, blobs, keep)
	for _, f := range fetched {
		r.Bytes += f.bytes
	}
	if err != nil {
		return err
	}
	for _, f := range fetched {
		if f.fromCache {
			r.BlobsCached++
		} else {
			r.FetchedBytes += f.bytes
		}
	}

	for _, p := range images {
		plat := p.platform
		if plat == nil {
			data := fetched[p.manifest.Config.Digest].data
			if data == nil {
				return fmt.Errorf("%w: config %s is over %d bytes; its platform is not read", ErrUnsupported, p.manifest.Config.Digest, maxConfig)
			}
			cf, err := v1.ParseConfigFile(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("%w: config %s: %v", ErrUnsupported, p.manifest.Config.Digest, err)
			}
			pp := Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}.normalize()
			plat = &pp
			if !platformServes(pp, w.platforms) {
				r.Missing = w.platforms
			}
		}
		r.Manifests = append(r.Manifests, PlatformManifest{Platform: *plat, Digest: p.digest})
	}
	return nil
}

// platformServes: does an image of platform p run on one of the fleet's?
func platformServes(p Platform, fleet []Platform) bool {
	for _, f := range fleet {
		if slices.Contains(runsOn(f), p.normalize()) {
			return true
		}
	}
	return false
}

func platformList(ps []Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// parseImageManifest accepts the two image manifest kinds a node pulls.
func parseImageManifest(mt types.MediaType, body []byte, dgst string) (*v1.Manifest, error) {
	switch mt {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("%w: manifest %s is Docker schema 1, which current engines refuse to pull", ErrUnsupported, dgst)
	default:
		return nil, fmt.Errorf("%w: manifest %s has media type %q", ErrUnsupported, dgst, mt)
	}
	mf, err := v1.ParseManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: manifest %s: %v", ErrUnsupported, dgst, err)
	}
	return mf, nil
}

// nonDistributable layers (Windows base layers) are never served by a
// registry to a pull; a node fetches them from their URLs.
func nonDistributable(d v1.Descriptor) bool {
	switch d.MediaType {
	case types.DockerForeignLayer, types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer:
		return len(d.URLs) > 0
	}
	return false
}

// readBlobs reads blobs with at most Parallel at once. The first failure
// stops the rest; what was read before is returned with it.
func (w *warmer) readBlobs(ctx context.Context, img string, c *repoClient, blobs []v1.Descriptor, keep map[v1.Hash]bool) (map[v1.Hash]blobFetch, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		out      = map[v1.Hash]blobFetch{}
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, w.opts.Parallel)
	)
	for _, d := range blobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(d v1.Descriptor) {
			defer wg.Done()
			defer func() { <-sem }()
			f, err := c.blob(ctx, d, keep[d.Digest])
			mu.Lock()
			defer mu.Unlock()
			out[d.Digest] = f
			if err != nil {
				if firstErr == nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
					firstErr = err
				}
				cancel()
				return
			}
			w.progress(Event{Image: img, Step: "blob", Digest: d.Digest.String(), Bytes: f.bytes, Cached: f.fromCache})
		}(d)
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return out, firstErr
}
