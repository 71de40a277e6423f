package status

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/upcheck"
	"github.com/swarmctl/swarmctl/test/lab/front"
)

// dialHost is a fake node that opens TCP connections (as the SSH
// connection's direct-tcpip does) to one address.
type dialHost struct {
	*fakehost.Host
	to string
}

func (h dialHost) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, h.to)
}

// hubStandIn is the lab's Docker Hub front over TLS; it returns the CA's
// PEM and the address to dial.
func hubStandIn(t *testing.T, cfg front.Config) ([]byte, string, *front.Server) {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	t.Cleanup(b.Close)
	bu, _ := url.Parse(b.URL)
	f := front.New("registry-1.docker.io", bu, nil)
	if err := f.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{"registry-1.docker.io"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, lt, ca, &k.PublicKey, caKey)
	s := httptest.NewUnstartedServer(f.Handler())
	s.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), s.Listener.Addr().String(), f
}

const testPassword = "s3cret-Pw!"

// upstreamFleet is a manager saying the docker.io cache runs on node1,
// and node1 answering upstream-task.sh with a config holding pass, the
// stand-in's CA as the container's trust store, a metrics page and df.
func upstreamFleet(t *testing.T, ca []byte, addr, pass, df, v2 string) (nodes.Host, []*member.Member) {
	t.Helper()
	mgr := fakehost.New("mgr", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() != upstreamTasksScript.Name() || c.ScriptArgs[0] != "registry_registry-mirror" {
			t.Errorf("manager ran %s %q", c.Script.Name(), c.ScriptArgs)
		}
		return nodes.Output{Stdout: []byte("@@s1\n" + TaskRecord{Name: "registry_registry-mirror.1", Node: "node1", DesiredState: "Running", CurrentState: "Running 2 minutes ago"}.Line() + "@@end\n")}, nil
	})
	page, err := os.ReadFile("../regmetrics/testdata/registry3-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	cfg := "version: 0.1\nproxy:\n  remoteurl: https://registry-1.docker.io\n  username: mirror\n  password: " + strings.ReplaceAll(pass, "!", "!") + "\n"
	enc := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	node := dialHost{fakehost.New("node1", nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		if c.Script.Name() != upstreamTaskScript.Name() || c.ScriptArgs[0] != "registry_registry-mirror" || c.ScriptArgs[1] != "/var/data/registry/registry-mirror-data" {
			t.Errorf("node ran %s %q", c.Script.Name(), c.ScriptArgs[:3])
		}
		if strings.Contains(strings.Join(c.ScriptArgs, " "), pass) || len(c.Stdin) != 0 {
			t.Error("the password went to the node")
		}
		return nodes.Output{Stdout: []byte("@@container\nabc123\n@@df\n" + df + "\n@@config\n" + enc([]byte(cfg)) + "\n@@roots\n" + enc(ca) +
			"\n@@metrics\n" + enc(page) + "\n" + v2 + "@@end\n")}, nil
	}), addr}
	return mgr, []*member.Member{{Name: "node1", Conn: node, Reached: true, Facts: &member.Facts{Hostname: "node1", Service: "docker"}}}
}

func hubEndpoints() []stack.Endpoint {
	var v stack.Values
	v.Defaults()
	return v.Endpoints()
}

func judged(ups []Upstream, m []*member.Member) *Report {
	r := &Report{Upstreams: ups, MirrorURLs: []string{"http://mirror:5000"}, Endpoint: &Endpoint{URL: "http://mirror:5000", Reachable: true, Status: 200}, Nodes: []Node{{Name: "node1", Reachable: true, Mirror: &member.MirrorState{Configured: true, Applied: true}}}}
	r.Judge(nil)
	return r
}

func TestUpstreamsHealthy(t *testing.T) {
	ca, addr, _ := hubStandIn(t, front.Config{
		Auth:      &front.Auth{Mode: front.AuthToken, Username: "mirror", Password: testPassword},
		RateLimit: &front.RateLimit{Limit: 200, Window: front.Duration(6 * time.Hour)}})
	mgr, ms := upstreamFleet(t, ca, addr, testPassword, "/dev/sda1 1000000 500000 500000 50% /", "@@v2\n401 -\n@@v2exit\n0\n")
	ups := CheckUpstreams(context.Background(), mgr, ms, hubEndpoints(), 5*time.Second, nil)
	if len(ups) != 1 || len(ups[0].Tasks) != 1 {
		t.Fatalf("%+v", ups)
	}
	ut := ups[0].Tasks[0]
	c := ut.Check
	if c == nil || !c.Reachable || c.Credentials != upcheck.CredAccepted || c.TLS == nil || !c.TLS.OK || ut.Username != "mirror" {
		t.Fatalf("check: %+v %+v", ut, c)
	}
	if a := c.Allowance; a == nil || a.Limit != 200 || a.Remaining != 200 || a.WindowSeconds != 21600 || a.Source != "mirror" {
		t.Errorf("allowance %+v %s", a, c.AllowanceError)
	}
	if d := ut.Disk; d == nil || d.FreePercent != 50 || d.TotalBytes != 1000000*1024 {
		t.Errorf("disk %+v", d)
	}
	if m := ut.Metrics; m == nil || m.Blob.Requests == 0 || m.BlobHitRatio == nil {
		t.Errorf("metrics %+v (%s)", m, ut.MetricsError)
	}
	r := judged(ups, ms)
	if r.Health != Healthy {
		t.Errorf("health %s: %v %v", r.Health, r.Problems, r.Warnings)
	}
}

func TestUpstreamsProblems(t *testing.T) {
	ca, addr, _ := hubStandIn(t, front.Config{
		Auth:      &front.Auth{Mode: front.AuthToken, Username: "mirror", Password: "other"},
		RateLimit: &front.RateLimit{Limit: 0, Window: front.Duration(time.Hour)}})
	// Wrong password, 1% free.
	mgr, ms := upstreamFleet(t, ca, addr, testPassword, "/dev/sda1 1000000 990000 10000 99% /", "@@v2\n401 -\n@@v2exit\n0\n")
	ups := CheckUpstreams(context.Background(), mgr, ms, hubEndpoints(), 5*time.Second, nil)
	r := judged(ups, ms)
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), testPassword) {
		t.Fatalf("the password is in the report: %s", b)
	}
	codes := map[string]string{}
	for _, p := range r.Problems {
		codes[p.Code] = p.Message
	}
	if r.Health != Degraded || !strings.Contains(codes[ProblemUpstreamCredentials], "user mirror") || !strings.Contains(codes[ProblemDiskLow], "1.0%") {
		t.Errorf("health %s: %v", r.Health, codes)
	}

	// Down from inside the task: the reason and what it means.
	ca2, addr2, _ := hubStandIn(t, front.Config{})
	mgr, ms = upstreamFleet(t, ca2, addr2, testPassword, "/dev/sda1 1000000 950000 50000 95% /",
		"@@v2\nwget: can't connect to remote host (10.0.0.4): Connection timed out\n@@v2exit\n1\n")
	r = judged(CheckUpstreams(context.Background(), mgr, ms, hubEndpoints(), 5*time.Second, nil), ms)
	codes = map[string]string{}
	for _, p := range r.Problems {
		codes[p.Code] = p.Message
	}
	want := "upstream docker.io (https://registry-1.docker.io) unreachable from the cache on node1: wget: can't connect to remote host (10.0.0.4): Connection timed out; new images cannot be fetched; cached tags are served after the upstream times out, about 30 s per pull"
	if codes[ProblemUpstreamUnreachable] != want {
		t.Errorf("got  %q\nwant %q", codes[ProblemUpstreamUnreachable], want)
	}
	if !strings.Contains(strings.Join(r.Warnings, "\n"), "5.0%") {
		t.Errorf("5%% free is a warning: %v", r.Warnings)
	}
}

func TestAllowanceVerdicts(t *testing.T) {
	for _, c := range []struct {
		rem, limit int
		health     string
		warn       bool
	}{{100, 100, Healthy, false}, {9, 100, Healthy, true}, {0, 100, Degraded, false}} {
		ups := []Upstream{{Registry: "docker.io", Tasks: []UpstreamTask{{Node: "node1", FromTask: &FromTask{Status: 200},
			Check: &upcheck.Result{Reachable: true, Status: 200, Credentials: upcheck.CredNone,
				Allowance: &upcheck.Allowance{Limit: c.limit, Remaining: c.rem, WindowSeconds: 21600}}}}}}
		r := judged(ups, nil)
		if r.Health != c.health || (len(r.Warnings) > 0) != c.warn {
			t.Errorf("%d/%d: %s %v %v", c.rem, c.limit, r.Health, r.Problems, r.Warnings)
		}
	}
}

func TestParseDF(t *testing.T) {
	d := parseDF("/d", "tmpfs 10240 10100 140 99% /d")
	if d.Error != "" || d.FreeBytes != 140*1024 || d.FreePercent != 1.3 || d.Filesystem != "tmpfs" {
		t.Errorf("%+v", d)
	}
	if d := parseDF("/d", "df: /d: No such file or directory"); d.Error == "" {
		t.Errorf("%+v", d)
	}
}

// prohibitedHost is a node whose sshd refuses direct-tcpip.
type prohibitedHost struct{ dialHost }

func (prohibitedHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: errString("ssh: rejected: administratively prohibited (open failed)")}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestUpstreamsTunnelRefusedIsNotDown(t *testing.T) {
	ca, addr, _ := hubStandIn(t, front.Config{})
	mgr, ms := upstreamFleet(t, ca, addr, testPassword, "/dev/sda1 1000000 500000 500000 50% /",
		"@@v2\nwget: error getting response: Connection reset by peer\n@@v2exit\n1\n")
	ms[0].Conn = prohibitedHost{ms[0].Conn.(dialHost)}
	ups := CheckUpstreams(context.Background(), mgr, ms, hubEndpoints(), 5*time.Second, nil)
	ut := ups[0].Tasks[0]
	if ut.Check != nil || !strings.Contains(ut.CheckNotDone, "AllowTcpForwarding") || ut.FromTask == nil || ut.FromTask.NotChecked == "" {
		t.Fatalf("%+v", ut)
	}
	r := judged(ups, ms)
	if r.Health != Healthy || !strings.Contains(strings.Join(r.Warnings, "\n"), "not checked") {
		t.Errorf("%s %v %v", r.Health, r.Problems, r.Warnings)
	}
}

func TestReadMetricsRegistry2And3(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../regmetrics/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	// registry:3: the Prometheus page.
	m, msg := readMetrics(nodes.Sections{"metrics": {read("registry3-metrics.txt")}, "v3": {"yes"}})
	if m == nil || !m.BlobKnown || m.Blob.Misses != 3 || m.Blob.Hits != 3 || m.BlobHitRatio == nil || *m.BlobHitRatio != 0.5 {
		t.Errorf("registry:3: %+v %s", m, msg)
	}
	// registry:2: no proxy counters there; the expvar page, blobs unknown.
	m, msg = readMetrics(nodes.Sections{"metrics": {read("registry2-metrics.txt")}, "vars": {read("registry2-debug-vars.json")}})
	if m == nil || m.BlobKnown || m.BlobHitRatio != nil || m.Manifest.Misses != 2 || m.Manifest.Hits != 2 || m.Source != "expvar" {
		t.Errorf("registry:2: %+v %s", m, msg)
	}
	if m, msg := readMetrics(nodes.Sections{}); m != nil || !strings.Contains(msg, "no metrics page") {
		t.Errorf("none: %+v %s", m, msg)
	}
}
