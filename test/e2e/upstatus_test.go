package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
	"github.com/swarmctl/swarmctl/test/lab/front"
)

// upstreamStatusDoc is the part of `mirror status -o json` past the mirror.
type upstreamStatusDoc struct {
	Health   string       `json:"health"`
	Problems []problemDoc `json:"problems"`
	Warnings []string     `json:"warnings"`
	Upst     []struct {
		Registry   string `json:"registry"`
		NotChecked string `json:"not_checked"`
		Tasks      []struct {
			Node     string `json:"node"`
			Username string `json:"username"`
			FromTask *struct {
				Status     int    `json:"http_status"`
				Error      string `json:"error"`
				NotChecked string `json:"not_checked"`
			} `json:"from_task"`
			Check *struct {
				Reachable   bool   `json:"reachable"`
				LatencyMS   int64  `json:"latency_ms"`
				Error       string `json:"error"`
				Credentials string `json:"credentials"`
				TLS         *struct {
					OK       bool `json:"ok"`
					DaysLeft int  `json:"days_left"`
				} `json:"tls"`
				Allowance *struct {
					Limit         int    `json:"limit"`
					Remaining     int    `json:"remaining"`
					WindowSeconds int    `json:"window_seconds"`
					Source        string `json:"source"`
				} `json:"allowance"`
			} `json:"check"`
			Disk *struct {
				FreePercent float64 `json:"free_percent"`
				FreeBytes   int64   `json:"free_bytes"`
				Error       string  `json:"error"`
			} `json:"disk"`
			Metrics *struct {
				Blob         counters `json:"blob"`
				Manifest     counters `json:"manifest"`
				BlobHitRatio *float64 `json:"blob_hit_ratio"`
			} `json:"metrics"`
			MetricsError string `json:"metrics_error"`
			Error        string `json:"error"`
		} `json:"tasks"`
	} `json:"upstreams"`
}

// counters are a cache's registry:3 proxy counters of one type.
type counters struct {
	Requests    uint64 `json:"requests"`
	Hits        uint64 `json:"hits"`
	Misses      uint64 `json:"misses"`
	PulledBytes uint64 `json:"pulled_bytes"`
}

func upstreamStatus(t *testing.T, env []string) (result, upstreamStatusDoc) {
	t.Helper()
	r := swarmctl(t, env, "mirror", "status", "--limit", "manager1", "--no-discover", "-o", "json")
	var doc upstreamStatusDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror status -o json: %v\n%s", err, r.Stdout)
	}
	for _, u := range doc.Upst {
		for _, ts := range u.Tasks {
			b, _ := json.Marshal(ts)
			t.Logf("status: %s on %s: %s", u.Registry, ts.Node, b)
		}
	}
	return r, doc
}

func (d upstreamStatusDoc) problem(code string) string {
	var out []string
	for _, p := range d.Problems {
		if p.Code == code {
			out = append(out, p.Node+": "+p.Message)
		}
	}
	return strings.Join(out, "\n")
}

// TestStatusPastTheMirror (issue 16, and issue 12's metrics): a registry:3
// cache of Docker Hub with credentials and one of ghcr.io, anonymous, on
// the manager. Status sees the upstream from the cache's task: healthy,
// then the Hub stopped (exit 1, named, why and what it means) and started
// (exit 0), the cache's password refused (degraded, never printed), the
// stand-in's pull allowance (shown; none left: degraded), the cache's
// disk nearly full (warning, then degraded), and the cache's counters
// after pulls from two nodes.
func TestStatusPastTheMirror(t *testing.T) {
	l := needLab(t)
	mgr := l.Manager()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := l.LoadImage(ctx, lab.Registry3Image, mgr); err != nil {
		t.Fatalf("load %s: %v", lab.Registry3Image, err)
	}
	hub := l.Hub()
	const password = "Right-pw-4711"
	hubAuth := &front.Auth{Mode: front.AuthToken, Username: "mirror", Password: password, Anonymous: true}
	hubRate := &front.RateLimit{Limit: 100, Window: front.Duration(6 * time.Hour)}
	configure := func(c front.Config) {
		t.Helper()
		if err := hub.Configure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	configure(front.Config{Auth: hubAuth, RateLimit: hubRate})
	inv := stackInventory(t, l, func(m map[string]any) {
		m["image"] = "registry:3"
		m["upstream_username"] = "mirror"
		m["upstream_password_env"] = "SWARMCTL_E2E_HUB_PASSWORD"
		m["registries"] = []any{"docker.io", "ghcr.io"}
	})
	env := []string{"SWARMCTL_INVENTORY=" + inv, "SWARMCTL_E2E_HUB_PASSWORD=" + password}
	dataDir := "/var/data/registry/registry-mirror-data-ghcr-io"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		hub.Configure(ctx, front.Config{})
		l.Exec(ctx, mgr.Name, "sh", "-c", `umount "$1" 2>/dev/null; true`, "sh", dataDir)
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		resetLab(t, l)
	})
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	// Configure first: a restart of docker there would stop the caches.
	if r := swarmctl(t, env, "nodes", "configure", "--limit", "manager1", "--yes"); r.Code != 0 {
		t.Fatalf("configure manager1: exit %d", r.Code)
	}
	if r := swarmctl(t, env, "mirror", "install"); r.Code != 0 {
		t.Fatalf("install: exit %d\n%s", r.Code, r.Stderr)
	}

	// Healthy: both upstreams answer from the task, the certificate is
	// good for the cache's trust store, the Hub takes the cache's user and
	// counts its pulls for it.
	start := time.Now()
	r, doc := upstreamStatus(t, env)
	t.Logf("status with two upstreams: %s", time.Since(start).Round(10*time.Millisecond))
	if r.Code != 0 || doc.Health != "healthy" || len(doc.Upst) != 2 {
		t.Fatalf("healthy: exit %d %s %v %v", r.Code, doc.Health, doc.Problems, doc.Warnings)
	}
	for _, u := range doc.Upst {
		if len(u.Tasks) != 1 || u.Tasks[0].Check == nil || !u.Tasks[0].Check.Reachable || u.Tasks[0].Check.TLS == nil || !u.Tasks[0].Check.TLS.OK {
			t.Fatalf("%s: %+v", u.Registry, u)
		}
	}
	hubTask := doc.Upst[0].Tasks[0]
	if c := hubTask.Check; hubTask.Username != "mirror" || c.Credentials != "accepted" || c.Allowance == nil ||
		c.Allowance.Limit != 100 || c.Allowance.Remaining != 100 || c.Allowance.WindowSeconds != 21600 || c.Allowance.Source != "mirror" {
		t.Errorf("docker.io: user %q credentials %q allowance %+v", hubTask.Username, c.Credentials, c.Allowance)
	}
	if d := hubTask.Disk; d == nil || d.Error != "" || d.FreeBytes <= 0 {
		t.Errorf("docker.io disk: %+v", d)
	}
	if doc.Upst[1].Tasks[0].Check.Credentials != "none" {
		t.Errorf("ghcr.io is anonymous: %+v", doc.Upst[1].Tasks[0].Check)
	}
	r = swarmctl(t, env, "mirror", "status", "--limit", "manager1", "--no-discover")
	if r.Code != 0 || !strings.Contains(r.Stdout, "100/100 per 6h") || !strings.Contains(r.Stdout, "mirror accepted") || strings.Contains(r.Stdout+r.Stderr, password) {
		t.Errorf("text status: exit %d\n%s", r.Code, r.Stdout)
	}

	// Metrics after one pull on each of two nodes, one after the other.
	mark := hubLog{l}.mark(t)
	for _, m := range []string{"worker1", "worker2"} {
		fetchThrough(t, l, m, "http://"+mgr.IP+":5000", "library/busybox", "latest")
	}
	fetched := hubLog{l}.since(t, mark, "library/busybox")
	r, doc = upstreamStatus(t, env)
	hubTask = doc.Upst[0].Tasks[0]
	if m := hubTask.Metrics; m == nil {
		t.Errorf("no metrics: %s", hubTask.MetricsError)
	} else {
		t.Logf("registry:3 after one pull on each of 2 nodes: blob requests %d hits %d misses %d pulled %d B; manifest requests %d hits %d misses %d; upstream log: %d requests",
			m.Blob.Requests, m.Blob.Hits, m.Blob.Misses, m.Blob.PulledBytes, m.Manifest.Requests, m.Manifest.Hits, m.Manifest.Misses, len(fetched))
		if m.Blob.Misses == 0 || m.Blob.Hits != m.Blob.Misses || m.Blob.Requests != m.Blob.Hits+m.Blob.Misses || m.Blob.PulledBytes == 0 || m.BlobHitRatio == nil || *m.BlobHitRatio != 0.5 {
			t.Errorf("blobs: two sequential pulls of one image must be one miss and one hit per blob: %+v", m.Blob)
		}
	}
	if a := hubTask.Check.Allowance; a == nil || a.Remaining >= 100 {
		t.Errorf("the cache's manifest GETs count against its allowance: %+v", a)
	} else {
		t.Logf("allowance after the pulls: %d/%d for %s", a.Remaining, a.Limit, a.Source)
	}

	// One pull of a cold image on each of 4 nodes at once: what registry:3
	// counts (internal/regmetrics/doc.go: a blob still being fetched for
	// one client is fetched again for the next, a second miss).
	before := hubTask.Metrics
	mark = hubLog{l}.mark(t)
	nodes := []string{"manager2", "manager3", "worker1", "worker2"}
	errs := make(chan error, len(nodes))
	for _, m := range nodes {
		go func() {
			out, err := l.Exec(ctx, m, "sh", "-c", fetchScript, "fetch", "http://"+mgr.IP+":5000", lab.BenchRepo, lab.BenchTag)
			if err != nil {
				err = fmt.Errorf("%s: %v: %s", m, err, out)
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent pull: %v", err)
		}
	}
	blobGets := 0
	for _, a := range (hubLog{l}).since(t, mark, lab.BenchRepo) {
		if strings.Contains(a.Path, "/blobs/") && a.Method == "GET" {
			blobGets++
		}
	}
	_, doc = upstreamStatus(t, env)
	if after := doc.Upst[0].Tasks[0].Metrics; after != nil && before != nil {
		hits, misses := after.Blob.Hits-before.Blob.Hits, after.Blob.Misses-before.Blob.Misses
		t.Logf("registry:3 after one pull of %s:%s on each of %d nodes at once: blob hits %d misses %d (requests %d), bytes from upstream %d; the upstream served %d blob GETs",
			lab.BenchRepo, lab.BenchTag, len(nodes), hits, misses, after.Blob.Requests-before.Blob.Requests, after.Blob.PulledBytes-before.Blob.PulledBytes, blobGets)
		if misses == 0 || int(misses) != blobGets || hits+misses != after.Blob.Requests-before.Blob.Requests {
			t.Errorf("blob misses %d must be the upstream's blob GETs %d, hits+misses the requests", misses, blobGets)
		}
	}

	// The Hub stopped: exit 1, the upstream named with the reason and
	// what it means; started again: exit 0.
	if err := hub.SetDown(ctx, true); err != nil {
		t.Fatal(err)
	}
	r, doc = upstreamStatus(t, env)
	down := doc.problem("upstream-unreachable")
	if r.Code != 1 || doc.Health != "degraded" || !strings.Contains(down, "manager1: upstream docker.io (https://registry-1.docker.io) unreachable from the cache on manager1") ||
		!strings.Contains(strings.ToLower(down), "connection refused") || !strings.Contains(down, "new images cannot be fetched") || strings.Contains(down, "ghcr.io") {
		t.Errorf("hub down: exit %d %s\n%s", r.Code, doc.Health, down)
	}
	if err := hub.SetDown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if r, doc = upstreamStatus(t, env); r.Code != 0 {
		t.Errorf("hub up again: exit %d %v", r.Code, doc.Problems)
	}

	// ghcr.io asks for credentials its cache does not have: a 401 without
	// credentials is what that upstream says to everyone, no problem.
	ghcr, err := l.StandIn("ghcr.io")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ghcr.Configure(context.Background(), front.Config{}) })
	if err := ghcr.Configure(ctx, front.Config{Auth: &front.Auth{Mode: front.AuthBasic, Username: "someone", Password: "x"}}); err != nil {
		t.Fatal(err)
	}
	r, doc = upstreamStatus(t, env)
	if c := doc.Upst[1].Tasks[0].Check; r.Code != 0 || c == nil || c.Credentials != "none" || !c.Reachable {
		t.Errorf("ghcr.io asking for credentials the cache has none of: exit %d %v %+v", r.Code, doc.Problems, c)
	}
	ghcr.Configure(ctx, front.Config{})

	// The cache's password refused: degraded, the user named, no password.
	configure(front.Config{Auth: &front.Auth{Mode: front.AuthToken, Username: "mirror", Password: "Other-pw-0815", Anonymous: true}, RateLimit: hubRate})
	r, doc = upstreamStatus(t, env)
	cred := doc.problem("upstream-credentials")
	if r.Code != 1 || !strings.Contains(cred, "refuses the credentials of the cache on manager1 (user mirror)") {
		t.Errorf("wrong password: exit %d\n%s", r.Code, cred)
	}
	rt := swarmctl(t, env, "mirror", "status", "--limit", "manager1", "--no-discover", "-v")
	for _, out := range []string{r.Stdout, r.Stderr, rt.Stdout, rt.Stderr} {
		if strings.Contains(out, password) || strings.Contains(out, "Other-pw-0815") {
			t.Errorf("a password was printed:\n%s", out)
		}
	}
	if rt.Code != 1 || !strings.Contains(rt.Stdout, "mirror rejected") {
		t.Errorf("text, wrong password: exit %d\n%s", rt.Code, rt.Stdout)
	}

	// No pulls left: degraded.
	configure(front.Config{Auth: hubAuth, RateLimit: &front.RateLimit{Limit: 0, Window: front.Duration(time.Hour)}})
	r, doc = upstreamStatus(t, env)
	if r.Code != 1 || !strings.Contains(doc.problem("pull-allowance"), "upstream docker.io: no pulls left for the cache on manager1") {
		t.Errorf("no pulls left: exit %d %v", r.Code, doc.Problems)
	}
	configure(front.Config{Auth: hubAuth, RateLimit: hubRate})

	// ghcr.io's cache on a 20 MiB volume: 95% full is a warning, 99% degraded.
	inMachine(t, l, mgr.Name, "sh", "-c", `mount -t tmpfs -o size=20m tmpfs "$1" && dd if=/dev/zero of="$1/fill" bs=1k count=19456 2>/dev/null`, "sh", dataDir)
	r, doc = upstreamStatus(t, env)
	if r.Code != 0 || !strings.Contains(strings.Join(doc.Warnings, "\n"), "cache of ghcr.io on manager1: 1.0 MiB free of 20.0 MiB on "+dataDir+" (5.0%)") {
		t.Errorf("95%% full: exit %d %v %v", r.Code, doc.Problems, doc.Warnings)
	}
	inMachine(t, l, mgr.Name, "sh", "-c", `dd if=/dev/zero of="$1/fill2" bs=1k count=800 2>/dev/null`, "sh", dataDir)
	r, doc = upstreamStatus(t, env)
	if low := doc.problem("disk-low"); r.Code != 1 || !strings.Contains(low, "manager1: cache of ghcr.io: ") || !strings.Contains(low, "free of 20.0 MiB on "+dataDir) {
		t.Errorf("99%% full: exit %d %v", r.Code, doc.Problems)
	}
}

// caStatusDoc is the `ca` part of `mirror status -o json`.
type caStatusDoc struct {
	Health   string       `json:"health"`
	Problems []problemDoc `json:"problems"`
	Warnings []string     `json:"warnings"`
	CA       *struct {
		File  string   `json:"file"`
		Hosts []string `json:"hosts"`
		Nodes []struct {
			Node  string `json:"node"`
			Path  string `json:"path"`
			State string `json:"state"`
		} `json:"nodes"`
		Certificates []struct {
			URL   string `json:"url"`
			Check *struct {
				OK       bool     `json:"ok"`
				Problems []string `json:"problems"`
				Reason   string   `json:"reason"`
				DaysLeft int      `json:"days_left"`
				IPs      []string `json:"ips"`
			} `json:"check"`
			Error string `json:"error"`
		} `json:"certificates"`
	} `json:"ca"`
	Upst []struct {
		Tasks []struct {
			Metrics *struct {
				Source    string `json:"source"`
				BlobKnown bool   `json:"blob_known"`
			} `json:"metrics"`
			MetricsError string `json:"metrics_error"`
		} `json:"tasks"`
	} `json:"upstreams"`
}

func caStatus(t *testing.T, env []string) (result, caStatusDoc) {
	t.Helper()
	r := swarmctl(t, env, "mirror", "status", "--limit", "manager1", "--no-discover", "-o", "json")
	var doc caStatusDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || doc.CA == nil {
		t.Fatalf("mirror status -o json: no ca section: %v\n%s", err, r.Stdout)
	}
	return r, doc
}

func (d caStatusDoc) problem(code string) string {
	var out []string
	for _, p := range d.Problems {
		if p.Code == code {
			out = append(out, p.Node+": "+p.Message)
		}
	}
	return strings.Join(out, "\n")
}

// TestStatusCompanyCA (issue 12, status side): the registry serves HTTPS
// with a certificate from a company CA (mirror.ca_file). A node without
// the CA in /etc/docker/certs.d/<host:port>/ca.crt is named; with it
// (placed by hand here) it is not; the chain is shown valid with its days
// left; a certificate for another host makes status degraded, saying so.
func TestStatusCompanyCA(t *testing.T) {
	l := needLab(t)
	mgr := l.Manager()
	dir := t.TempDir()
	caCert, caKey, caDER := companyCA(t, "swarmctl e2e status CA")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	caFile := filepath.Join(dir, "company-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	url := "https://" + mgr.IP + ":5443"
	inv := func(cert, key string) []string {
		return []string{"SWARMCTL_INVENTORY=" + stackInventory(t, l, func(m map[string]any) {
			m["url"], m["tls_cert"], m["tls_key"], m["publish"], m["ca_file"] = url, cert, key, 5443, caFile
			delete(m, "insecure")
		})}
	}
	cert, key := serverCert(t, dir, mgr.IP, "2", caCert, caKey)
	env := inv(cert, key)
	certsDir := "/etc/docker/certs.d/" + mgr.IP + ":5443"
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	inMachine(t, l, mgr.Name, "rm", "-rf", certsDir)
	t.Cleanup(func() {
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		l.Exec(context.Background(), mgr.Name, "rm", "-rf", certsDir)
	})
	if r := swarmctl(t, env, "mirror", "install"); r.Code != 0 {
		t.Fatalf("install with TLS: exit %d", r.Code)
	}

	// No CA on the node: named, with the path, before any pull fails.
	r, doc := caStatus(t, env)
	missing := doc.problem("ca-missing")
	if r.Code != 1 || !strings.Contains(missing, "manager1: "+certsDir+"/ca.crt is missing") {
		t.Errorf("CA missing: exit %d %q %v", r.Code, missing, doc.Problems)
	}
	if c := doc.CA.Certificates; len(c) != 1 || c[0].URL != url || c[0].Check == nil || !c[0].Check.OK || c[0].Check.DaysLeft != 0 ||
		len(c[0].Check.IPs) != 1 || c[0].Check.IPs[0] != mgr.IP {
		t.Errorf("certificate: %+v", c)
	}
	// registry:2 (the lab's image): its counters from /debug/vars, blobs unknown.
	if u := doc.Upst; len(u) != 1 || len(u[0].Tasks) != 1 || u[0].Tasks[0].Metrics == nil || u[0].Tasks[0].Metrics.Source != "expvar" || u[0].Tasks[0].Metrics.BlobKnown {
		t.Errorf("registry:2 metrics: %+v", u)
	}
	if doc.problem("tls-invalid") != "" {
		t.Errorf("a chain valid with the CA file is not a TLS problem: %v", doc.Problems)
	}

	// The CA placed by hand: identical, no CA problem; the text says so.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := l.ExecStdin(ctx, mgr.Name, bytes.NewReader(caPEM), "sh", "-c", `mkdir -p "$1" && cat > "$1/ca.crt"`, "sh", certsDir); err != nil {
		t.Fatalf("placing the CA: %v\n%s", err, out)
	}
	r, doc = caStatus(t, env)
	if doc.problem("ca-missing")+doc.problem("ca-differs")+doc.problem("mirror-certificate") != "" || len(doc.CA.Nodes) != 1 || doc.CA.Nodes[0].State != "ok" {
		t.Errorf("CA in place: %v %+v", doc.Problems, doc.CA.Nodes)
	}
	rt := swarmctl(t, env, "mirror", "status", "--limit", "manager1", "--no-discover")
	if !strings.Contains(rt.Stdout, "Certificate "+url+": valid with "+caFile+", for "+mgr.IP+", expires in 0 days") ||
		!strings.Contains(rt.Stdout, "CA file "+caFile+": identical on 1 of 1 node checks") {
		t.Errorf("text status with the CA:\n%s", rt.Stdout)
	}

	// A certificate for another host: degraded, with the reason.
	wrong, wkey := serverCert(t, dir, "10.9.9.9", "3", caCert, caKey)
	env = inv(wrong, wkey)
	if r := swarmctl(t, env, "mirror", "install"); r.Code != 0 {
		t.Fatalf("install with the wrong-host certificate: exit %d", r.Code)
	}
	r, doc = caStatus(t, env)
	bad := doc.problem("mirror-certificate")
	if r.Code != 1 || doc.Health != "degraded" || !strings.Contains(bad, "the certificate is for 10.9.9.9, not "+mgr.IP) {
		t.Errorf("wrong host: exit %d %q %v", r.Code, bad, doc.Problems)
	}
}
