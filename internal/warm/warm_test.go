package warm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/swarmctl/swarmctl/internal/regmetrics"
)

var (
	amd64 = Platform{OS: "linux", Architecture: "amd64"}
	arm64 = Platform{OS: "linux", Architecture: "arm64"}
	armv7 = Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
)

// blobSizes is the total size of an image's config and layers.
func blobSizes(t *testing.T, img v1.Image) (total int64, count int) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	total, count = m.Config.Size, 1
	for _, l := range m.Layers {
		total += l.Size
		count++
	}
	return total, count
}

func mustWarm(t *testing.T, refs []string, opts Options) []Result {
	t.Helper()
	res, err := Warm(context.Background(), refs, opts)
	if err != nil {
		t.Fatalf("Warm: %v", err)
	}
	for _, r := range res {
		if !r.Done || r.Err != nil {
			t.Fatalf("%s not done: %v", r.Image, r.Err)
		}
	}
	return res
}

func TestWarmIndexPicksFleetPlatformsOnceThenFromCache(t *testing.T) {
	up := newUpstream(t)
	idx, imgs := multiIndex(t, amd64, arm64, armv7)
	idxDigest := up.push(t, "library/app:1", nil, idx)
	px := newPullThrough(t, up.srv.URL)

	armNode, err := PlatformFromDockerInfo("linux", "armv7l")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Mirrors:   map[string]Mirror{"docker.io": {URL: px.srv.URL}},
		Platforms: []Platform{amd64, armNode, amd64},
		Parallel:  2,
	}
	var events []Event
	opts.Progress = func(e Event) { events = append(events, e) }

	res := mustWarm(t, []string{"app:1"}, opts)
	r := res[0]
	wantBytes, wantBlobs := int64(0), 0
	for _, p := range []Platform{amd64, armv7} {
		b, n := blobSizes(t, imgs[p])
		wantBytes += b
		wantBlobs += n
	}
	if r.Name != "docker.io/library/app:1" || r.Digest != idxDigest || r.Registry != "docker.io" {
		t.Errorf("name %q digest %q registry %q; want docker.io/library/app:1 %s docker.io", r.Name, r.Digest, r.Registry, idxDigest)
	}
	var got []string
	for _, m := range r.Manifests {
		d, _ := imgs[m.Platform].Digest()
		if m.Digest != d.String() {
			t.Errorf("manifest for %s is %s, want %s", m.Platform, m.Digest, d)
		}
		got = append(got, m.Platform.String())
	}
	if !slices.Equal(got, []string{"linux/amd64", "linux/arm/v7"}) {
		t.Errorf("platforms %v, want linux/amd64 and linux/arm/v7 (not arm64, not the attestation)", got)
	}
	if r.Blobs != wantBlobs || r.Layers != wantBlobs-2 || r.BlobsCached != 0 || r.AlreadyCached {
		t.Errorf("blobs %d layers %d cached %d already %v; want %d, %d, 0, false", r.Blobs, r.Layers, r.BlobsCached, r.AlreadyCached, wantBlobs, wantBlobs-2)
	}
	if up.blobBytes.Load() != wantBytes {
		t.Errorf("upstream served %d blob bytes, want exactly the two platforms' %d", up.blobBytes.Load(), wantBytes)
	}
	if r.Bytes <= wantBytes {
		t.Errorf("bytes through the mirror %d, want the blobs' %d plus the manifests", r.Bytes, wantBytes)
	}
	if px.cachedBlobs() != wantBlobs || px.misses.Load() != int64(wantBlobs) {
		t.Errorf("mirror holds %d blobs after %d misses, want %d", px.cachedBlobs(), px.misses.Load(), wantBlobs)
	}
	if len(events) == 0 || events[len(events)-1].Step != "done" {
		t.Errorf("progress events %v, want the last to be done", events)
	}

	// Warm again: every blob now comes from the mirror's storage and the
	// upstream serves nothing more.
	r2 := mustWarm(t, []string{"app:1"}, opts)[0]
	if r2.BlobsCached != wantBlobs || !r2.AlreadyCached {
		t.Errorf("second warm: cached %d of %d, already %v; want all, true", r2.BlobsCached, r2.Blobs, r2.AlreadyCached)
	}
	if up.blobBytes.Load() != wantBytes {
		t.Errorf("second warm fetched %d more blob bytes upstream", up.blobBytes.Load()-wantBytes)
	}
	if r2.Bytes != r.Bytes {
		t.Errorf("second warm read %d bytes through the mirror, first %d: same content both times", r2.Bytes, r.Bytes)
	}
}

func TestWarmReportsPlatformsTheIndexLacks(t *testing.T) {
	up := newUpstream(t)
	idx, _ := multiIndex(t, amd64, arm64)
	up.push(t, "library/app:2", nil, idx)
	px := newPullThrough(t, up.srv.URL)
	s390x := Platform{OS: "linux", Architecture: "s390x"}
	opts := Options{Mirrors: map[string]Mirror{"docker.io": {URL: px.srv.URL}}, Platforms: []Platform{arm64, s390x}}

	r := mustWarm(t, []string{"app:2"}, opts)[0]
	if len(r.Manifests) != 1 || r.Manifests[0].Platform != arm64 || !slices.Equal(r.Missing, []Platform{s390x}) {
		t.Errorf("manifests %v missing %v; want arm64 warmed, s390x missing", r.Manifests, r.Missing)
	}

	opts.Platforms = []Platform{s390x}
	res, err := Warm(context.Background(), []string{"app:2"}, opts)
	if !errors.Is(err, ErrNoPlatform) || res[0].Done {
		t.Fatalf("err %v done %v; want ErrNoPlatform, not done", err, res[0].Done)
	}
	for _, want := range []string{"image app:2", "linux/s390x", "it has: linux/amd64, linux/arm64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestWarmSingleManifestReadsPlatformFromConfig(t *testing.T) {
	up := newUpstream(t)
	img := randomImage(t, 1000, 3, arm64)
	d := up.push(t, "lab/hello:1", img, nil)
	px := newPullThrough(t, up.srv.URL)
	opts := Options{Mirrors: map[string]Mirror{"ghcr.io": {URL: px.srv.URL}}}

	r := mustWarm(t, []string{"ghcr.io/lab/hello:1"}, opts)[0]
	if r.Digest != d || len(r.Manifests) != 1 || r.Manifests[0].Platform != arm64 || r.Manifests[0].Digest != d {
		t.Errorf("digest %s manifests %v; want %s for linux/arm64", r.Digest, r.Manifests, d)
	}
	// The fleet (default linux/amd64) cannot run it: said, not hidden.
	if !slices.Equal(r.Missing, []Platform{DefaultPlatform}) {
		t.Errorf("missing %v, want linux/amd64", r.Missing)
	}
	if r.Layers != 3 || r.Blobs != 4 {
		t.Errorf("layers %d blobs %d, want 3 and 4", r.Layers, r.Blobs)
	}
}

func TestWarmByDigest(t *testing.T) {
	up := newUpstream(t)
	img := randomImage(t, 500, 1, amd64)
	d := up.push(t, "x/y:1", img, nil)
	px := newPullThrough(t, up.srv.URL)
	opts := Options{Mirrors: map[string]Mirror{"quay.io": {URL: px.srv.URL + "/"}}}

	r := mustWarm(t, []string{"quay.io/x/y:1@" + d}, opts)[0]
	if r.Digest != d || r.Name != "quay.io/x/y:1@"+d {
		t.Errorf("digest %s name %s", r.Digest, r.Name)
	}

	other := "sha256:" + strings.Repeat("ab", 32)
	_, err := Warm(context.Background(), []string{"quay.io/x/y@" + other}, opts)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), other) {
		t.Errorf("unknown digest: %v; want ErrNotFound naming it", err)
	}
}

func TestWarmUnknownImageOrTagNamesIt(t *testing.T) {
	up := newUpstream(t)
	up.push(t, "library/app:1", randomImage(t, 100, 1, amd64), nil)
	px := newPullThrough(t, up.srv.URL)
	opts := Options{Mirrors: map[string]Mirror{"docker.io": {URL: px.srv.URL}}}

	res, err := Warm(context.Background(), []string{"app:nosuch", "nosuchimage", "app:1"}, opts)
	if err == nil {
		t.Fatal("no error for an unknown tag and image")
	}
	if !res[2].Done || res[0].Done || res[1].Done {
		t.Errorf("done: %v %v %v; want only app:1", res[0].Done, res[1].Done, res[2].Done)
	}
	for i, want := range []string{`image app:nosuch: not found`, `image nosuchimage: not found`} {
		if !errors.Is(res[i].Err, ErrNotFound) || !strings.Contains(res[i].Error, want) {
			t.Errorf("error %q, want ErrNotFound and %q", res[i].Error, want)
		}
	}
	if !strings.Contains(res[0].Error, `manifest "nosuch"`) || !strings.Contains(res[0].Error, "MANIFEST_UNKNOWN") {
		t.Errorf("error %q should name the tag and the registry's code", res[0].Error)
	}
	if !strings.Contains(err.Error(), "app:nosuch") || !strings.Contains(err.Error(), "nosuchimage") {
		t.Errorf("joined error %q should name both", err)
	}
}

func TestWarmUpstreamRefusalsInWords(t *testing.T) {
	cases := []struct {
		name   string
		fault  http.HandlerFunc
		want   []string
		target string // path suffix
	}{
		{"401", registryErr(401, "UNAUTHORIZED", "authentication required"),
			[]string{"refused", "401 Unauthorized", "UNAUTHORIZED: authentication required", "wants credentials"}, "/manifests/1"},
		{"403", registryErr(403, "DENIED", "requested access to the resource is denied"),
			[]string{"refused", "403 Forbidden", "DENIED"}, "/manifests/1"},
		{"429", registryErr(429, "TOOMANYREQUESTS", "You have reached your pull rate limit.", "Retry-After", "30"),
			[]string{"refused", "429 Too Many Requests", "TOOMANYREQUESTS: You have reached your pull rate limit.", "rate limit is used up; retry after 30"}, "/manifests/1"},
		{"429 on a blob", registryErr(429, "TOOMANYREQUESTS", "slow down"),
			[]string{"refused", "429", "for blob sha256:"}, "BLOB"},
		{"502", registryErr(502, "", "bad gateway"),
			[]string{"mirror failed", "502 Bad Gateway", "unreachable from the mirror"}, "/manifests/1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up := newUpstream(t)
			img := randomImage(t, 100, 1, amd64)
			up.push(t, "library/app:1", img, nil)
			target := c.target
			if target == "BLOB" {
				m, _ := img.Manifest()
				target = m.Layers[0].Digest.String()
			}
			up.fault(target, c.fault)
			px := newPullThrough(t, up.srv.URL)
			res, err := Warm(context.Background(), []string{"app:1"}, Options{Mirrors: map[string]Mirror{"docker.io": {URL: px.srv.URL}}})
			if err == nil || res[0].Done {
				t.Fatalf("err %v done %v", err, res[0].Done)
			}
			wantIs := ErrRefused
			if c.name == "502" {
				wantIs = ErrMirrorFailed
			}
			if !errors.Is(err, wantIs) {
				t.Errorf("error %v is not %v", err, wantIs)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestWarmShortOrWrongBlobIsNotDone(t *testing.T) {
	for _, c := range []struct {
		name  string
		serve func(w http.ResponseWriter, body []byte)
		is    error
	}{
		{"truncated", func(w http.ResponseWriter, body []byte) {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(200)
			w.Write(body[:len(body)/2]) //nolint:errcheck
		}, ErrIncomplete},
		{"corrupted", func(w http.ResponseWriter, body []byte) {
			bad := slices.Clone(body)
			bad[len(bad)/2] ^= 0xff
			w.Header().Set("Content-Length", fmt.Sprint(len(bad)))
			w.WriteHeader(200)
			w.Write(bad) //nolint:errcheck
		}, ErrDigestMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			up := newUpstream(t)
			img := randomImage(t, 4096, 2, amd64)
			up.push(t, "library/app:1", img, nil)
			layers, _ := img.Layers()
			d, _ := layers[1].Digest()
			rc, _ := layers[1].Compressed()
			body := readAll(t, rc)
			up.fault(d.String(), func(w http.ResponseWriter, r *http.Request) { c.serve(w, body) })
			px := newPullThrough(t, up.srv.URL)

			res, err := Warm(context.Background(), []string{"app:1"}, Options{Mirrors: map[string]Mirror{"docker.io": {URL: px.srv.URL}}})
			if !errors.Is(err, c.is) {
				t.Fatalf("error %v, want %v", err, c.is)
			}
			r := res[0]
			if r.Done || r.AlreadyCached || !strings.Contains(r.Error, d.String()) {
				t.Errorf("done %v already %v error %q; want not done, naming %s", r.Done, r.AlreadyCached, r.Error, d)
			}
		})
	}
}

func TestWarmMirrorUnreachableAndNoMirror(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	opts := Options{Mirrors: map[string]Mirror{"docker.io": {URL: dead}}}
	res, err := Warm(context.Background(), []string{"busybox", "ghcr.io/lab/hello:1"}, opts)
	if !errors.Is(res[0].Err, ErrUnreachable) || !strings.Contains(res[0].Error, dead) {
		t.Errorf("busybox: %v; want ErrUnreachable naming %s", res[0].Err, dead)
	}
	if !errors.Is(res[1].Err, ErrNoMirror) || !strings.Contains(res[1].Error, "registry ghcr.io (mirrors are set for: docker.io)") {
		t.Errorf("ghcr: %v; want ErrNoMirror naming ghcr.io", res[1].Err)
	}
	if err == nil {
		t.Error("no joined error")
	}
}

func TestWarmRejectsBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Mirrors: map[string]Mirror{"docker.io": {URL: "mirror.example.com"}}}, "scheme must be http or https"},
		{Options{Mirrors: map[string]Mirror{"docker.io": {URL: "https://u:s3cret@mirror.example.com"}}}, "credentials do not belong in the URL"},
		{Options{Mirrors: map[string]Mirror{"docker.io": {URL: "https://m.example.com/v2/"}}}, "a path is not supported"},
		{Options{Mirrors: map[string]Mirror{"docker.io": {URL: "https://a"}, "index.docker.io": {URL: "https://b"}}}, "two mirrors for registry docker.io"},
		{Options{Platforms: []Platform{{OS: "linux"}}}, "os and architecture are required"},
	} {
		_, err := Warm(context.Background(), []string{"busybox"}, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opts.Mirrors, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// The caller's transport carries every request: a dialer that alone knows
// the mirror's name (as a manager reached over SSH would) is enough.
func TestWarmThroughCustomDialer(t *testing.T) {
	up := newUpstream(t)
	up.push(t, "library/app:1", randomImage(t, 300, 2, amd64), nil)
	px := newPullThrough(t, up.srv.URL)
	target := strings.TrimPrefix(px.srv.URL, "http://")

	var mu sync.Mutex
	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		if addr != "mirror.swarm.invalid:5000" {
			return nil, fmt.Errorf("unexpected address %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
	opts := Options{
		Mirrors:   map[string]Mirror{"docker.io": {URL: "http://mirror.swarm.invalid:5000"}},
		Transport: NewTransport(dial, nil),
	}
	r := mustWarm(t, []string{"app:1"}, opts)[0]
	if r.Mirror != "http://mirror.swarm.invalid:5000" || r.Blobs != 3 {
		t.Errorf("mirror %s blobs %d", r.Mirror, r.Blobs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) == 0 {
		t.Fatal("the dialer was never used")
	}
	for _, a := range dialed {
		if a != "mirror.swarm.invalid:5000" {
			t.Errorf("dialed %s", a)
		}
	}
}

// A mirror that wants a login: the credentials go through
// go-containerregistry's transport and never into a message.
func TestWarmMirrorLogin(t *testing.T) {
	up := newUpstream(t)
	up.push(t, "library/app:1", randomImage(t, 300, 1, amd64), nil)
	px := newPullThrough(t, up.srv.URL)
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "warm" || p != "s3cret-pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="mirror"`)
			registryErr(401, "UNAUTHORIZED", "authentication required")(w, r)
			return
		}
		px.ServeHTTP(w, r)
	}))
	defer guarded.Close()

	good := Options{Mirrors: map[string]Mirror{"docker.io": {URL: guarded.URL, Auth: &authn.Basic{Username: "warm", Password: "s3cret-pw"}}}}
	mustWarm(t, []string{"app:1"}, good)

	bad := Options{Mirrors: map[string]Mirror{"docker.io": {URL: guarded.URL, Auth: &authn.Basic{Username: "warm", Password: "wrong-pw"}}}}
	res, err := Warm(context.Background(), []string{"app:1"}, bad)
	if !errors.Is(err, ErrRefused) || res[0].Done {
		t.Fatalf("wrong password: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows a password: %q", err)
	}
}

// With the mirror's counters, the result says what the upstream served,
// and a manifest fetched upstream withdraws "already cached" even when every
// blob came from the cache.
func TestWarmUpstreamNumbersFromCounters(t *testing.T) {
	up := newUpstream(t)
	img := randomImage(t, 2000, 2, amd64)
	up.push(t, "library/app:1", img, nil)
	px := newPullThrough(t, up.srv.URL)
	var manifestMisses uint64
	stats := func(context.Context) (regmetrics.Stats, error) {
		return regmetrics.Stats{
			Source:    regmetrics.SourcePrometheus,
			BlobKnown: true,
			Blob:      regmetrics.Counters{Misses: uint64(px.misses.Load()), PulledBytes: uint64(px.pulled.Load()), Hits: uint64(px.hits.Load())},
			Manifest:  regmetrics.Counters{Misses: manifestMisses},
		}, nil
	}
	opts := Options{Mirrors: map[string]Mirror{"docker.io": {URL: px.srv.URL, Stats: stats}}}
	want, n := blobSizes(t, img)

	r := mustWarm(t, []string{"app:1"}, opts)[0]
	if r.UpstreamBytes == nil || *r.UpstreamBytes != want || *r.UpstreamFetches != int64(n) {
		t.Fatalf("upstream %v/%v, want %d bytes in %d fetches", r.UpstreamBytes, r.UpstreamFetches, want, n)
	}

	r = mustWarm(t, []string{"app:1"}, opts)[0]
	if *r.UpstreamBytes != 0 || *r.UpstreamFetches != 0 || !r.AlreadyCached {
		t.Errorf("warm again: upstream %d/%d already %v; want 0, 0, true", *r.UpstreamBytes, *r.UpstreamFetches, r.AlreadyCached)
	}

	opts.Mirrors["docker.io"] = Mirror{URL: px.srv.URL, Stats: func(ctx context.Context) (regmetrics.Stats, error) {
		s, _ := stats(ctx)
		manifestMisses++ // as if the mirror fetched a manifest between two readings
		return s, nil
	}}
	r = mustWarm(t, []string{"app:1"}, opts)[0]
	if r.BlobsCached != r.Blobs || r.AlreadyCached || *r.UpstreamFetches != 1 {
		t.Errorf("manifest miss: cached %d/%d already %v fetches %d; want all blobs cached, already false, 1 fetch", r.BlobsCached, r.Blobs, r.AlreadyCached, *r.UpstreamFetches)
	}

	// registry:2's counters cannot say: the numbers stay unknown, with why.
	opts.Mirrors["docker.io"] = Mirror{URL: px.srv.URL, Stats: func(context.Context) (regmetrics.Stats, error) {
		return regmetrics.Stats{Source: regmetrics.SourceExpvar}, nil
	}}
	r = mustWarm(t, []string{"app:1"}, opts)[0]
	if r.UpstreamBytes != nil || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "registry:2 does not count blob cache misses") {
		t.Errorf("registry:2: upstream %v notes %q", r.UpstreamBytes, r.Notes)
	}
}

func TestWarmStopsOnCancel(t *testing.T) {
	up := newUpstream(t)
	up.push(t, "library/app:1", randomImage(t, 300, 3, amd64), nil)
	px := newPullThrough(t, up.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Warm(ctx, []string{"app:1"}, Options{Mirrors: map[string]Mirror{"docker.io": {URL: px.srv.URL}}})
	if !errors.Is(err, context.Canceled) || res[0].Done {
		t.Errorf("err %v done %v", err, res[0].Done)
	}
}

// An https mirror on a private or loopback address stays https (a name
// guess would say http), trusting the CA the caller gives.
func TestWarmHTTPSMirrorWithCompanyCA(t *testing.T) {
	up := newUpstream(t)
	up.push(t, "library/app:1", randomImage(t, 300, 1, amd64), nil)
	px := newPullThrough(t, up.srv.URL)
	srv := httptest.NewUnstartedServer(px)
	srv.Config.ErrorLog = discardLogger() // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	opts := Options{Mirrors: map[string]Mirror{"docker.io": {URL: srv.URL}}, Transport: NewTransport(nil, &tls.Config{RootCAs: pool})}
	r := mustWarm(t, []string{"app:1"}, opts)[0]
	if !strings.HasPrefix(r.Mirror, "https://127.0.0.1:") {
		t.Errorf("mirror %s", r.Mirror)
	}

	// Without the CA: refused by TLS, reported as the mirror unreachable.
	opts.Transport = NewTransport(nil, nil)
	_, err := Warm(context.Background(), []string{"app:1"}, opts)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "TLS certificate is not trusted here") {
		t.Errorf("untrusted: %v", err)
	}
}

func TestWarmBadReferenceNamedOnce(t *testing.T) {
	res, err := Warm(context.Background(), []string{"Bad/Name"}, Options{})
	if err == nil || res[0].Error != "image Bad/Name: not a valid image reference: could not parse reference: Bad/Name" {
		t.Errorf("%q", res[0].Error)
	}
}
