package tlscheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t *testing.T, name string, notAfter time.Time) ca {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Lab Co"}},
		NotBefore:             now.AddDate(-1, 0, 0),
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return ca{cert: c, key: k, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (c ca) issue(t *testing.T, cn string, notBefore, notAfter time.Time, dns []string, ips ...net.IP) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		DNSNames:     dns,
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &k.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return leaf, k
}

func TestCheck(t *testing.T) {
	root := newCA(t, "Lab Root CA", now.AddDate(5, 0, 0))
	other := newCA(t, "Someone Else CA", now.AddDate(5, 0, 0))
	valid, _ := root.issue(t, "mirror.lab", now.AddDate(0, -1, 0), now.Add(40*24*time.Hour+time.Hour), []string{"mirror.lab", "*.mirror.lab"}, net.ParseIP("10.0.0.5"))
	expired, _ := root.issue(t, "mirror.lab", now.AddDate(-1, 0, 0), now.AddDate(0, 0, -3), []string{"mirror.lab"})
	future, _ := root.issue(t, "mirror.lab", now.AddDate(0, 0, 2), now.AddDate(1, 0, 0), []string{"mirror.lab"})
	stranger, _ := other.issue(t, "mirror.lab", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0), []string{"mirror.lab"})
	expiredStranger, _ := other.issue(t, "old.lab", now.AddDate(-1, 0, 0), now.AddDate(0, 0, -1), []string{"old.lab"})
	cnOnly, _ := root.issue(t, "mirror.lab", now.AddDate(0, -1, 0), now.AddDate(1, 0, 0), nil)

	cases := []struct {
		name     string
		in       Input
		problems []Problem
		reason   string
		trusted  string
		days     int
	}{
		{"valid", Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{valid}}, nil, "", "ca_file", 40},
		{"valid by IP", Input{CAPEM: root.pem, Host: "10.0.0.5", Chain: []*x509.Certificate{valid}}, nil, "", "ca_file", 40},
		{"wildcard", Input{CAPEM: root.pem, Host: "eu.mirror.lab", Chain: []*x509.Certificate{valid}}, nil, "", "ca_file", 40},
		{"wrong host", Input{CAPEM: root.pem, Host: "registry.lab", Chain: []*x509.Certificate{valid}},
			[]Problem{ProblemWrongHost}, "the certificate is for mirror.lab, *.mirror.lab, 10.0.0.5, not registry.lab", "ca_file", 40},
		{"expired", Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{expired}},
			[]Problem{ProblemExpired}, `certificate "mirror.lab" expired on ` + now.AddDate(0, 0, -3).Format(time.RFC3339) + " (3 days ago)", "ca_file", -3},
		{"not yet valid", Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{future}},
			[]Problem{ProblemNotYetValid}, "is not valid before", "ca_file", 365},
		{"unknown authority", Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{stranger}},
			[]Problem{ProblemUnknownAuthority}, `signed by "CN=Someone Else CA,O=Lab Co", not trusted by the CA file`, "", 365},
		{"expired, unknown and wrong host at once", Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{expiredStranger}},
			[]Problem{ProblemExpired, ProblemUnknownAuthority, ProblemWrongHost}, "expired", "", -1},
		{"common name only", Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{cnOnly}},
			[]Problem{ProblemWrongHost}, "no host name (CN \"mirror.lab\" only; clients need a subjectAltName)", "ca_file", 365},
		{"system roots do not know a company CA", Input{Host: "mirror.lab", Chain: []*x509.Certificate{valid}},
			[]Problem{ProblemUnknownAuthority}, "not trusted by the system roots", "", 40},
		{"CA file or system roots", Input{CAPEM: root.pem, SystemRoots: true, Host: "mirror.lab", Chain: []*x509.Certificate{valid}}, nil, "", "ca_file", 40},
		{"no certificate", Input{CAPEM: root.pem, Host: "mirror.lab"}, []Problem{ProblemNoCertificate}, "presented no certificate", "", 0},
		{"bad CA file", Input{CAPEM: []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), Host: "mirror.lab", Chain: []*x509.Certificate{valid}},
			[]Problem{ProblemBadCA}, "holds a private key", "", 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in.Now = now
			r := Check(c.in)
			if !slices.Equal(r.Problems, c.problems) || r.OK != (len(c.problems) == 0) {
				t.Errorf("problems %v ok %v, want %v (reason %q)", r.Problems, r.OK, c.problems, r.Reason)
			}
			if !strings.Contains(r.Reason, c.reason) || (c.reason == "") != (r.Reason == "") {
				t.Errorf("reason %q, want %q", r.Reason, c.reason)
			}
			if r.TrustedBy != c.trusted {
				t.Errorf("trusted by %q, want %q", r.TrustedBy, c.trusted)
			}
			if len(c.in.Chain) > 0 && r.DaysLeft != c.days {
				t.Errorf("days left %d, want %d", r.DaysLeft, c.days)
			}
		})
	}
}

// An intermediate the server sends is used to reach the CA file's root.
func TestCheckChainWithIntermediate(t *testing.T) {
	root := newCA(t, "Lab Root CA", now.AddDate(5, 0, 0))
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Lab Issuing CA"},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(3, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, &k.PublicKey, root.key)
	if err != nil {
		t.Fatal(err)
	}
	interCert, _ := x509.ParseCertificate(der)
	inter := ca{cert: interCert, key: k}
	leaf, _ := inter.issue(t, "mirror.lab", now.AddDate(0, -1, 0), now.AddDate(0, 3, 0), []string{"mirror.lab"})

	if r := Check(Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{leaf, interCert}, Now: now}); !r.OK {
		t.Errorf("full chain: %v %s", r.Problems, r.Reason)
	}
	r := Check(Input{CAPEM: root.pem, Host: "mirror.lab", Chain: []*x509.Certificate{leaf}, Now: now})
	if r.OK || r.Problems[0] != ProblemUnknownAuthority || !strings.Contains(r.Reason, "is the chain complete") {
		t.Errorf("leaf alone: %v %q", r.Problems, r.Reason)
	}
}

// The chain comes from a real handshake's ConnectionState, as status will
// take it (InsecureSkipVerify so a bad chain can still be judged).
func TestCheckFromHandshake(t *testing.T) {
	root := newCA(t, "Lab Root CA", time.Now().AddDate(5, 0, 0))
	leaf, key := root.issue(t, "mirror.lab", time.Now().Add(-time.Hour), time.Now().Add(10*24*time.Hour), []string{"mirror.lab"}, net.ParseIP("127.0.0.1"))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}}
	srv.StartTLS()
	defer srv.Close()

	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	state := conn.ConnectionState()
	conn.Close()

	r := Check(Input{CAPEM: root.pem, Host: "127.0.0.1", Chain: state.PeerCertificates})
	if !r.OK || r.TrustedBy != "ca_file" || r.DaysLeft != 9 || r.Subject != "CN=mirror.lab" {
		t.Errorf("%+v", r)
	}
}

func TestParseCAPEM(t *testing.T) {
	a, b := newCA(t, "A", now.AddDate(1, 0, 0)), newCA(t, "B", now.AddDate(1, 0, 0))
	_, certs, err := ParseCAPEM(append(append([]byte("comment line\n"), a.pem...), b.pem...))
	if err != nil || len(certs) != 2 {
		t.Errorf("bundle: %d certs, %v", len(certs), err)
	}
	for _, bad := range []struct{ in, want string }{
		{"", "no PEM certificate"},
		{"just text", "no PEM certificate"},
		{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1 does not parse"},
	} {
		if _, _, err := ParseCAPEM([]byte(bad.in)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.in, err, bad.want)
		}
	}
}
