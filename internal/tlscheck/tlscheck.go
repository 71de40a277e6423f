// Package tlscheck judges the certificate chain a mirror presents, for
// `mirror status`: is it trusted by the company CA file (and/or the system
// roots), does it name the host the nodes use, when does it expire, and if
// it fails, why in words. Pure: the caller does the TLS handshake (with
// InsecureSkipVerify, so a bad chain can still be inspected) and passes
// tls.ConnectionState.PeerCertificates; nothing here touches the network.
package tlscheck

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"
)

// Problem names why a chain fails; "" when it passes.
type Problem string

const (
	ProblemNone             Problem = ""
	ProblemNoCertificate    Problem = "no certificate"    // the server presented none
	ProblemBadCA            Problem = "bad CA file"       // the CA file holds no usable certificate
	ProblemExpired          Problem = "expired"           // a certificate of the chain is past its not-after
	ProblemNotYetValid      Problem = "not yet valid"     // before its not-before (clock skew, or issued ahead)
	ProblemWrongHost        Problem = "wrong host"        // the leaf does not name the host
	ProblemUnknownAuthority Problem = "unknown authority" // signed by none of the trusted roots
	ProblemInvalid          Problem = "invalid"           // any other chain error (key usage, constraints, ...)
)

// Input is what to check.
type Input struct {
	// CAPEM is the content of mirror.ca_file: one or more PEM
	// certificates. Empty means the system roots only.
	CAPEM []byte
	// SystemRoots also trusts the machine's roots (a public certificate,
	// e.g. from Let's Encrypt through Traefik). With no CAPEM they are
	// always used.
	SystemRoots bool
	// Host is the name the nodes use for the mirror, without port; an IP
	// address must be among the leaf's IP SANs.
	Host string
	// Chain is the server's chain as presented, leaf first
	// (tls.ConnectionState.PeerCertificates).
	Chain []*x509.Certificate
	// Now is the time to judge expiry at; zero means time.Now().
	Now time.Time
}

// Result is the verdict. Problems lists every failure found (a certificate
// can be both expired and for the wrong host); Reason says the first in
// words. OK means Problems is empty.
type Result struct {
	OK        bool      `json:"ok"`
	Problems  []Problem `json:"problems,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	TrustedBy string    `json:"trusted_by,omitempty"` // "ca_file" or "system" when the chain verifies
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	IPs       []string  `json:"ips,omitempty"`
	NotAfter  time.Time `json:"not_after"`
	// DaysLeft until the leaf's not-after, rounded down; negative once expired.
	DaysLeft int `json:"days_left"`
}

// ParseCAPEM reads PEM certificates into a pool. It fails when the content
// holds no certificate, or a CERTIFICATE block that does not parse, so a
// wrong file (a key, a DER file) is named as such instead of trusting nothing.
func ParseCAPEM(data []byte) (*x509.CertPool, []*x509.Certificate, error) {
	pool := x509.NewCertPool()
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			if strings.Contains(b.Type, "PRIVATE KEY") {
				return nil, nil, errors.New("the CA file holds a private key; it must hold only certificates")
			}
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("the CA file's certificate %d does not parse: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
		pool.AddCert(c)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("the CA file holds no PEM certificate")
	}
	return pool, certs, nil
}

// Check judges in.Chain.
func Check(in Input) Result {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	var r Result
	fail := func(p Problem, reason string) {
		r.Problems = append(r.Problems, p)
		if r.Reason == "" {
			r.Reason = reason
		}
	}
	if len(in.Chain) == 0 || in.Chain[0] == nil {
		fail(ProblemNoCertificate, "the server presented no certificate")
		return r
	}
	leaf := in.Chain[0]
	r.Subject, r.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	r.DNSNames = leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		r.IPs = append(r.IPs, ip.String())
	}
	r.NotAfter = leaf.NotAfter
	r.DaysLeft = int(math.Floor(leaf.NotAfter.Sub(now).Hours() / 24))

	inter := x509.NewCertPool()
	for _, c := range in.Chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}

	// Trust: each root set on its own, so TrustedBy can say which one.
	var sets []rootSet
	if len(in.CAPEM) > 0 {
		pool, _, err := ParseCAPEM(in.CAPEM)
		if err != nil {
			fail(ProblemBadCA, err.Error())
		} else {
			sets = append(sets, rootSet{"ca_file", pool})
		}
	}
	if len(in.CAPEM) == 0 || in.SystemRoots {
		sets = append(sets, rootSet{"system", nil})
	}
	if len(sets) > 0 {
		name, err := verify(leaf, inter, sets, now)
		r.TrustedBy = name
		if err != nil {
			p, reason := explain(err, now, trustedName(sets))
			fail(p, reason)
			// Go stops at the first fault: an expired certificate from an
			// unknown CA says only "expired". Look again inside the
			// leaf's validity to find a second fault.
			if p == ProblemExpired || p == ProblemNotYetValid {
				mid := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
				if name, err := verify(leaf, inter, sets, mid); err != nil {
					if p2, reason2 := explain(err, mid, trustedName(sets)); p2 != p {
						fail(p2, reason2)
					}
				} else if r.TrustedBy == "" {
					r.TrustedBy = name
				}
			}
		}
	}

	// Host, apart from the chain, so an expired certificate for the wrong
	// host shows both.
	if in.Host != "" {
		if err := leaf.VerifyHostname(in.Host); err != nil {
			fail(ProblemWrongHost, fmt.Sprintf("the certificate is for %s, not %s", names(leaf), in.Host))
		}
	}
	r.OK = len(r.Problems) == 0
	return r
}

// rootSet is one set of trusted roots.
type rootSet struct {
	name string         // "ca_file" or "system"
	pool *x509.CertPool // nil: the system roots
}

// verify tries each root set in turn; it returns the one that verifies, or
// the most telling error (expired beats unknown authority, which every set
// but the right one gives).
func verify(leaf *x509.Certificate, inter *x509.CertPool, sets []rootSet, at time.Time) (string, error) {
	var worst error
	for _, s := range sets {
		opts := x509.VerifyOptions{Roots: s.pool, Intermediates: inter, CurrentTime: at}
		if s.pool == nil {
			sys, err := x509.SystemCertPool()
			if err != nil {
				if worst == nil {
					worst = fmt.Errorf("reading the system roots: %w", err)
				}
				continue
			}
			opts.Roots = sys
		}
		_, err := leaf.Verify(opts)
		if err == nil {
			return s.name, nil
		}
		if worst == nil || isUnknownAuthority(worst) {
			worst = err
		}
	}
	return "", worst
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// explain turns a verification error into a Problem and words.
func explain(err error, now time.Time, trusted string) (Problem, string) {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil:
		c := inv.Cert
		if now.Before(c.NotBefore) {
			return ProblemNotYetValid, fmt.Sprintf("certificate %q is not valid before %s (check the clocks)", commonName(c), c.NotBefore.UTC().Format(time.RFC3339))
		}
		days := int(now.Sub(c.NotAfter).Hours() / 24)
		return ProblemExpired, fmt.Sprintf("certificate %q expired on %s (%d days ago)", commonName(c), c.NotAfter.UTC().Format(time.RFC3339), days)
	case errors.As(err, &ua):
		issuer := "an unknown issuer"
		if ua.Cert != nil {
			issuer = fmt.Sprintf("%q", ua.Cert.Issuer.String())
		}
		return ProblemUnknownAuthority, fmt.Sprintf("signed by %s, not trusted by %s (is the chain complete, and is the right CA file distributed?)", issuer, trusted)
	}
	return ProblemInvalid, "the certificate chain is not valid: " + err.Error()
}

// names lists what a certificate is for, for "is for X, not Y".
func names(c *x509.Certificate) string {
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, net.IP(ip).String())
	}
	if len(n) == 0 {
		return fmt.Sprintf("no host name (CN %q only; clients need a subjectAltName)", c.Subject.CommonName)
	}
	return strings.Join(n, ", ")
}

func commonName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

func trustedName(sets []rootSet) string {
	var n []string
	for _, s := range sets {
		switch s.name {
		case "ca_file":
			n = append(n, "the CA file")
		case "system":
			n = append(n, "the system roots")
		}
	}
	if len(n) == 0 {
		return "no trusted roots"
	}
	return strings.Join(n, " or ")
}
