package front

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// backend is a fake registry: every /v2/ path answers 200 with a body of
// the requested size (?size=N, default 10) and records the Host it saw.
func backend(t *testing.T) (*httptest.Server, *[]string) {
	var hosts []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		n := 10
		fmt.Sscan(r.URL.Query().Get("size"), &n)
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.Write([]byte(strings.Repeat("x", n)))
	}))
	t.Cleanup(s.Close)
	return s, &hosts
}

func newFront(t *testing.T) (*Server, *httptest.Server, *[]string) {
	b, hosts := backend(t)
	u, _ := url.Parse(b.URL)
	f := New("ghcr.io", u, nil)
	s := httptest.NewServer(f.Handler())
	t.Cleanup(s.Close)
	return f, s, hosts
}

func get(t *testing.T, c *http.Client, method, url string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("User-Agent", "test-agent/1")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// entries waits until the log holds n entries (a request is logged when
// its handler returns, which the client can see after its last byte) and
// returns them all; it fails the test after 5 seconds.
func entries(t *testing.T, f *Server, n int64) []Entry {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); f.LastSeq() < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	return f.Entries(0)
}

func TestProxyAndAccessLog(t *testing.T) {
	f, s, hosts := newFront(t)
	resp := get(t, s.Client(), "GET", s.URL+"/v2/lab/hello/blobs/sha256:abc?size=1234")
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Distribution-Api-Version") == "" {
		t.Fatalf("proxied GET: %s %v", resp.Status, resp.Header)
	}
	get(t, s.Client(), "GET", s.URL+"/other")
	es := entries(t, f, 2)
	if len(es) != 2 {
		t.Fatalf("entries: %+v", es)
	}
	e := es[0]
	if e.Seq != 1 || e.Client != "127.0.0.1" || e.Method != "GET" || e.Path != "/v2/lab/hello/blobs/sha256:abc?size=1234" ||
		e.Status != 200 || e.Bytes != 1234 || e.UserAgent != "test-agent/1" || e.Time.IsZero() {
		t.Errorf("entry = %+v", e)
	}
	if es[1].Status != 404 || es[1].Path != "/other" {
		t.Errorf("a non-registry path: %+v", es[1])
	}
	if got := f.Entries(1); len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("Entries(1) = %+v", got)
	}
	if len(*hosts) != 1 || !strings.HasPrefix((*hosts)[0], "127.0.0.1:") {
		t.Errorf("backend saw Host %v, want the front's", *hosts)
	}
}

func TestRateLimitHeadersAnd429(t *testing.T) {
	f, s, _ := newFront(t)
	if err := f.SetConfig(Config{RateLimit: &RateLimit{Limit: 2, Window: Duration(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	m := s.URL + "/v2/library/busybox/manifests/latest"
	var remaining []string
	for _, method := range []string{"HEAD", "GET", "GET", "HEAD", "GET"} {
		resp := get(t, c, method, m)
		remaining = append(remaining, fmt.Sprintf("%s %d %s", method, resp.StatusCode, resp.Header.Get("ratelimit-remaining")))
		if resp.Header.Get("ratelimit-limit") != "2;w=3600" || resp.Header.Get("docker-ratelimit-source") != "127.0.0.1" {
			t.Errorf("headers: %v", resp.Header)
		}
	}
	want := []string{"HEAD 200 2;w=3600", "GET 200 1;w=3600", "GET 200 0;w=3600", "HEAD 429 0;w=3600", "GET 429 0;w=3600"}
	if strings.Join(remaining, ",") != strings.Join(want, ",") {
		t.Errorf("got %v\nwant %v", remaining, want)
	}
	// Blobs are not counted and carry no headers.
	if resp := get(t, c, "GET", s.URL+"/v2/library/busybox/blobs/sha256:a"); resp.StatusCode != 200 || resp.Header.Get("ratelimit-limit") != "" {
		t.Errorf("blob: %s %v", resp.Status, resp.Header)
	}
	// A new config starts a new count.
	f.SetConfig(Config{RateLimit: &RateLimit{Limit: 5, Window: Duration(time.Hour)}})
	if resp := get(t, c, "GET", m); resp.StatusCode != 200 || resp.Header.Get("ratelimit-remaining") != "4;w=3600" {
		t.Errorf("after reconfig: %s %v", resp.Status, resp.Header)
	}
}

func TestBasicAuth(t *testing.T) {
	f, s, _ := newFront(t)
	f.SetConfig(Config{Auth: &Auth{Mode: AuthBasic, Username: "u", Password: "p"}})
	c := s.Client()
	resp := get(t, c, "GET", s.URL+"/v2/")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Basic realm="ghcr.io"`) {
		t.Errorf("no credentials: %s %v", resp.Status, resp.Header)
	}
	req, _ := http.NewRequest("GET", s.URL+"/v2/", nil)
	req.SetBasicAuth("u", "wrong")
	if r, _ := c.Do(req); r.StatusCode != 401 {
		t.Errorf("wrong password: %s", r.Status)
	}
	req.SetBasicAuth("u", "p")
	if r, _ := c.Do(req); r.StatusCode != 200 {
		t.Errorf("right password: %s", r.Status)
	}
	if es := entries(t, f, 3); len(es) != 3 || es[2].User != "u" {
		t.Errorf("log does not name the user: %+v", es[len(es)-1])
	}
}

func TestTokenAuth(t *testing.T) {
	f, s, _ := newFront(t)
	f.SetConfig(Config{Auth: &Auth{Mode: AuthToken, Username: "u", Password: "p"}})
	c := s.Client()
	resp := get(t, c, "GET", s.URL+"/v2/")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="https://ghcr.io/token",service="ghcr.io"` {
		t.Fatalf("challenge: %s %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	if r := get(t, c, "GET", s.URL+"/token?service=ghcr.io"); r.StatusCode != 401 {
		t.Errorf("anonymous token without Anonymous: %s", r.Status)
	}
	req, _ := http.NewRequest("GET", s.URL+"/token?service=ghcr.io&scope=repository:lab/hello:pull", nil)
	req.SetBasicAuth("u", "p")
	r, err := c.Do(req)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("token: %v %v", r, err)
	}
	var tok struct{ Token string }
	json.NewDecoder(r.Body).Decode(&tok)
	r.Body.Close()
	if tok.Token == "" {
		t.Fatal("no token")
	}
	if r := get(t, c, "GET", s.URL+"/v2/lab/hello/manifests/1", "Authorization", "Bearer "+tok.Token); r.StatusCode != 200 {
		t.Errorf("with the token: %s", r.Status)
	}
	if r := get(t, c, "GET", s.URL+"/v2/", "Authorization", "Bearer forged"); r.StatusCode != 401 {
		t.Errorf("forged token: %s", r.Status)
	}
	f.SetConfig(Config{Auth: &Auth{Mode: AuthToken, Anonymous: true}})
	if r := get(t, c, "GET", s.URL+"/token?service=ghcr.io"); r.StatusCode != 200 {
		t.Errorf("anonymous token: %s", r.Status)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []Config{
		{RateLimit: &RateLimit{Limit: 1}},
		{Auth: &Auth{Mode: "digest", Username: "u"}},
		{Auth: &Auth{Mode: AuthBasic}},
		{Latency: Duration(-time.Second)},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	var c Config
	if err := json.Unmarshal([]byte(`{"latency":"50ms","bandwidth_bps":6250000,"rate_limit":{"limit":100,"window":"6h"}}`), &c); err != nil || c.Latency.D() != 50*time.Millisecond || c.RateLimit.Window.D() != 6*time.Hour {
		t.Errorf("JSON: %+v %v", c, err)
	}
}

// Latency delays each request; the bandwidth limit paces bodies.
func TestLatencyAndBandwidth(t *testing.T) {
	f, s, _ := newFront(t)
	f.SetConfig(Config{Latency: Duration(80 * time.Millisecond)})
	start := time.Now()
	get(t, s.Client(), "GET", s.URL+"/v2/")
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("latency: request took %s", d)
	}
	f.SetConfig(Config{BandwidthBPS: 1 << 20}) // 1 MiB/s
	start = time.Now()
	resp := get(t, s.Client(), "GET", s.URL+"/v2/x/blobs/y?size=524288")
	if d := time.Since(start); resp.StatusCode != 200 || d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("512 KiB at 1 MiB/s took %s (%s)", d, resp.Status)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ghcr.io"}, DNSNames: []string{"ghcr.io"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// Down closes the HTTPS listener (connection refused), up opens it again
// on the same address; the control port drives it.
func TestDownAndUpOverTLS(t *testing.T) {
	b, _ := backend(t)
	u, _ := url.Parse(b.URL)
	f := New("ghcr.io", u, nil)
	cert, pool := selfSigned(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if err := f.ServeTLS(addr, cert); err != nil {
		t.Fatal(err)
	}
	defer f.SetConfig(Config{Down: true})
	ctl := httptest.NewServer(f.ControlHandler())
	defer ctl.Close()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "ghcr.io"}, DisableKeepAlives: true}}
	if r := get(t, c, "GET", "https://"+addr+"/v2/"); r.StatusCode != 200 {
		t.Fatalf("up: %s", r.Status)
	}
	put := func(body string) {
		req, _ := http.NewRequest("PUT", ctl.URL+"/config", strings.NewReader(body))
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode != 204 {
			t.Fatalf("PUT /config %s: %v %v", body, r, err)
		}
	}
	put(`{"down":true}`)
	if _, err := c.Get("https://" + addr + "/v2/"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("down: %v, want connection refused", err)
	}
	put(`{}`)
	if r := get(t, c, "GET", "https://"+addr+"/v2/"); r.StatusCode != 200 {
		t.Errorf("up again: %s", r.Status)
	}
	r, _ := http.Get(ctl.URL + "/log?after=0")
	lines, _ := io.ReadAll(r.Body)
	if n := strings.Count(string(lines), "\n"); n != 2 {
		t.Errorf("control log has %d lines:\n%s", n, lines)
	}
	r, _ = http.Get(ctl.URL + "/seq")
	seq, _ := io.ReadAll(r.Body)
	if strings.TrimSpace(string(seq)) != "2" {
		t.Errorf("seq %q", seq)
	}
	req, _ := http.NewRequest("PUT", ctl.URL+"/config", strings.NewReader(`{"auth":{"mode":"digest"}}`))
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 400 {
		t.Errorf("bad config: %s", r.Status)
	}
}
