// Package upcheck asks an upstream registry, the way a pull-through cache
// does, whether it answers (GET /v2/), whether its certificate is good for
// the trust store the cache uses, whether the cache's credentials are
// accepted, and how many pulls the cache's identity has left (Docker
// Hub's ratelimit-* headers on a manifest HEAD, which is not counted as a
// pull). The connections are made by a dialer the caller gives: `mirror
// status` dials through the SSH connection of the node running the
// registry's task, so the upstream sees the mirror's node, as it does when
// the cache pulls. Credentials travel only in request headers; they never
// appear in a Result.
package upcheck

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/tlscheck"
)

// DialFunc opens a TCP connection as seen from where the check runs.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Input is one upstream to check.
type Input struct {
	// RemoteURL is the cache's proxy.remoteurl.
	RemoteURL string
	// Username and Password are the cache's credentials ("" for none).
	Username, Password string
	// Roots is the PEM trust store of the registry's container (its
	// /etc/ssl/certs/ca-certificates.crt); empty means this machine's
	// system roots.
	Roots []byte
	// Repository is the manifest HEADed for the pull allowance ("" skips
	// it); Tag its tag.
	Repository, Tag string
	Dial            DialFunc
	Timeout         time.Duration
	Now             time.Time
}

// Result is what the check found. Every field is safe to print.
type Result struct {
	URL string `json:"url"`
	// Reachable: the upstream answered GET /v2/ with an HTTP status.
	Reachable bool   `json:"reachable"`
	Status    int    `json:"http_status,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
	// TLS is the upstream's certificate judged against Roots.
	TLS *tlscheck.Result `json:"tls,omitempty"`
	// Auth is the scheme /v2/ asked for: "", "basic" or "bearer".
	Auth string `json:"auth,omitempty"`
	// Credentials: "none" (the cache has none), "accepted", "rejected",
	// or "not-checked" (see CredentialsError).
	Credentials      string `json:"credentials"`
	CredentialsError string `json:"credentials_error,omitempty"`
	// Allowance is the pull allowance the upstream reported, nil when it
	// reports none (registries other than Docker Hub).
	Allowance      *Allowance `json:"allowance,omitempty"`
	AllowanceError string     `json:"allowance_error,omitempty"`
}

// Credential states.
const (
	CredNone       = "none"
	CredAccepted   = "accepted"
	CredRejected   = "rejected"
	CredNotChecked = "not-checked"
)

// Allowance is Docker Hub's pull limit for the identity that asked.
type Allowance struct {
	Limit     int `json:"limit"`
	Remaining int `json:"remaining"`
	// WindowSeconds is the window the limit counts over (w=...).
	WindowSeconds int `json:"window_seconds"`
	// Source is docker-ratelimit-source: the IP address or account the
	// upstream counted the pulls for.
	Source string `json:"source,omitempty"`
}

// DockerHubProbe is the repository Docker documents for checking the pull
// allowance with a HEAD that does not count as a pull.
const DockerHubProbe = "ratelimitpreview/test"

// Check runs the checks in order: /v2/ (time, TLS), credentials,
// allowance. Credentials are sent only over a certificate that verified
// against Roots for the upstream's host.
func Check(ctx context.Context, in Input) Result {
	r := Result{URL: strings.TrimRight(in.RemoteURL, "/") + "/v2/", Credentials: CredNone}
	hasCred := in.Username != "" || in.Password != ""
	if hasCred {
		r.Credentials = CredNotChecked
	}
	u, err := url.Parse(in.RemoteURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		r.Error = fmt.Sprintf("remote URL %q is not an http(s) URL", in.RemoteURL)
		return r
	}
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		// The chain is judged by tlscheck against the container's trust
		// store below, so a bad certificate is described, not just refused.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // verified by tlscheck before any credential is sent
		TLSHandshakeTimeout: timeout,
	}
	if in.Dial != nil {
		tr.DialContext = in.Dial
	}
	client := &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	start := time.Now()
	resp, err := do(ctx, client, http.MethodGet, r.URL, nil)
	if err != nil {
		r.Error = describe(err)
		if hasCred {
			r.CredentialsError = "the upstream did not answer"
		}
		return r
	}
	r.LatencyMS = time.Since(start).Milliseconds()
	r.Reachable, r.Status = true, resp.StatusCode
	challenge := resp.Header.Get("WWW-Authenticate")
	if resp.TLS != nil {
		tr := tlscheck.Check(tlscheck.Input{CAPEM: in.Roots, Host: u.Hostname(), Chain: resp.TLS.PeerCertificates, Now: in.Now})
		r.TLS = &tr
	}
	secure := u.Scheme == "http" || (r.TLS != nil && r.TLS.OK)
	scheme, params := parseChallenge(challenge)
	if resp.StatusCode == http.StatusUnauthorized {
		r.Auth = scheme
	}

	// The identity the cache uses: a bearer token (Docker Hub, ghcr.io,
	// quay.io), basic credentials, or nothing.
	var authz string
	switch {
	case hasCred && !secure:
		r.CredentialsError = "not sent: the upstream's certificate did not verify"
	case resp.StatusCode != http.StatusUnauthorized:
		if hasCred {
			// /v2/ is open: credentials count only where a token is asked.
			r.Credentials, r.CredentialsError = CredNotChecked, "the upstream does not ask for credentials on /v2/"
		}
	case scheme == "basic":
		if !hasCred {
			break
		}
		authz = basic(in.Username, in.Password)
		resp, err := do(ctx, client, http.MethodGet, r.URL, http.Header{"Authorization": {authz}})
		switch {
		case err != nil:
			r.CredentialsError = describe(err)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			r.Credentials = CredRejected
			r.CredentialsError = fmt.Sprintf("the upstream answered HTTP %d to the cache's user %s", resp.StatusCode, in.Username)
			authz = ""
		default:
			r.Credentials = CredAccepted
		}
	case scheme == "bearer":
		repo := in.Repository
		if repo == "" {
			repo = DockerHubProbe
		}
		tok, status, err := token(ctx, client, params, repo, in, hasCred && secure)
		switch {
		case err != nil && hasCred:
			r.CredentialsError = err.Error()
		case err != nil:
			r.AllowanceError = "anonymous token: " + err.Error()
		case hasCred && (status == http.StatusUnauthorized || status == http.StatusForbidden):
			r.Credentials = CredRejected
			r.CredentialsError = fmt.Sprintf("the token service answered HTTP %d to the cache's user %s", status, in.Username)
		case status != http.StatusOK:
			if hasCred {
				r.CredentialsError = fmt.Sprintf("the token service answered HTTP %d", status)
			} else {
				r.AllowanceError = fmt.Sprintf("anonymous token: HTTP %d", status)
			}
		default:
			if hasCred {
				r.Credentials = CredAccepted
			}
			authz = "Bearer " + tok
		}
	}

	if in.Repository == "" || (resp.StatusCode == http.StatusUnauthorized && authz == "") {
		return r
	}
	tag := in.Tag
	if tag == "" {
		tag = "latest"
	}
	h := http.Header{"Accept": {
		"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"}}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	mresp, err := do(ctx, client, http.MethodHead, strings.TrimRight(in.RemoteURL, "/")+"/v2/"+in.Repository+"/manifests/"+tag, h)
	if err != nil {
		r.AllowanceError = describe(err)
		return r
	}
	a, ok, err := ParseAllowance(mresp.Header)
	switch {
	case err != nil:
		r.AllowanceError = err.Error()
	case ok:
		r.Allowance = &a
	}
	return r
}

// do sends one request and drains its body (a HEAD has none; /v2/ a
// short JSON document).
func do(ctx context.Context, c *http.Client, method, u string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "swarmctl-status")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// token gets a pull token for repo from the realm the challenge names,
// with the cache's credentials when it has them.
func token(ctx context.Context, c *http.Client, params map[string]string, repo string, in Input, withCred bool) (string, int, error) {
	realm := params["realm"]
	ru, err := url.Parse(realm)
	if realm == "" || err != nil || (ru.Scheme != "https" && ru.Scheme != "http") {
		return "", 0, fmt.Errorf("the upstream's bearer challenge names no usable realm (%q)", realm)
	}
	q := ru.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("scope", "repository:"+repo+":pull")
	ru.RawQuery = q.Encode()
	h := http.Header{}
	if withCred {
		h.Set("Authorization", basic(in.Username, in.Password))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ru.String(), nil)
	if err != nil {
		return "", 0, err
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, errors.New("token service: " + describe(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return "", resp.StatusCode, nil
	}
	var doc struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", resp.StatusCode, errors.New("token service: the answer is not a token document")
	}
	if doc.Token == "" {
		doc.Token = doc.AccessToken
	}
	if doc.Token == "" {
		return "", resp.StatusCode, errors.New("token service: the answer holds no token")
	}
	return doc.Token, resp.StatusCode, nil
}

// parseChallenge reads WWW-Authenticate: `Bearer realm="...",service="..."`
// into its scheme (lower case) and parameters.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				params[k] = v[1:]
				break
			}
			params[k], rest = v[1:end+1], v[end+2:]
		} else {
			val, after, _ := strings.Cut(v, ",")
			params[k], rest = strings.TrimSpace(val), after
		}
	}
	return strings.ToLower(scheme), params
}

// ParseAllowance reads Docker Hub's `ratelimit-limit: 100;w=21600` and
// `ratelimit-remaining: 76;w=21600`; ok is false when the upstream sends
// neither (no limit reported).
func ParseAllowance(h http.Header) (a Allowance, ok bool, err error) {
	l, rem := h.Get("ratelimit-limit"), h.Get("ratelimit-remaining")
	if l == "" && rem == "" {
		return a, false, nil
	}
	var wl, wr int
	if a.Limit, wl, err = parseLimit(l); err != nil {
		return a, false, fmt.Errorf("ratelimit-limit %q: %w", l, err)
	}
	if a.Remaining, wr, err = parseLimit(rem); err != nil {
		return a, false, fmt.Errorf("ratelimit-remaining %q: %w", rem, err)
	}
	a.WindowSeconds = max(wl, wr)
	a.Source = h.Get("docker-ratelimit-source")
	return a, true, nil
}

// parseLimit reads "100;w=21600".
func parseLimit(s string) (n, window int, err error) {
	num, params, _ := strings.Cut(s, ";")
	n, err = strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return 0, 0, errors.New("not a count")
	}
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if k == "w" {
			if window, err = strconv.Atoi(v); err != nil || window < 0 {
				return 0, 0, errors.New("bad window")
			}
		}
	}
	return n, window, nil
}

// describe says why a request failed, in the words operators search for.
func describe(err error) string {
	var ne net.Error
	var de *net.DNSError
	var oe *net.OpError
	switch {
	case errors.As(err, &de):
		return "name not resolved: " + de.Name
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case strings.Contains(strings.ToLower(err.Error()), "connection refused"):
		return "connection refused"
	case errors.As(err, &oe):
		// Through SSH: "ssh: rejected: connect failed (No route to host)".
		msg := oe.Err.Error()
		if i := strings.Index(msg, "connect failed ("); i >= 0 {
			return strings.TrimSuffix(msg[i+len("connect failed ("):], ")")
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Timedout reports whether an error string from Check is a timeout: the
// upstream is silent rather than refusing, so each pull waits for it.
func Timedout(msg string) bool { return msg == "timed out" }
