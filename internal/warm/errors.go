package warm

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// What went wrong, for errors.Is; every error Warm reports wraps one.
var (
	// ErrNoMirror: Options.Mirrors has no mirror for the image's registry.
	ErrNoMirror = errors.New("no mirror configured")
	// ErrNotFound: the repository, tag or digest does not exist upstream.
	ErrNotFound = errors.New("not found")
	// ErrRefused: 401, 403 or 429 from the mirror or, through it, the upstream.
	ErrRefused = errors.New("refused")
	// ErrUnreachable: no HTTP answer from the mirror at all.
	ErrUnreachable = errors.New("mirror unreachable")
	// ErrMirrorFailed: the mirror answered, but not as a registry should
	// (5xx, usually the upstream unreachable from the mirror, or an
	// unexpected status).
	ErrMirrorFailed = errors.New("mirror failed")
	// ErrIncomplete: a manifest or blob stopped short of its size.
	ErrIncomplete = errors.New("incomplete")
	// ErrDigestMismatch: content that does not hash to its digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNoPlatform: an index serves none of the fleet's platforms.
	ErrNoPlatform = errors.New("no manifest for the fleet's platforms")
	// ErrUnsupported: a manifest kind this package does not fetch
	// (schema 1, an index inside an index, an unknown media type).
	ErrUnsupported = errors.New("unsupported manifest")
)

// RegistryError is an HTTP answer that is not the content asked for, kept
// with the registry's own error codes so messages can name them.
type RegistryError struct {
	Mirror     string   // the mirror's base URL
	What       string   // what was asked for: `manifest "1"`, "blob sha256:..."
	Status     int      // HTTP status
	Codes      []string // registry error codes (MANIFEST_UNKNOWN, TOOMANYREQUESTS, ...)
	Message    string   // the first error message the registry gave
	RetryAfter string   // the Retry-After header, if any
}

func (e *RegistryError) Unwrap() error {
	switch {
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Status == http.StatusTooManyRequests:
		return ErrRefused
	}
	for _, c := range e.Codes {
		switch c {
		case "MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN":
			return ErrNotFound
		case "UNAUTHORIZED", "DENIED", "TOOMANYREQUESTS":
			return ErrRefused
		}
	}
	return ErrMirrorFailed
}

func (e *RegistryError) Error() string {
	var b strings.Builder
	switch errors.Unwrap(e) {
	case ErrNotFound:
		b.WriteString("not found: ")
	case ErrRefused:
		b.WriteString("refused: ")
	default:
		b.WriteString("mirror failed: ")
	}
	fmt.Fprintf(&b, "%s answered %d %s for %s", e.Mirror, e.Status, http.StatusText(e.Status), e.What)
	if len(e.Codes) > 0 || e.Message != "" {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Codes, ", "))
		if e.Message != "" {
			if len(e.Codes) > 0 {
				b.WriteString(": ")
			}
			b.WriteString(e.Message)
		}
		b.WriteString(")")
	}
	switch e.Status {
	case http.StatusNotFound:
		b.WriteString(": no such repository, tag or digest upstream")
	case http.StatusUnauthorized:
		b.WriteString(": the mirror or its upstream wants credentials (wrong or missing), or the repository is private")
	case http.StatusForbidden:
		b.WriteString(": the credentials are not allowed to pull this repository")
	case http.StatusTooManyRequests:
		b.WriteString(": the upstream's pull rate limit is used up")
		if e.RetryAfter != "" {
			b.WriteString("; retry after " + e.RetryAfter)
		}
		b.WriteString("; give the mirror upstream credentials or wait")
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError:
		b.WriteString(": the upstream may be unreachable from the mirror")
	}
	return b.String()
}

// registryError reads a failed response's error body (bounded) into a
// RegistryError.
func registryError(mirror, what string, resp *http.Response) error {
	e := &RegistryError{Mirror: mirror, What: what, Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	var te *transport.Error
	if err := transport.CheckError(resp); errors.As(err, &te) {
		for _, d := range te.Errors {
			e.Codes = append(e.Codes, string(d.Code))
			if e.Message == "" {
				e.Message = oneLine(d.Message)
			}
		}
	}
	return e
}

// oneLine keeps a server-supplied message short and on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
