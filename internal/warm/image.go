package warm

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// DockerHub is the registry key for Docker Hub in Options.Mirrors.
// "index.docker.io" and "registry-1.docker.io" are accepted as the same key.
const DockerHub = "docker.io"

// registryKey folds Docker Hub's three host names into DockerHub and
// lower-cases the rest, so a mirror keyed "docker.io" serves "busybox".
func registryKey(host string) string {
	h := strings.ToLower(host)
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return DockerHub
	}
	return h
}

// image is one reference to warm, parsed once.
type image struct {
	given    string // as the caller wrote it, for messages
	registry string // registryKey of the reference's registry
	repo     string // repository path on the registry and on its mirror ("library/busybox")
	tag      string // "" when pinned by digest only
	digest   string // "" when given by tag only
}

// canonical is the full reference ("docker.io/library/busybox:latest").
func (im image) canonical() string {
	s := im.registry + "/" + im.repo
	if im.tag != "" {
		s += ":" + im.tag
	}
	if im.digest != "" {
		s += "@" + im.digest
	}
	return s
}

// parseImage parses a reference the way docker does: no registry means
// Docker Hub, a single path component there gains "library/", no tag means
// "latest". A reference with both a tag and a digest is pulled by digest.
func parseImage(s string) (image, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return image{}, errors.New("empty image reference")
	}
	ref, err := name.ParseReference(in)
	if err != nil {
		return image{}, fmt.Errorf("not a valid image reference: %w", err)
	}
	im := image{
		given:    s,
		registry: registryKey(ref.Context().RegistryStr()),
		repo:     ref.Context().RepositoryStr(),
	}
	switch r := ref.(type) {
	case name.Tag:
		im.tag = r.TagStr()
	case name.Digest:
		im.digest = r.DigestStr()
		// name.ParseReference drops a tag written beside the digest; keep
		// it for messages only.
		if at := strings.LastIndex(in, "@"); at > 0 {
			before := in[:at]
			if i := strings.LastIndex(before, ":"); i > strings.LastIndex(before, "/") {
				im.tag = before[i+1:]
			}
		}
	}
	return im, nil
}

// parseMirrorURL checks a mirror base URL the way dockerd checks
// registry-mirrors: http or https, a host, no credentials, query or
// fragment, and no path (a pull-through cache serves /v2/ at its root).
func parseMirrorURL(registry, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("mirror for %s: %q is not a URL", registry, raw)
	}
	bad := func(why string) error {
		return fmt.Errorf("mirror for %s: %s: %s", registry, redactURL(u), why)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("scheme must be http or https")
	case u.Host == "":
		return nil, bad("no host")
	case u.User != nil:
		return nil, bad("credentials do not belong in the URL; pass them as the mirror's Auth")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, bad("no query or fragment allowed")
	case u.Path != "" && u.Path != "/":
		return nil, bad("a pull-through cache serves /v2/ at its root; a path is not supported")
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// redactURL prints a URL without its user:password.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
