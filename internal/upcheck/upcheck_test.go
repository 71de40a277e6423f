package upcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab/front"
)

// pki makes a CA and a server certificate for host.
func pki(t *testing.T, host string) (caPEM []byte, cert tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, lt, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// standIn is the lab's Docker Hub front (auth, rate limit) over TLS for
// registry-1.docker.io; dial sends every connection to it.
func standIn(t *testing.T, cfg front.Config) (caPEM []byte, dial DialFunc, f *front.Server) {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	t.Cleanup(b.Close)
	bu, _ := url.Parse(b.URL)
	f = front.New("registry-1.docker.io", bu, nil)
	if err := f.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	caPEM, cert := pki(t, "registry-1.docker.io")
	s := httptest.NewUnstartedServer(f.Handler())
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	addr := s.Listener.Addr().String()
	dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return caPEM, dial, f
}

func hub(ca []byte, dial DialFunc, user, pass string) Input {
	return Input{RemoteURL: "https://registry-1.docker.io", Username: user, Password: pass, Roots: ca,
		Repository: DockerHubProbe, Dial: dial, Timeout: 5 * time.Second}
}

func TestTokenAuthAndAllowance(t *testing.T) {
	ca, dial, _ := standIn(t, front.Config{
		Auth:      &front.Auth{Mode: front.AuthToken, Username: "mirror", Password: "s3cret-pw", Anonymous: true},
		RateLimit: &front.RateLimit{Limit: 100, Window: front.Duration(6 * time.Hour)}})
	r := Check(context.Background(), hub(ca, dial, "mirror", "s3cret-pw"))
	if !r.Reachable || r.Status != 401 || r.Auth != "bearer" || r.Credentials != CredAccepted || r.TLS == nil || !r.TLS.OK {
		t.Fatalf("good credentials: %+v", r)
	}
	if a := r.Allowance; a == nil || a.Limit != 100 || a.Remaining != 100 || a.WindowSeconds != 21600 || a.Source != "mirror" {
		t.Errorf("allowance: %+v (%s)", a, r.AllowanceError)
	}
	// Wrong password: rejected, and the password is nowhere in the result.
	r = Check(context.Background(), hub(ca, dial, "mirror", "wrong-pw"))
	b, _ := json.Marshal(r)
	if r.Credentials != CredRejected || strings.Contains(string(b), "wrong-pw") || !strings.Contains(r.CredentialsError, "HTTP 401") {
		t.Errorf("wrong credentials: %s", b)
	}
	// Anonymous: the allowance of the node's address.
	r = Check(context.Background(), hub(ca, dial, "", ""))
	if r.Credentials != CredNone || r.Allowance == nil || r.Allowance.Source != "127.0.0.1" {
		t.Errorf("anonymous: %+v %+v", r, r.Allowance)
	}
}

func TestBasicAuth(t *testing.T) {
	ca, dial, _ := standIn(t, front.Config{Auth: &front.Auth{Mode: front.AuthBasic, Username: "u", Password: "p"}})
	if r := Check(context.Background(), hub(ca, dial, "u", "p")); r.Credentials != CredAccepted || r.Auth != "basic" || r.Allowance != nil {
		t.Errorf("basic, right: %+v", r)
	}
	if r := Check(context.Background(), hub(ca, dial, "u", "x")); r.Credentials != CredRejected {
		t.Errorf("basic, wrong: %+v", r)
	}
	// Without credentials a 401 is what the upstream says to anyone.
	if r := Check(context.Background(), hub(ca, dial, "", "")); r.Credentials != CredNone || !r.Reachable || r.Status != 401 {
		t.Errorf("basic, none: %+v", r)
	}
}

func TestUntrustedCertificateGetsNoCredentials(t *testing.T) {
	_, dial, f := standIn(t, front.Config{Auth: &front.Auth{Mode: front.AuthBasic, Username: "u", Password: "p"}})
	other, _ := pki(t, "x")
	r := Check(context.Background(), hub(other, dial, "u", "p"))
	if r.TLS == nil || r.TLS.OK || r.Credentials != CredNotChecked || !strings.Contains(r.CredentialsError, "did not verify") {
		t.Errorf("%+v %+v", r, r.TLS)
	}
	for _, e := range f.Entries(0) {
		if e.User != "" {
			t.Errorf("credentials were sent: %+v", e)
		}
	}
}

func TestDownAndExhausted(t *testing.T) {
	ca, dial, f := standIn(t, front.Config{RateLimit: &front.RateLimit{Limit: 0, Window: front.Duration(time.Hour)}})
	r := Check(context.Background(), hub(ca, dial, "", ""))
	if r.Allowance == nil || r.Allowance.Remaining != 0 || r.Allowance.Limit != 0 {
		t.Errorf("exhausted: %+v %s", r.Allowance, r.AllowanceError)
	}
	_ = f
	refused := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errRefused{}}
	}
	r = Check(context.Background(), hub(ca, refused, "", ""))
	if r.Reachable || r.Error != "connection refused" {
		t.Errorf("down: %+v", r)
	}
}

type errRefused struct{}

func (errRefused) Error() string { return "ssh: rejected: connect failed (Connection refused)" }

func TestParseAllowance(t *testing.T) {
	h := http.Header{}
	h.Set("RateLimit-Limit", "100;w=21600")
	h.Set("RateLimit-Remaining", "7;w=21600")
	a, ok, err := ParseAllowance(h)
	if !ok || err != nil || a != (Allowance{Limit: 100, Remaining: 7, WindowSeconds: 21600}) {
		t.Errorf("%+v %v %v", a, ok, err)
	}
	if _, ok, _ := ParseAllowance(http.Header{}); ok {
		t.Error("no headers: no allowance")
	}
	h.Set("RateLimit-Remaining", "many")
	if _, _, err := ParseAllowance(h); err == nil {
		t.Error("bad header accepted")
	}
}

func TestParseChallenge(t *testing.T) {
	s, p := parseChallenge(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`)
	if s != "bearer" || p["realm"] != "https://auth.docker.io/token" || p["service"] != "registry.docker.io" {
		t.Errorf("%s %v", s, p)
	}
	if s, _ := parseChallenge(`Basic realm="x"`); s != "basic" {
		t.Error(s)
	}
}
