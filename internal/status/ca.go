package status

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/swarmctl/swarmctl/internal/certsd"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/tlscheck"
)

// CertsDir is where dockerd looks for a registry's CA:
// <CertsDir>/<host[:port]>/ca.crt.
const CertsDir = "/etc/docker/certs.d"

// CA is the company CA (mirror.ca_file) as the nodes and the mirror use it:
// is it on every node where dockerd looks for it, and does the mirror's
// certificate chain to it, for the host the nodes use, and for how long.
type CA struct {
	// File is mirror.ca_file.
	File string `json:"file"`
	// Hosts are the mirror's host[:port] names over https (one certs.d
	// directory each).
	Hosts        []string     `json:"hosts"`
	Nodes        []NodeCA     `json:"nodes"`
	Certificates []MirrorCert `json:"certificates"`
}

// NodeCA is one node's copy of the CA for one mirror host.
type NodeCA struct {
	Node string `json:"node"`
	Path string `json:"path"`
	// State: "ok" (identical to mirror.ca_file), "missing", "differs", or
	// "unknown" (could not be read: Error says why).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// MirrorCert is the certificate one mirror URL serves, judged against
// mirror.ca_file (tlscheck): hostname, expiry, chain.
type MirrorCert struct {
	URL   string           `json:"url"`
	Check *tlscheck.Result `json:"check,omitempty"`
	// Error: no certificate was read (the mirror did not answer TLS).
	Error string `json:"error,omitempty"`
}

// CA states and problem codes.
const (
	CAOk      = "ok"
	CAMissing = "missing"
	CADiffers = "differs"
	CAUnknown = "unknown"

	ProblemCAMissing   = "ca-missing"
	ProblemCADiffers   = "ca-differs"
	ProblemMirrorCert  = "mirror-certificate"
	CertWarnDays       = 14
	caReadStep         = "read the CA file"
	caReadStepDeadline = 30 * time.Second
)

// CheckCA checks caPEM (the content of mirror.ca_file at file) on every
// connected node and against every https URL of eps. Nothing is checked
// when there is no CA file or no https mirror URL.
func CheckCA(ctx context.Context, ms []*member.Member, file string, caPEM []byte, eps []stack.Endpoint, timeout time.Duration, now time.Time) *CA {
	if len(caPEM) == 0 {
		return nil
	}
	ca := &CA{File: file, Hosts: []string{}, Nodes: []NodeCA{}, Certificates: []MirrorCert{}}
	var urls []string
	for _, e := range eps {
		for _, raw := range e.URLs {
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "https" || u.Host == "" {
				continue
			}
			if !slices.Contains(ca.Hosts, u.Host) {
				ca.Hosts = append(ca.Hosts, u.Host)
			}
			if !slices.Contains(urls, raw) {
				urls = append(urls, raw)
			}
		}
	}
	if len(urls) == 0 {
		return nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range ms {
		if m.Conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rows []NodeCA
			for _, host := range ca.Hosts {
				p := path.Join(CertsDir, host, "ca.crt")
				rows = append(rows, nodeCA(ctx, m, host, p, caPEM))
			}
			mu.Lock()
			ca.Nodes = append(ca.Nodes, rows...)
			mu.Unlock()
		}()
	}
	ca.Certificates = make([]MirrorCert, len(urls))
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca.Certificates[i] = mirrorCert(ctx, u, caPEM, timeout, now)
		}()
	}
	wg.Wait()
	// Nodes in the report's order.
	order := map[string]int{}
	for i, m := range ms {
		order[m.Name] = i
	}
	slices.SortStableFunc(ca.Nodes, func(a, b NodeCA) int { return order[a.Node] - order[b.Node] })
	return ca
}

// nodeCA judges the node's ca.crt for host. The facts every run gathers
// already hold certs.d's ca.crt files (facts.sh): they are read from the
// node again only where the facts do not say (no certs.d section, a link
// or a file facts.sh would not read).
func nodeCA(ctx context.Context, m *member.Member, host, p string, want []byte) NodeCA {
	row := NodeCA{Node: m.Name, Path: p}
	got, exists, known := caFromFacts(m.Facts, host)
	if !known {
		ctx, cancel := nodes.Step(ctx, caReadStep, caReadStepDeadline)
		defer cancel()
		var err error
		got, err = m.Conn.ReadFile(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			row.State, row.Error = CAUnknown, nodes.Unnamed(m.Name, err).Error()
			return row
		default:
			exists = true
		}
	}
	switch {
	case !exists:
		row.State = CAMissing
	case certsd.HoldsAll(got, want):
		// nodes configure writes the certificates under a marker line.
		row.State = CAOk
	default:
		row.State = CADiffers
	}
	return row
}

// caFromFacts is host's ca.crt as the node's facts saw it: its content,
// whether it exists, and whether the facts say at all.
func caFromFacts(f *member.Facts, host string) (content []byte, exists, known bool) {
	if f == nil || f.CertsD == nil || f.CertsD.Link {
		return nil, false, false
	}
	d := f.CertsD.Dir(host)
	switch {
	case d == nil:
		return nil, false, true
	case d.Link:
		return nil, false, false
	}
	if b, ok := d.Files["ca.crt"]; ok {
		return b, true, true
	}
	if _, refused := d.Refused["ca.crt"]; refused {
		return nil, false, false
	}
	return nil, false, true
}

// mirrorCert reads the chain u serves (from here) and judges it.
func mirrorCert(ctx context.Context, raw string, caPEM []byte, timeout time.Duration, now time.Time) MirrorCert {
	mc := MirrorCert{URL: raw}
	u, _ := url.Parse(raw)
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout},
		Config: &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}} //nolint:gosec // judged by tlscheck
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		mc.Error = err.Error()
		return mc
	}
	defer c.Close()
	r := tlscheck.Check(tlscheck.Input{CAPEM: caPEM, Host: u.Hostname(), Chain: c.(*tls.Conn).ConnectionState().PeerCertificates, Now: now})
	mc.Check = &r
	return mc
}

// caTrusts reports whether the certificate of mirror URL u verified
// against mirror.ca_file: then the check from here against the system
// roots failing is expected (nodes trust the company CA through certs.d).
func (r *Report) caTrusts(u string) bool {
	if r.CA == nil {
		return false
	}
	for _, c := range r.CA.Certificates {
		if strings.TrimRight(c.URL, "/") == strings.TrimRight(u, "/") && c.Check != nil && c.Check.OK {
			return true
		}
	}
	return false
}

// judgeCA adds the CA checks' problems and warnings.
func (r *Report) judgeCA(problem func(code, node, format string, a ...any)) {
	ca := r.CA
	if ca == nil {
		return
	}
	for _, n := range ca.Nodes {
		switch n.State {
		case CAMissing:
			problem(ProblemCAMissing, n.Node, "%s is missing: docker there does not trust the mirror's certificate, so its pulls through the mirror fail (run `swarmctl nodes configure`, or copy mirror.ca_file %s there)", n.Path, ca.File)
		case CADiffers:
			problem(ProblemCADiffers, n.Node, "%s differs from mirror.ca_file %s (run `swarmctl nodes configure`)", n.Path, ca.File)
		case CAUnknown:
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s not checked: %s", n.Node, n.Path, n.Error))
		}
	}
	for _, c := range ca.Certificates {
		switch {
		case c.Check == nil:
			// The endpoint check reports an unreachable mirror.
			r.Warnings = append(r.Warnings, fmt.Sprintf("mirror %s: certificate not read: %s", c.URL, c.Error))
		case !c.Check.OK:
			problem(ProblemMirrorCert, "", "mirror %s: certificate not valid for the nodes with mirror.ca_file: %s", c.URL, c.Check.Reason)
		case c.Check.DaysLeft < CertWarnDays && !(r.Endpoint != nil && r.Endpoint.TLS != nil && strings.TrimRight(r.Endpoint.URL, "/") == strings.TrimRight(c.URL, "/")):
			// (The endpoint's own check already warns about its URL.)
			r.Warnings = append(r.Warnings, fmt.Sprintf("mirror %s: certificate expires in %d days", c.URL, c.Check.DaysLeft))
		}
	}
}
