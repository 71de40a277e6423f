// Package status builds one honest view of the mirror: the stack, the
// endpoint, the cache and every node's configuration.
package status

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/probe"
)

// Endpoint is the result of GET /v2/ against the mirror URL.
type Endpoint struct {
	URL       string `json:"url"`
	Reachable bool   `json:"reachable"`
	Status    int    `json:"http_status,omitempty"`
	LatencyMS int64  `json:"latency_ms,omitempty"`
	Error     string `json:"error,omitempty"`
	TLS       *TLS   `json:"tls,omitempty"`
}

// TLS describes the certificate the endpoint served.
type TLS struct {
	Valid        bool      `json:"valid"`
	Subject      string    `json:"subject,omitempty"`
	Issuer       string    `json:"issuer,omitempty"`
	NotAfter     time.Time `json:"not_after"`
	DaysToExpiry int       `json:"days_to_expiry"`
	Error        string    `json:"error,omitempty"`
}

// Healthy reports whether the registry answered as a serving registry
// (200, or 401 when auth is on).
func (e Endpoint) Healthy() bool { return e.Reachable && probe.Answers(e.Status) }

// CheckEndpoint sends GET <url>/v2/ and reports status, latency and, for
// https, the certificate's validity and days to expiry. A certificate that
// does not verify is reported, and the request is retried without
// verification only to learn the status and expiry.
func CheckEndpoint(ctx context.Context, url string, timeout time.Duration, now func() time.Time) Endpoint {
	ep := Endpoint{URL: url}
	target := strings.TrimRight(url, "/") + "/v2/"
	status, latency, state, err := get(ctx, target, timeout, false)
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	if err != nil && (errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)) {
		status, latency, state, _ = get(ctx, target, timeout, true)
		ep.TLS = &TLS{Error: err.Error()}
		err = nil
		if status == 0 {
			err = errors.New("TLS handshake failed")
		}
	}
	if err != nil {
		ep.Error = err.Error()
		return ep
	}
	ep.Reachable, ep.Status, ep.LatencyMS = true, status, latency.Milliseconds()
	if state != nil && len(state.PeerCertificates) > 0 {
		c := state.PeerCertificates[0]
		if ep.TLS == nil {
			ep.TLS = &TLS{Valid: true}
		}
		ep.TLS.Subject, ep.TLS.Issuer, ep.TLS.NotAfter = c.Subject.CommonName, c.Issuer.CommonName, c.NotAfter
		ep.TLS.DaysToExpiry = int(c.NotAfter.Sub(now()).Hours() / 24)
		if now().After(c.NotAfter) {
			ep.TLS.Valid = false
		}
	}
	return ep
}

func get(ctx context.Context, url string, timeout time.Duration, insecure bool) (int, time.Duration, *tls.ConnectionState, error) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // only to report a bad certificate's details
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	client := &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, time.Since(start), resp.TLS, nil
}
