package warm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifest bounds a manifest read; distribution refuses manifests over
// 4 MiB itself.
const maxManifest = 4 << 20

// maxConfig bounds the image config kept in memory to read its platform.
const maxConfig = 8 << 20

// manifestAccept is every manifest kind a node's pull asks for.
var manifestAccept = strings.Join([]string{
	string(types.OCIImageIndex),
	string(types.DockerManifestList),
	string(types.OCIManifestSchema1),
	string(types.DockerManifestSchema2),
}, ", ")

// repoClient reads one repository through one mirror.
type repoClient struct {
	mirror string // base URL, for messages
	base   *url.URL
	repo   string
	hc     *http.Client
}

// connect asks the mirror for /v2/ over the given transport, with the URL's
// own scheme (go-containerregistry's name.Registry guesses http for private
// addresses; an https mirror on 10.0.0.5 must stay https). A 401 with a
// challenge sets up the registry token or basic auth through
// go-containerregistry's transport, scoped to pulling repo.
func connect(ctx context.Context, base *url.URL, rt http.RoundTripper, auth authn.Authenticator, repo string) (*repoClient, error) {
	c := &repoClient{mirror: base.String(), base: base, repo: repo, hc: &http.Client{Transport: rt}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/v2/", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			return nil, fmt.Errorf("%w: %s: its TLS certificate is not trusted here (a company CA must be given): %v", ErrUnreachable, c.mirror, cv.Err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, c.mirror, unwrapURLError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return c, nil
	case http.StatusUnauthorized:
		var opts []name.Option
		if base.Scheme == "http" {
			opts = append(opts, name.Insecure)
		}
		reg, err := name.NewRegistry(base.Host, opts...)
		if err != nil {
			return nil, fmt.Errorf("mirror %s: %w", c.mirror, err)
		}
		if auth == nil {
			auth = authn.Anonymous
		}
		scope := reg.Repo(repo).Scope(transport.PullScope)
		tr, err := transport.NewWithContext(ctx, reg, auth, rt, []string{scope})
		if err != nil {
			var te *transport.Error
			if errors.As(err, &te) {
				return nil, fmt.Errorf("%w: %s: logging in: %d %s", ErrRefused, c.mirror, te.StatusCode, http.StatusText(te.StatusCode))
			}
			return nil, fmt.Errorf("%w: %s: logging in: %v", ErrRefused, c.mirror, unwrapURLError(err))
		}
		c.hc = &http.Client{Transport: tr}
		return c, nil
	default:
		return nil, fmt.Errorf("%w: %s answered GET /v2/ with %d %s: not a registry API endpoint", ErrMirrorFailed, c.mirror, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
}

// unwrapURLError drops url.Error's "Get \"https://...\":" prefix, which
// repeats the URL the message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *repoClient) url(kind, ref string) string {
	return c.base.String() + "/v2/" + c.repo + "/" + kind + "/" + ref
}

// manifest fetches a manifest by tag or digest and checks it: by digest,
// the body must hash to it; by tag, to the Docker-Content-Digest the mirror
// sends, if any. It returns the body, its media type and its digest.
func (c *repoClient) manifest(ctx context.Context, ref string) ([]byte, types.MediaType, v1.Hash, error) {
	what := fmt.Sprintf("manifest %q", ref)
	if strings.Contains(ref, ":") {
		what = "manifest " + ref
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("manifests", ref), nil)
	if err != nil {
		return nil, "", v1.Hash{}, err
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, "", v1.Hash{}, c.transportErr(ctx, what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", v1.Hash{}, registryError(c.mirror, what, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return nil, "", v1.Hash{}, fmt.Errorf("%w: %s: reading %s: %v", ErrIncomplete, c.mirror, what, err)
	}
	if len(body) > maxManifest {
		return nil, "", v1.Hash{}, fmt.Errorf("%w: %s is over %d bytes", ErrUnsupported, what, maxManifest)
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return nil, "", v1.Hash{}, fmt.Errorf("%w: %s: got %d of %d bytes", ErrIncomplete, what, len(body), resp.ContentLength)
	}
	sum := sha256.Sum256(body)
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if want, err := v1.NewHash(ref); err == nil {
		if want != got {
			return nil, "", v1.Hash{}, fmt.Errorf("%w: %s: the body hashes to %s", ErrDigestMismatch, what, got)
		}
	} else if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		if sent, err := v1.NewHash(h); err == nil && sent.Algorithm == "sha256" && sent != got {
			return nil, "", v1.Hash{}, fmt.Errorf("%w: %s: the mirror says %s, the body hashes to %s", ErrDigestMismatch, what, sent, got)
		}
	}
	return body, manifestType(resp.Header.Get("Content-Type"), body), got, nil
}

// manifestType is the Content-Type when it names a manifest kind, else the
// body's own mediaType field (some registries send application/json).
func manifestType(contentType string, body []byte) types.MediaType {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		switch types.MediaType(mt) {
		case types.OCIImageIndex, types.DockerManifestList, types.OCIManifestSchema1,
			types.DockerManifestSchema2, types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
			return types.MediaType(mt)
		}
	}
	var probe struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Layers        json.RawMessage `json:"layers"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return types.MediaType(contentType)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.SchemaVersion == 1:
		return types.DockerManifestSchema1
	case probe.Manifests != nil:
		return types.OCIImageIndex
	case probe.Layers != nil:
		return types.OCIManifestSchema1
	}
	return types.MediaType(contentType)
}

// blobFetch is what reading one blob through the mirror found.
type blobFetch struct {
	bytes     int64 // bytes read, also when the read failed
	fromCache bool  // answered 206 to "Range: bytes=0-": served from the mirror's own storage
	data      []byte
}

// blob reads a whole blob through the mirror, hashing as it streams, and
// fails unless it is exactly d.Size bytes that hash to d.Digest. It asks for
// "Range: bytes=0-" (the whole blob): see the package doc for why the answer
// (206 or 200) tells whether the mirror had it. keep returns the content.
func (c *repoClient) blob(ctx context.Context, d v1.Descriptor, keep bool) (blobFetch, error) {
	var out blobFetch
	what := "blob " + d.Digest.String()
	if d.Digest.Algorithm != "sha256" {
		return out, fmt.Errorf("%w: %s: only sha256 digests are checked", ErrUnsupported, what)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("blobs", d.Digest.String()), nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Range", "bytes=0-")
	resp, err := c.hc.Do(req)
	if err != nil {
		return out, c.transportErr(ctx, what, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != 0 || total != d.Size {
			return out, fmt.Errorf("%w: %s: asked for the whole blob, got Content-Range %q", ErrMirrorFailed, what, resp.Header.Get("Content-Range"))
		}
		out.fromCache = true
	default:
		return out, registryError(c.mirror, what, resp)
	}
	h := sha256.New()
	var w io.Writer = h
	var buf bytes.Buffer
	if keep {
		w = io.MultiWriter(h, &buf)
	}
	// One byte past the size shows a blob that is too long.
	n, err := io.Copy(w, io.LimitReader(resp.Body, d.Size+1))
	out.bytes = n
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, fmt.Errorf("%w: %s: got %d of %d bytes: %v", ErrIncomplete, what, n, d.Size, err)
	}
	if n < d.Size {
		return out, fmt.Errorf("%w: %s: got %d of %d bytes", ErrIncomplete, what, n, d.Size)
	}
	if n > d.Size {
		return out, fmt.Errorf("%w: %s: longer than the %d bytes its manifest says", ErrDigestMismatch, what, d.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Digest.Hex {
		return out, fmt.Errorf("%w: %s: the content hashes to sha256:%s", ErrDigestMismatch, what, got)
	}
	if keep {
		out.data = buf.Bytes()
	}
	return out, nil
}

// parseContentRange reads "bytes START-END/TOTAL".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(first, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return start, total, true
}

// transportErr words a request that got no HTTP answer.
func (c *repoClient) transportErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %s: %s: %v", ErrUnreachable, c.mirror, what, unwrapURLError(err))
}
