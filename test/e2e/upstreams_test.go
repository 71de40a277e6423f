package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
)

// The stack side of issues 12, 13 and 15 on the lab: one cache per
// upstream (added, removed, added again), TLS served by the registry with
// a company CA, replicas on the managers. Every pull through a cache is
// proven by the upstream's access log: only the cache's node fetched.

// stackInventory is the lab's inventory with its mirror section edited
// by edit (the lab's nodes, key and known_hosts kept).
func stackInventory(t *testing.T, l *lab.Lab, edit func(m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	var inv map[string]any
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatal(err)
	}
	m := inv["mirror"].(map[string]any)
	m["constraints"] = []string{"node.hostname==" + l.Manager().Name}
	edit(m)
	out, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "swarmctl.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hubLog reads the access log of the lab's Docker Hub stand-in (the
// upstream every cache of these tests fetches from): its front records
// each request's client address, so a fetch by a node shows as that node.
type hubLog struct {
	l *lab.Lab
}

// accessLine is one request the upstream served.
type accessLine struct{ Client, Method, Path, Status string }

// entries are the requests after mark.
func (u hubLog) entries(t *testing.T, mark int) []accessLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es, err := u.l.Hub().Log(ctx, int64(mark))
	if err != nil {
		t.Fatalf("upstream access log: %v", err)
	}
	var ls []accessLine
	for _, e := range es {
		ls = append(ls, accessLine{e.Client, e.Method, e.Path, strconv.Itoa(e.Status)})
	}
	return ls
}

// mark is the access log's position now.
func (u hubLog) mark(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := u.l.Hub().Mark(ctx)
	if err != nil {
		t.Fatalf("upstream access log: %v", err)
	}
	return int(m)
}

// since returns the requests after mark for repo's manifests and blobs.
func (u hubLog) since(t *testing.T, mark int, repo string) []accessLine {
	t.Helper()
	var out []accessLine
	for _, a := range u.entries(t, mark) {
		if strings.HasPrefix(a.Path, "/v2/"+repo+"/") {
			out = append(out, a)
		}
	}
	return out
}

// onlyFrom checks that since mark the upstream served repo's manifest to
// want (the caches' nodes) and to no one else; it returns the manifest
// fetches by client.
func (u hubLog) onlyFrom(t *testing.T, mark int, repo string, want ...string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, a := range u.since(t, mark, repo) {
		if !slices.Contains(want, a.Client) {
			t.Errorf("the upstream served %s %s to %s: a pull went around the mirror (want only %v)", a.Method, a.Path, a.Client, want)
		}
		if strings.Contains(a.Path, "/manifests/") && a.Status == "200" {
			got[a.Client]++
		}
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("the upstream's access log shows no manifest fetch of %s by the cache's node %s: %v", repo, w, got)
		}
	}
	return got
}

// fetchScript pulls an image through a registry the way docker does, at
// the HTTP level (the lab's nodes have no insecure-registries for the
// caches' plain-http ports): the manifest, then every blob it names.
const fetchScript = `base=$1; repo=$2; tag=$3
m=$(curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$base/v2/$repo/manifests/$tag") || exit 1
n=0
for d in $(printf '%s' "$m" | grep -o 'sha256:[0-9a-f]\{64\}' | sort -u); do
  curl -fsS -o /dev/null "$base/v2/$repo/blobs/$d" || exit 1
  n=$((n+1))
done
echo "$n blobs"`

// fetchThrough pulls repo:tag through the registry at base from machine.
func fetchThrough(t *testing.T, l *lab.Lab, machine, base, repo, tag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := l.Exec(ctx, machine, "sh", "-c", fetchScript, "fetch", base, repo, tag)
	if err != nil {
		t.Fatalf("%s: pull %s:%s through %s: %v\n%s", machine, repo, tag, base, err, out)
	}
	t.Logf("%s: pulled %s:%s through %s (%s) in %s", machine, repo, tag, base, strings.TrimSpace(out), time.Since(start).Round(10*time.Millisecond))
}

func worker(l *lab.Lab) lab.Machine {
	for _, m := range l.Machines() {
		if m.Role == "worker" {
			return m
		}
	}
	return l.Manager()
}

// stackServices are the stack's services on the manager.
func stackServices(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	out := inMachine(t, l, l.Manager().Name, "docker", "service", "ls", "--filter", "label=com.docker.stack.namespace=registry", "--format", "{{.Name}}")
	s := strings.Fields(out)
	slices.Sort(s)
	return s
}

// stackObjects are the stack's swarm configs or secrets.
func stackObjects(t *testing.T, l *lab.Lab, kind string) []string {
	t.Helper()
	out := inMachine(t, l, l.Manager().Name, "docker", kind, "ls", "--filter", "label=com.docker.stack.namespace=registry", "--format", "{{.Name}}")
	s := strings.Fields(out)
	slices.Sort(s)
	return s
}

type upstreamsDoc struct {
	Changed bool   `json:"changed"`
	Error   string `json:"error"`
	Result  struct {
		Deployed bool     `json:"deployed"`
		Wrote    []string `json:"wrote"`
		Cleaned  []string `json:"cleaned"`
		Plan     struct {
			Removed []struct {
				Service string `json:"service"`
				DataDir string `json:"data_dir"`
			} `json:"removed"`
		} `json:"plan"`
		Labelled []string `json:"labelled"`
		Services []struct {
			Registry  string `json:"registry"`
			Service   string `json:"service"`
			Converged bool   `json:"converged"`
			Running   int    `json:"running"`
			Desired   int    `json:"desired"`
			Health    []struct {
				URL  string `json:"url"`
				OK   bool   `json:"ok"`
				Node string `json:"node"`
			} `json:"health"`
		} `json:"services"`
	} `json:"result"`
}

func installUpstreams(t *testing.T, env []string, args ...string) (result, upstreamsDoc) {
	t.Helper()
	r := swarmctl(t, env, append([]string{"mirror", "install", "-o", "json"}, args...)...)
	var doc upstreamsDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("mirror install -o json: %v\n%s", err, r.Stdout)
	}
	return r, doc
}

// TestMirrorUpstreams: three upstreams installed (one cache each, each
// proven by a pull through it that only the cache's node fetched from the
// upstream), one removed (its service goes, its data directory stays, its
// config goes), put back, and a second run changes nothing.
func TestMirrorUpstreams(t *testing.T) {
	l := needLab(t)
	mgr := l.Manager()
	up := hubLog{l}
	three := []any{"docker.io",
		map[string]any{"registry": "ghcr.io", "remote_url": l.UpstreamAddr()},
		map[string]any{"registry": "quay.io", "remote_url": l.UpstreamAddr()}}
	invThree := stackInventory(t, l, func(m map[string]any) { m["registries"] = three })
	invTwo := stackInventory(t, l, func(m map[string]any) { m["registries"] = []any{three[0], three[2]} })
	env3, env2 := []string{"SWARMCTL_INVENTORY=" + invThree}, []string{"SWARMCTL_INVENTORY=" + invTwo}
	if r := swarmctl(t, env3, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	t.Cleanup(func() {
		swarmctl(t, env3, "mirror", "uninstall", "--purge", "--yes")
		freshOverlay(t, l)
	})

	// Render shows every file; the dry run every diff.
	if r := swarmctl(t, env3, "mirror", "render"); r.Code != 0 || strings.Count(r.Stdout, "remoteurl: ") != 3 ||
		!strings.Contains(r.Stdout, "mirror install writes it to /var/data/registry/ghcr-io.yml (mode 0644)\n") || !strings.Contains(r.Stdout, "registry-mirror-quay-io:") {
		t.Errorf("render: exit %d", r.Code)
	}
	if r := swarmctl(t, env3, "mirror", "install", "--dry-run"); r.Code != 0 || !strings.Contains(r.Stdout, "+++ /var/data/registry/quay-io.yml (rendered)") {
		t.Errorf("dry run: exit %d", r.Code)
	}

	start := time.Now()
	r, doc := installUpstreams(t, env3)
	if r.Code != 0 || !doc.Result.Deployed || len(doc.Result.Services) != 3 {
		t.Fatalf("install of three upstreams: exit %d %+v", r.Code, doc)
	}
	t.Logf("install of three upstreams: %s", time.Since(start).Round(100*time.Millisecond))
	for i, s := range doc.Result.Services {
		port := []string{"5000", "5001", "5002"}[i]
		if !s.Converged || s.Running != 1 || len(s.Health) != 1 || !s.Health[0].OK || !strings.HasSuffix(s.Health[0].URL, ":"+port+"/v2/") {
			t.Errorf("%s: %+v (want it answering on port %s)", s.Registry, s, port)
		}
	}
	want := []string{"registry_registry-mirror", "registry_registry-mirror-ghcr-io", "registry_registry-mirror-quay-io"}
	if got := stackServices(t, l); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	// Each cache pulls through from the upstream; only the manager (where
	// the caches run) appears in the upstream's log, the worker never.
	w := worker(l)
	for _, port := range []string{"5000", "5001", "5002"} {
		mark := up.mark(t)
		fetchThrough(t, l, w.Name, "http://"+mgr.IP+":"+port, "library/busybox", "latest")
		up.onlyFrom(t, mark, "library/busybox", mgr.IP)
	}
	// Credentials of one upstream stay in its own config.
	for _, f := range []string{"/var/data/registry/ghcr-io.yml", "/var/data/registry/quay-io.yml"} {
		if !strings.Contains(inMachine(t, l, mgr.Name, "cat", f), "remoteurl: "+l.UpstreamAddr()) {
			t.Errorf("%s lacks its upstream", f)
		}
	}
	ghcrConfigs := len(stackObjects(t, l, "config"))

	// ghcr.io taken out: one stack change.
	r, doc = installUpstreams(t, env2)
	if r.Code != 0 || !doc.Result.Deployed || len(doc.Result.Plan.Removed) != 1 || doc.Result.Plan.Removed[0].Service != "registry_registry-mirror-ghcr-io" {
		t.Fatalf("install without ghcr.io: exit %d %+v", r.Code, doc)
	}
	if got := stackServices(t, l); !slices.Equal(got, []string{"registry_registry-mirror", "registry_registry-mirror-quay-io"}) {
		t.Errorf("services after removing ghcr.io: %v", got)
	}
	if out := inMachine(t, l, mgr.Name, "sh", "-c", `test -d "$1" && echo kept`, "sh", "/var/data/registry/registry-mirror-data-ghcr-io"); strings.TrimSpace(out) != "kept" {
		t.Error("ghcr.io's data directory was not kept")
	}
	if out, _ := l.Exec(context.Background(), mgr.Name, "test", "-e", "/var/data/registry/ghcr-io.yml"); !slices.Contains(doc.Result.Cleaned, "/var/data/registry/ghcr-io.yml") {
		t.Errorf("ghcr.io's config file not cleaned: %v %s", doc.Result.Cleaned, out)
	}
	if n := len(stackObjects(t, l, "config")); n >= ghcrConfigs {
		t.Errorf("configs %d after removing an upstream, %d before: the unused one stays", n, ghcrConfigs)
	}

	// Back to three; then the same three: nothing to do.
	if r, doc = installUpstreams(t, env3); r.Code != 0 || !doc.Result.Deployed {
		t.Fatalf("ghcr.io back: exit %d", r.Code)
	}
	before := serviceVersion(t, l)
	r, doc = installUpstreams(t, env3)
	if r.Code != 0 || doc.Changed || doc.Result.Deployed || len(doc.Result.Wrote) != 0 || len(doc.Result.Cleaned) != 0 {
		t.Errorf("second run must change nothing: exit %d %+v", r.Code, doc)
	}
	if after := serviceVersion(t, l); after != before {
		t.Errorf("a no-op install updated the service: %s -> %s", before, after)
	}
	// The re-added cache still has what it cached before (its data was kept).
	mark := up.mark(t)
	fetchThrough(t, l, w.Name, "http://"+mgr.IP+":5001", "library/busybox", "latest")
	if ls := up.since(t, mark, "library/busybox"); slices.ContainsFunc(ls, func(a accessLine) bool { return strings.Contains(a.Path, "/blobs/") }) {
		t.Errorf("the re-added cache fetched blobs again (its data directory was kept): %v", ls)
	}

	// Uninstall --purge removes every service, config and data directory.
	if r := swarmctl(t, env3, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.Code)
	}
	if s, c := stackServices(t, l), stackObjects(t, l, "config"); len(s)+len(c) != 0 {
		t.Errorf("left after uninstall: services %v configs %v", s, c)
	}
	for _, d := range []string{"registry-mirror-data", "registry-mirror-data-ghcr-io", "registry-mirror-data-quay-io", "ghcr-io.yml", "quay-io.yml"} {
		if out, err := l.Exec(context.Background(), mgr.Name, "test", "-e", "/var/data/registry/"+d); err == nil {
			t.Errorf("/var/data/registry/%s left after --purge %s", d, out)
		}
	}
}

// serverCert writes mirror-<serial>.crt/.key for ip signed by the CA.
func serverCert(t *testing.T, dir, ip, serial string, caCert *x509.Certificate, caKey *ecdsa.PrivateKey) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := new(big.Int).SetString(serial, 10)
	tmpl := &x509.Certificate{SerialNumber: n, Subject: pkix.Name{CommonName: ip}, IPAddresses: []net.IP{net.ParseIP(ip)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	cert, key = filepath.Join(dir, "mirror-"+serial+".crt"), filepath.Join(dir, "mirror-"+serial+".key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, key
}

// TestMirrorTLSCompanyCA: the registry serves HTTPS itself with a
// certificate from a company CA; a node that trusts the CA through
// /etc/docker/certs.d pulls through it (and one that does not, cannot);
// the key is 0600 on the manager, a swarm secret, never printed; a new
// certificate rolls the service and the old secrets go.
func TestMirrorTLSCompanyCA(t *testing.T) {
	l := needLab(t)
	mgr, w := l.Manager(), worker(l)
	up := hubLog{l}
	dir := t.TempDir()
	caCert, caKey, caDER := companyCA(t, "swarmctl e2e company CA")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	cert, key := serverCert(t, dir, mgr.IP, "2", caCert, caKey)
	keyPEM, _ := os.ReadFile(key)
	keyLine := strings.Split(string(keyPEM), "\n")[1]
	// Port 5443: earlier tests may have listed <manager>:5000 in the
	// nodes' insecure-registries, which would let a pull skip the CA.
	url := "https://" + mgr.IP + ":5443"
	caFile := filepath.Join(dir, "company-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tlsInv := func(cert, key string) string {
		return stackInventory(t, l, func(m map[string]any) {
			m["url"], m["tls_cert"], m["tls_key"], m["publish"], m["ca_file"] = url, cert, key, 5443, caFile
			delete(m, "insecure")
		})
	}
	env := []string{"SWARMCTL_INVENTORY=" + tlsInv(cert, key)}
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	certsDir := "/etc/docker/certs.d/" + mgr.IP + ":5443"
	t.Cleanup(func() {
		swarmctl(t, env, "nodes", "configure", "--remove", "--apply", "none", "--yes")
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		l.Exec(context.Background(), w.Name, "rm", "-rf", certsDir)
		// The image's layers would let a later pull of busybox skip the
		// blobs (and a cache then looks empty).
		l.Exec(context.Background(), w.Name, "docker", "rmi", "-f", mgr.IP+":5443/library/busybox:latest")
		freshOverlay(t, l)
	})

	// The key never shows: render, dry run, install -v.
	outputs := map[string]result{}
	outputs["render"] = swarmctl(t, env, "mirror", "render")
	outputs["dry run"] = swarmctl(t, env, "mirror", "install", "--dry-run")
	r, doc := installUpstreams(t, append(env, "SWARMCTL_VERBOSE=true"))
	outputs["install"] = r
	if r.Code != 0 || !doc.Result.Deployed || len(doc.Result.Services) != 1 || !doc.Result.Services[0].Health[0].OK ||
		!strings.HasPrefix(doc.Result.Services[0].Health[0].URL, "https://") {
		t.Fatalf("install with TLS: exit %d %+v", r.Code, doc)
	}
	for what, o := range outputs {
		if strings.Contains(o.Stdout+o.Stderr, keyLine) {
			t.Errorf("the TLS key shows in the %s output", what)
		}
	}
	if !strings.Contains(outputs["render"].Stdout, "the TLS key, never shown") {
		t.Error("render does not say the key is not shown")
	}
	keyFile := "/var/data/registry/registry-mirror-tls-key.pem"
	if mode := strings.TrimSpace(inMachine(t, l, mgr.Name, "stat", "-c", "%a %U", keyFile)); mode != "600 root" {
		t.Errorf("%s is %s, want 600 root", keyFile, mode)
	}
	secrets := stackObjects(t, l, "secret")
	if len(secrets) != 2 {
		t.Errorf("secrets %v, want the certificate and the key", secrets)
	}
	if spec := inMachine(t, l, mgr.Name, "docker", "service", "inspect", "registry_registry-mirror"); strings.Contains(spec, keyLine) {
		t.Error("the key is in the service spec")
	}

	// A node without the CA cannot pull; with it in certs.d it can, and
	// only the manager fetched from the upstream.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	image := mgr.IP + ":5443/library/busybox:latest"
	if info := inMachine(t, l, w.Name, "docker", "info", "--format", "{{json .RegistryConfig.IndexConfigs}}"); strings.Contains(info, mgr.IP+":5443") {
		t.Fatalf("%s already lists %s:5443 (insecure?): %s", w.Name, mgr.IP, info)
	}
	l.Exec(ctx, w.Name, "docker", "rmi", "-f", image)
	if out, err := l.Exec(ctx, w.Name, "docker", "pull", image); err == nil || !strings.Contains(out, "certificate") {
		t.Errorf("pull without the CA: %v\n%s", err, out)
	}
	// nodes configure puts the CA on every node (issue 12); --apply none:
	// the CA needs no reload or restart, and daemon.json's change waits.
	if r := swarmctl(t, env, "nodes", "list"); !strings.Contains(r.Stderr, w.Name+": mirror CA missing: "+certsDir+"/ca.crt") {
		t.Errorf("nodes list does not report the missing CA:\n%s", r.Stderr)
	}
	caMissing := func() map[string]bool {
		_, sdoc := statusJSON(t, env)
		out := map[string]bool{}
		for _, p := range sdoc.Problems {
			if p.Code == "ca-missing" {
				out[p.Node] = true
			}
		}
		return out
	}
	if got := caMissing(); len(got) != len(l.Machines()) || !got[w.Name] {
		t.Errorf("mirror status: ca-missing on %v, want every node", got)
	}
	if r := swarmctl(t, env, "nodes", "configure", "--apply", "none", "--dry-run"); r.Code != 0 || !strings.Contains(r.Stdout, "+++ "+certsDir+"/ca.crt (swarmctl)") {
		t.Errorf("configure --dry-run: exit %d, no ca.crt diff:\n%s", r.Code, r.Stdout)
	}
	before := snapshots(t, l)
	r, cdoc := configureFilesJSON(t, env, "--apply", "none")
	if r.Code != 0 {
		t.Fatalf("configure with the company CA: exit %d", r.Code)
	}
	for _, n := range cdoc.Nodes {
		if len(n.Files) != 1 || n.Files[0].Path != certsDir+"/ca.crt" || n.Files[0].Action != "create" {
			t.Errorf("%s: certs.d files %+v, want create %s/ca.crt", n.Name, n.Files, certsDir)
		}
	}
	for _, m := range inventoryMachines(l) {
		got := inMachine(t, l, m.Name, "sh", "-c", `stat -c '%U %a' "$1" && sed -n '/BEGIN/,$p' "$1"`, "sh", certsDir+"/ca.crt")
		if want := "root 644\n" + string(caPEM); got != want {
			t.Errorf("%s: %s/ca.crt is\n%s\nwant\n%s", m.Name, certsDir, got, want)
		}
	}
	for name, s := range snapshots(t, l) {
		if b := before[name]; b.PID != s.PID || b.Start != s.Start {
			t.Errorf("%s: dockerd restarted for the CA: pid %d -> %d", name, b.PID, s.PID)
		}
	}
	if r := swarmctl(t, env, "nodes", "list"); strings.Contains(r.Stderr, "mirror CA missing") {
		t.Errorf("nodes list still reports a missing CA:\n%s", r.Stderr)
	}
	// A swarm member the inventory does not list (a node added later: one
	// another test added, else one added now) has no CA: status names it,
	// and the CI job (nodes configure --discover) fixes it.
	var added []string
	for _, m := range l.Machines() {
		if m.Added {
			added = append(added, m.Name)
		}
	}
	if len(added) == 0 {
		nm, err := l.AddMachine(ctx)
		if err != nil {
			t.Fatalf("AddMachine: %v", err)
		}
		added = append(added, nm.Name)
	}
	got := caMissing()
	for _, n := range added {
		if !got[n] {
			t.Errorf("mirror status: the added node %s not named ca-missing (%v)", n, got)
		}
	}
	if len(got) != len(added) {
		t.Errorf("mirror status: ca-missing on %v after nodes configure, want only the added nodes %v", got, added)
	}
	if r, _ := configureFilesJSON(t, env, "--discover", "--apply", "none"); r.Code != 0 {
		t.Fatalf("configure --discover (the CI job): exit %d", r.Code)
	}
	if got := caMissing(); len(got) != 0 {
		t.Errorf("mirror status: ca-missing on %v after nodes configure --discover", got)
	}
	mark := up.mark(t)
	start := time.Now()
	if out, err := l.Exec(ctx, w.Name, "docker", "pull", image); err != nil {
		t.Fatalf("docker pull %s on %s with the company CA: %v\n%s", image, w.Name, err, out)
	}
	t.Logf("docker pull over HTTPS through the mirror on %s: %s", w.Name, time.Since(start).Round(100*time.Millisecond))
	up.onlyFrom(t, mark, "library/busybox", mgr.IP)
	l.Exec(ctx, w.Name, "docker", "rmi", "-f", image)
	// A second run changes no file; --remove takes the CA out again.
	if r, cdoc = configureFilesJSON(t, env, "--apply", "none"); r.Code != 0 {
		t.Fatalf("configure again: exit %d", r.Code)
	}
	for _, n := range cdoc.Nodes {
		if len(n.Files) != 0 {
			t.Errorf("second run: %s changes %+v", n.Name, n.Files)
		}
	}
	if r, cdoc = configureFilesJSON(t, env, "--remove", "--discover", "--apply", "none"); r.Code != 0 {
		t.Fatalf("configure --remove: exit %d", r.Code)
	}
	for _, m := range l.Machines() {
		if out, err := l.Exec(ctx, m.Name, "test", "-e", certsDir); err == nil {
			t.Errorf("%s: %s left after --remove %s", m.Name, certsDir, out)
		}
	}
	if out, err := l.Exec(ctx, w.Name, "docker", "pull", image); err == nil || !strings.Contains(out, "certificate") {
		t.Errorf("pull after the CA was removed: %v\n%s", err, out)
	}
	if out, err := l.ExecStdin(ctx, w.Name, bytes.NewReader(caPEM), "sh", "-c", `mkdir -p "$1" && cat > "$1/ca.crt"`, "sh", certsDir); err != nil {
		t.Fatalf("writing the CA on %s for the certificate roll: %v\n%s", w.Name, err, out)
	}

	// A new certificate: new secrets, the service rolls, the old go.
	cert2, key2 := serverCert(t, dir, mgr.IP, "3", caCert, caKey)
	env2 := []string{"SWARMCTL_INVENTORY=" + tlsInv(cert2, key2)}
	r, doc = installUpstreams(t, env2)
	if r.Code != 0 || !doc.Result.Deployed {
		t.Fatalf("new certificate: exit %d %+v", r.Code, doc)
	}
	after := stackObjects(t, l, "secret")
	if len(after) != 2 || slices.Contains(after, secrets[0]) || slices.Contains(after, secrets[1]) {
		t.Errorf("secrets %v -> %v: want two new ones, the old removed", secrets, after)
	}
	if out, err := l.Exec(ctx, w.Name, "docker", "pull", image); err != nil {
		t.Errorf("pull after the certificate roll: %v\n%s", err, out)
	}
	served := inMachine(t, l, w.Name, "sh", "-c", `echo | openssl s_client -connect "$1" 2>/dev/null | openssl x509 -noout -serial 2>/dev/null || echo none`, "sh", mgr.IP+":5443")
	if strings.TrimSpace(served) != "serial=03" {
		t.Errorf("after the roll the registry serves %q, want the new certificate (serial=03)", strings.TrimSpace(served))
	}

	if r := swarmctl(t, env2, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.Code)
	}
	if s := stackObjects(t, l, "secret"); len(s) != 0 {
		t.Errorf("secrets left after uninstall: %v", s)
	}
	if out, err := l.Exec(ctx, mgr.Name, "test", "-e", keyFile); err == nil {
		t.Errorf("%s left after --purge %s", keyFile, out)
	}
}

// TestMirrorReplicasOnManagers: replicas on the three managers, one
// independent cache each (its own data on its own node), each answering
// on its node; each fetches from the upstream once for its own first
// pull; the label and the data go with uninstall --purge.
func TestMirrorReplicasOnManagers(t *testing.T) {
	l := needLab(t)
	up := hubLog{l}
	var managers []lab.Machine
	var names []string
	for _, m := range l.Machines() {
		if m.Role == "manager" {
			managers = append(managers, m)
			names = append(names, m.Name)
		}
	}
	if len(managers) < 3 {
		t.Fatalf("the lab has %d managers, the test needs 3", len(managers))
	}
	inv := stackInventory(t, l, func(m map[string]any) {
		delete(m, "constraints")
		m["replica_nodes"] = names
		m["registries"] = []any{"docker.io", map[string]any{"registry": "quay.io", "remote_url": l.UpstreamAddr()}}
	})
	env := []string{"SWARMCTL_INVENTORY=" + inv}
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	t.Cleanup(func() {
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		freshOverlay(t, l)
	})

	// A replica node that is not in the swarm: exit 2, nothing changed.
	bad := stackInventory(t, l, func(m map[string]any) {
		delete(m, "constraints")
		m["replica_nodes"] = []string{names[0], "nosuchnode"}
	})
	if r := swarmctl(t, []string{"SWARMCTL_INVENTORY=" + bad}, "mirror", "install"); r.Code != 2 || !strings.Contains(r.Stderr, "replica node nosuchnode is not in the swarm") {
		t.Errorf("unknown replica node: exit %d, want 2", r.Code)
	}
	if s := stackServices(t, l); len(s) != 0 {
		t.Errorf("services %v after a refused install", s)
	}

	start := time.Now()
	r, doc := installUpstreams(t, env)
	if r.Code != 0 || len(doc.Result.Services) != 2 || !slices.Equal(doc.Result.Labelled, names) {
		t.Fatalf("install of 3 replicas: exit %d %+v", r.Code, doc)
	}
	t.Logf("install of 2 upstreams x 3 replicas: %s", time.Since(start).Round(100*time.Millisecond))
	for _, s := range doc.Result.Services {
		if s.Running != 3 || s.Desired != 3 || len(s.Health) != 3 {
			t.Errorf("%s: %+v", s.Registry, s)
		}
	}
	for _, m := range managers {
		labels := inMachine(t, l, l.Manager().Name, "docker", "node", "inspect", "--format", "{{json .Spec.Labels}}", m.Name)
		if !strings.Contains(labels, `"swarmctl.mirror.registry":"true"`) {
			t.Errorf("%s labels %s", m.Name, labels)
		}
		if out := inMachine(t, l, m.Name, "sh", "-c", `ls -d "$1"/* 2>/dev/null`, "sh", "/var/data/registry/registry-mirror-data-quay-io"); strings.TrimSpace(out) != "/var/data/registry/registry-mirror-data-quay-io/"+m.Name {
			t.Errorf("%s: quay.io's data directories there: %q, want only its own", m.Name, out)
		}
	}
	// Each replica is its own cache: each fetches from the upstream for
	// its own first pull, a second pull through it fetches nothing, and
	// no node but the replicas' appears.
	w := worker(l)
	var ips []string
	for _, m := range managers {
		ips = append(ips, m.IP)
	}
	for _, port := range []string{"5000", "5001"} {
		mark := up.mark(t)
		for _, m := range managers {
			fetchThrough(t, l, w.Name, "http://"+m.IP+":"+port, "library/busybox", "latest")
		}
		got := up.onlyFrom(t, mark, "library/busybox", ips...)
		t.Logf("port %s: manifest fetches from the upstream by replica node: %v", port, got)
		// The registry commits a blob to its store after the client has
		// read the last byte: under load the warm pass below came first
		// and the replica fetched the blob again. Wait for the files.
		dataDir := "/var/data/registry/registry-mirror-data"
		if port == "5001" {
			dataDir += "-quay-io"
		}
		for _, m := range managers {
			waitBlobsStored(t, l, m.Name, dataDir+"/"+m.Name, blobDigests(up.since(t, mark, "library/busybox")))
		}
		mark = up.mark(t)
		for _, m := range managers {
			fetchThrough(t, l, w.Name, "http://"+m.IP+":"+port, "library/busybox", "latest")
		}
		for _, a := range up.since(t, mark, "library/busybox") {
			if strings.Contains(a.Path, "/blobs/") {
				t.Errorf("port %s: a warm replica fetched a blob again: %+v", port, a)
			}
		}
	}

	// Again: nothing to do.
	if r, doc := installUpstreams(t, env); r.Code != 0 || doc.Changed {
		t.Errorf("second install: exit %d changed %v", r.Code, doc.Changed)
	}

	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge: exit %d", r.Code)
	}
	for _, m := range managers {
		labels := inMachine(t, l, l.Manager().Name, "docker", "node", "inspect", "--format", "{{json .Spec.Labels}}", m.Name)
		if strings.Contains(labels, "swarmctl.mirror") {
			t.Errorf("%s keeps the label: %s", m.Name, labels)
		}
		if out, err := l.Exec(context.Background(), m.Name, "test", "-e", "/var/data/registry/registry-mirror-data/"+m.Name); err == nil {
			t.Errorf("%s: its replica data is left after --purge %s", m.Name, out)
		}
	}
}

// oldStack is the stack file swarmctl deployed before registry configs
// became swarm objects: the config bind-mounted from the manager.
const oldStack = `version: "3.8"
services:
  registry-mirror:
    image: registry:2
    ports:
      - target: 5000
        published: 5000
        protocol: tcp
        mode: host
    volumes:
      - type: bind
        source: /var/data/registry/registry-mirror-data
        target: /var/lib/registry
      - type: bind
        source: /var/data/registry/registry-mirror-config.yml
        target: /etc/docker/registry/config.yml
        read_only: true
    deploy:
      replicas: 1
      placement:
        constraints: [node.hostname==%s]
`

const oldConfig = `version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
proxy:
  remoteurl: %s
`

// TestMirrorUpgradeExistingInstall: a registry:2 mirror as swarmctl
// installed it before (config bind-mounted) is taken over by one `mirror
// install` with image: registry:2 pinned: the service is updated in place
// (one redeploy), its cache is kept (a pull fetches nothing new from the
// upstream), and a second install changes nothing.
func TestMirrorUpgradeExistingInstall(t *testing.T) {
	l := needLab(t)
	mgr, w := l.Manager(), worker(l)
	up := hubLog{l}
	env := []string{"SWARMCTL_INVENTORY=" + stackInventory(t, l, func(m map[string]any) { m["image"] = "registry:2" })}
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	t.Cleanup(func() {
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
		freshOverlay(t, l)
	})

	// The old install, by hand as the old swarmctl did it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const setup = `mkdir -p /var/data/registry/registry-mirror-data /var/data/config/registry &&
printf '%s' "$1" > /var/data/registry/registry-mirror-config.yml &&
printf '%s' "$2" > /var/data/config/registry/registry.yml &&
docker stack deploy -c /var/data/config/registry/registry.yml registry`
	stackFile := strings.ReplaceAll(oldStack, "%s", mgr.Name)
	cfg := strings.ReplaceAll(oldConfig, "%s", l.UpstreamAddr())
	if out, err := l.Exec(ctx, mgr.Name, "sh", "-c", setup, "sh", cfg, stackFile); err != nil {
		t.Fatalf("old install: %v\n%s", err, out)
	}
	base := "http://" + mgr.IP + ":5000"
	waitMirror(t, base)
	mark := up.mark(t)
	fetchThrough(t, l, w.Name, base, "library/busybox", "latest")
	up.onlyFrom(t, mark, "library/busybox", mgr.IP)

	// Taken over: one redeploy, the same service and data.
	before := inMachine(t, l, mgr.Name, "docker", "service", "inspect", "--format", "{{.ID}}", mirrorService)
	r, doc := installUpstreams(t, env)
	if r.Code != 0 || !doc.Result.Deployed || len(doc.Result.Services) != 1 || !doc.Result.Services[0].Converged {
		t.Fatalf("install over the old stack: exit %d %+v", r.Code, doc)
	}
	if after := inMachine(t, l, mgr.Name, "docker", "service", "inspect", "--format", "{{.ID}}", mirrorService); after != before {
		t.Errorf("the service was replaced (%s -> %s), not updated in place", strings.TrimSpace(before), strings.TrimSpace(after))
	}
	mounts := inMachine(t, l, mgr.Name, "docker", "service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Mounts}} {{json .Spec.TaskTemplate.ContainerSpec.Configs}}", mirrorService)
	if strings.Contains(mounts, "registry-mirror-config.yml") || !strings.Contains(mounts, "/etc/docker/registry/config.yml") {
		t.Errorf("after the upgrade the config must be a swarm config at the v2 path, not a bind mount: %s", mounts)
	}
	mark = up.mark(t)
	fetchThrough(t, l, w.Name, base, "library/busybox", "latest")
	for _, a := range up.since(t, mark, "library/busybox") {
		if strings.Contains(a.Path, "/blobs/") {
			t.Errorf("the upgraded cache fetched a blob again (its data was not kept): %+v", a)
		}
	}
	if r, doc := installUpstreams(t, env); r.Code != 0 || doc.Changed {
		t.Errorf("second install: exit %d changed %v", r.Code, doc.Changed)
	}
}

// companyCA is a fresh CA for one test (a day long): its certificate, key
// and DER bytes.
func companyCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, der
}

// blobDigests are the blob digests fetched in these log lines.
func blobDigests(lines []accessLine) []string {
	var out []string
	for _, a := range lines {
		if i := strings.Index(a.Path, "/blobs/sha256:"); i >= 0 {
			d := strings.TrimPrefix(a.Path[i:], "/blobs/sha256:")
			if j := strings.IndexAny(d, "?/"); j >= 0 {
				d = d[:j]
			}
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// waitBlobsStored waits (up to a minute) until the registry whose data
// directory on node is dataDir holds every blob of digests.
func waitBlobsStored(t *testing.T, l *lab.Lab, node, dataDir string, digests []string) {
	t.Helper()
	if len(digests) == 0 {
		return
	}
	const script = `d=$1; shift
for h in "$@"; do
  p=$(printf '%s/docker/registry/v2/blobs/sha256/%.2s/%s/data' "$d" "$h" "$h")
  [ -s "$p" ] || { echo "missing $p"; exit 1; }
done`
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := l.Exec(ctx, node, append([]string{"sh", "-c", script, "sh", dataDir}, digests...)...)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: blobs not stored in %s after a minute: %v %s", node, dataDir, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
