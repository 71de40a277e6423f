package warm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// upstream is go-containerregistry's in-process registry with a byte count
// of the blobs it served and a hook to answer some paths itself (401, 429,
// a truncated or corrupted blob).
type upstream struct {
	srv       *httptest.Server
	blobBytes atomic.Int64
	mu        sync.Mutex
	faults    map[string]http.HandlerFunc // by path suffix
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{faults: map[string]http.HandlerFunc{}}
	reg := registry.New(registry.Logger(discardLogger()))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		var fault http.HandlerFunc
		for suffix, f := range u.faults {
			if strings.HasSuffix(r.URL.Path, suffix) {
				fault = f
			}
		}
		u.mu.Unlock()
		if fault != nil {
			fault(w, r)
			return
		}
		if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
			cw := &countingWriter{ResponseWriter: w}
			reg.ServeHTTP(cw, r)
			u.blobBytes.Add(cw.n)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) fault(suffix string, f http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.faults[suffix] = f
}

func (u *upstream) host() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// push writes an image or index to repo:tag on the upstream.
func (u *upstream) push(t *testing.T, repoTag string, img v1.Image, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(u.host()+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var d v1.Hash
	if idx != nil {
		err = remote.WriteIndex(ref, idx)
		d, _ = idx.Digest()
	} else {
		err = remote.Write(ref, img)
		d, _ = img.Digest()
	}
	if err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	return d.String()
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// randomImage is an image of `layers` random layers of `size` bytes for
// the platform p.
func randomImage(t *testing.T, size int64, layers int, p Platform) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// multiIndex is an OCI index of one image per platform, plus an attestation
// manifest as buildx writes it.
func multiIndex(t *testing.T, plats ...Platform) (v1.ImageIndex, map[Platform]v1.Image) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	imgs := map[Platform]v1.Image{}
	for _, p := range plats {
		img := randomImage(t, 2048, 2, p)
		imgs[p] = img
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		}})
	}
	att := randomImage(t, 100, 1, Platform{OS: "unknown", Architecture: "unknown"})
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
	}})
	return idx, imgs
}

// pullThrough is a small pull-through cache that behaves, for what this
// package relies on, like distribution's proxy (registry/proxy): tags are
// asked upstream every time, manifests and blobs are kept once fetched,
// a held blob is served with http.ServeContent (ranges honoured: 206), an
// uncached one is streamed from the upstream with 200 and stored only when
// whole and matching its digest. Upstream errors pass through.
type pullThrough struct {
	srv      *httptest.Server
	upstream string
	mu       sync.Mutex
	blobs    map[string][]byte // repo@digest
	mans     map[string]cachedManifest
	hits     atomic.Int64
	misses   atomic.Int64
	pulled   atomic.Int64 // blob bytes fetched upstream
	requests atomic.Int64
}

type cachedManifest struct {
	mediaType string
	body      []byte
}

func newPullThrough(t *testing.T, upstreamURL string) *pullThrough {
	t.Helper()
	p := &pullThrough{upstream: upstreamURL, blobs: map[string][]byte{}, mans: map[string]cachedManifest{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pullThrough) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	var repo, kind, ref string
	for _, k := range []string{"/manifests/", "/blobs/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			repo, kind, ref = rest[:i], strings.Trim(k, "/"), rest[i+len(k):]
		}
	}
	if kind == "" {
		http.NotFound(w, r)
		return
	}
	if kind == "manifests" {
		p.manifest(w, r, repo, ref)
		return
	}
	p.blob(w, r, repo, ref)
}

func (p *pullThrough) manifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	key := repo + "@" + ref
	p.mu.Lock()
	m, ok := p.mans[key]
	p.mu.Unlock()
	if !ok || !strings.HasPrefix(ref, "sha256:") {
		req, _ := http.NewRequest(http.MethodGet, p.upstream+"/v2/"+repo+"/manifests/"+ref, nil)
		req.Header.Set("Accept", r.Header.Get("Accept"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			passThrough(w, resp)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		m = cachedManifest{mediaType: resp.Header.Get("Content-Type"), body: body}
		sum := sha256.Sum256(body)
		d := "sha256:" + hex.EncodeToString(sum[:])
		p.mu.Lock()
		p.mans[repo+"@"+d] = m
		p.mu.Unlock()
	}
	sum := sha256.Sum256(m.body)
	w.Header().Set("Content-Type", m.mediaType)
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", fmt.Sprint(len(m.body)))
	if r.Method != http.MethodHead {
		w.Write(m.body) //nolint:errcheck
	}
}

func (p *pullThrough) blob(w http.ResponseWriter, r *http.Request, repo, dgst string) {
	key := repo + "@" + dgst
	p.mu.Lock()
	b, ok := p.blobs[key]
	p.mu.Unlock()
	if ok {
		p.hits.Add(1)
		w.Header().Set("Docker-Content-Digest", dgst)
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
		return
	}
	resp, err := http.Get(p.upstream + "/v2/" + repo + "/blobs/" + dgst)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		passThrough(w, resp)
		return
	}
	p.misses.Add(1)
	w.Header().Set("Docker-Content-Digest", dgst)
	w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(w, &buf), resp.Body)
	p.pulled.Add(n)
	sum := sha256.Sum256(buf.Bytes())
	if err == nil && "sha256:"+hex.EncodeToString(sum[:]) == dgst {
		p.mu.Lock()
		p.blobs[key] = buf.Bytes()
		p.mu.Unlock()
	}
}

func (p *pullThrough) cachedBlobs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.blobs)
}

func passThrough(w http.ResponseWriter, resp *http.Response) {
	for _, h := range []string{"Content-Type", "Retry-After", "Www-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body) //nolint:errcheck
}

// registryErr answers like a registry refusing: status and error JSON.
func registryErr(status int, code, msg string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
	}
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
