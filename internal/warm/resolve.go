package warm

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Ref is an image reference as a node resolves it: Docker Hub's host names
// folded into "docker.io", "library/" added, "latest" when no tag.
type Ref struct {
	Given    string `json:"image"`
	Registry string `json:"registry"`
	Repo     string `json:"repository"`
	Tag      string `json:"tag,omitempty"`
	Digest   string `json:"digest,omitempty"`
}

// Canonical is the full reference ("docker.io/library/busybox:latest").
func (r Ref) Canonical() string {
	return image{registry: r.Registry, repo: r.Repo, tag: r.Tag, digest: r.Digest}.canonical()
}

// Pinned is the reference by digest ("docker.io/library/busybox@sha256:...");
// "" when it has none.
func (r Ref) Pinned() string {
	if r.Digest == "" {
		return ""
	}
	return r.Registry + "/" + r.Repo + "@" + r.Digest
}

// ParseRef parses an image reference the way docker does (see parseImage).
func ParseRef(s string) (Ref, error) {
	im, err := parseImage(s)
	if err != nil {
		return Ref{}, fmt.Errorf("image %q: %w", s, err)
	}
	return Ref{Given: s, Registry: im.registry, Repo: im.repo, Tag: im.tag, Digest: im.digest}, nil
}

// RegistryKey is the key of a registry host in Options.Mirrors: Docker
// Hub's host names fold into "docker.io".
func RegistryKey(host string) string { return registryKey(host) }

// Resolve returns r pinned to the digest its tag names, asked of the
// registry at baseURL (a mirror, or the upstream itself: a 401 there sets
// up its token or basic auth, anonymous when auth is nil) over rt. A
// reference already pinned is returned as it is, nothing asked. The
// digest is of what the tag names: an index for a multi-platform image,
// which is what a node pulling it by digest asks for first.
func Resolve(ctx context.Context, r Ref, baseURL string, rt http.RoundTripper, auth authn.Authenticator) (Ref, error) {
	if r.Digest != "" {
		return r, nil
	}
	base, err := parseMirrorURL(r.Registry, baseURL)
	if err != nil {
		return r, err
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	c, err := connect(ctx, base, rt, auth, r.Repo)
	if err != nil {
		return r, err
	}
	_, _, dgst, err := c.manifest(ctx, r.Tag)
	if err != nil {
		return r, err
	}
	r.Digest = dgst.String()
	return r, nil
}
