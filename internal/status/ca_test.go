package status

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/tlscheck"
)

// companyMirror serves TLS on 127.0.0.1 with a certificate from a fresh
// CA for ip, valid until notAfter.
func companyMirror(t *testing.T, ip string, notAfter time.Time) (caPEM []byte, u string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "company CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), IPAddresses: []net.IP{net.ParseIP(ip)},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, lt, ca, &k.PublicKey, caKey)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), s.URL
}

func TestCACheck(t *testing.T) {
	caPEM, u := companyMirror(t, "127.0.0.1", time.Now().Add(90*24*time.Hour))
	host := strings.TrimPrefix(u, "https://")
	p := CertsDir + "/" + host + "/ca.crt"
	ms := []*member.Member{
		{Name: "n1", Conn: fakeFiles("n1", map[string]string{p: string(caPEM) + "\n"})},
		{Name: "n2", Conn: fakeFiles("n2", nil)},
		{Name: "n3", Conn: fakeFiles("n3", map[string]string{p: "-----BEGIN CERTIFICATE-----\nold\n"})},
	}
	eps := []stack.Endpoint{{Registry: "docker.io", URLs: []string{u}}}
	ca := CheckCA(context.Background(), ms, "/etc/company-ca.pem", caPEM, eps, 5*time.Second, time.Now())
	if ca == nil || len(ca.Nodes) != 3 || len(ca.Certificates) != 1 {
		t.Fatalf("%+v", ca)
	}
	states := ca.Nodes[0].State + " " + ca.Nodes[1].State + " " + ca.Nodes[2].State
	if states != "ok missing differs" || ca.Nodes[1].Path != p {
		t.Errorf("states %s, path %s", states, ca.Nodes[1].Path)
	}
	c := ca.Certificates[0].Check
	if c == nil || !c.OK || c.TrustedBy != "ca_file" || c.DaysLeft != 89 {
		t.Fatalf("certificate: %+v %s", c, ca.Certificates[0].Error)
	}
	r := &Report{CA: ca, MirrorURLs: []string{u}, Nodes: []Node{{Name: "n1", Reachable: true, Mirror: &member.MirrorState{Configured: true, Applied: true}}},
		Endpoint: &Endpoint{URL: u, Reachable: true, Status: 200, TLS: &TLS{Error: "x509: certificate signed by unknown authority"}}}
	r.Judge(nil)
	var codes []string
	for _, pr := range r.Problems {
		codes = append(codes, pr.Code+"@"+pr.Node)
	}
	// The system roots' verdict gives way to the CA file's.
	if strings.Join(codes, " ") != "ca-missing@n2 ca-differs@n3" || !strings.Contains(r.Problems[0].Message, p+" is missing") {
		t.Errorf("problems %v", r.Problems)
	}
	if ca := CheckCA(context.Background(), ms, "", nil, eps, time.Second, time.Now()); ca != nil {
		t.Error("no CA file: nothing to check")
	}
}

func TestCAExpiredAndWrongHost(t *testing.T) {
	caPEM, u := companyMirror(t, "10.9.9.9", time.Now().Add(-time.Hour))
	eps := []stack.Endpoint{{Registry: "docker.io", URLs: []string{u}}}
	ca := CheckCA(context.Background(), nil, "ca.pem", caPEM, eps, 5*time.Second, time.Now())
	c := ca.Certificates[0].Check
	if c == nil || c.OK || !hasProblem(c.Problems, tlscheck.ProblemExpired) || !hasProblem(c.Problems, tlscheck.ProblemWrongHost) {
		t.Fatalf("%+v", c)
	}
	r := &Report{CA: ca}
	n := 0
	r.judgeCA(func(code, node, format string, a ...any) {
		n++
		if code != ProblemMirrorCert || !strings.Contains(fmt.Sprintf(format, a...), "expired") {
			t.Errorf("%s: %s", code, fmt.Sprintf(format, a...))
		}
	})
	if n != 1 {
		t.Errorf("%d problems, want the certificate's", n)
	}
}

func hasProblem(ps []tlscheck.Problem, p tlscheck.Problem) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

func fakeFiles(name string, files map[string]string) *fakehost.Host {
	return fakehost.New(name, files, nil)
}

// The facts' certs.d section answers without reading the node again (the
// fake nodes hold no file: a read would say "missing"); where the facts
// do not say (a linked directory), the file is read.
func TestCACheckFromFacts(t *testing.T) {
	caPEM, u := companyMirror(t, "127.0.0.1", time.Now().Add(90*24*time.Hour))
	host := strings.TrimPrefix(u, "https://")
	marked := append([]byte("# swarmctl-managed\n"), caPEM...)
	dir := func(d *member.CertsDir) *member.Facts {
		return &member.Facts{CertsD: &member.CertsD{Dirs: map[string]*member.CertsDir{host: d}}}
	}
	ms := []*member.Member{
		{Name: "ok", Conn: fakeFiles("ok", nil), Facts: dir(&member.CertsDir{Name: host, Files: map[string][]byte{"ca.crt": marked}})},
		{Name: "other", Conn: fakeFiles("other", nil), Facts: dir(&member.CertsDir{Name: host, Files: map[string][]byte{"ca.crt": []byte("-----BEGIN CERTIFICATE-----\nold\n")}})},
		{Name: "none", Conn: fakeFiles("none", nil), Facts: &member.Facts{CertsD: &member.CertsD{}}},
		{Name: "linked", Conn: fakeFiles("linked", map[string]string{CertsDir + "/" + host + "/ca.crt": string(caPEM)}), Facts: dir(&member.CertsDir{Name: host, Link: true})},
	}
	eps := []stack.Endpoint{{Registry: "docker.io", URLs: []string{u}}}
	ca := CheckCA(context.Background(), ms, "/etc/company-ca.pem", caPEM, eps, 5*time.Second, time.Now())
	got := map[string]string{}
	for _, n := range ca.Nodes {
		got[n.Node] = n.State
	}
	want := map[string]string{"ok": CAOk, "other": CADiffers, "none": CAMissing, "linked": CAOk}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", got, want)
	}
}
