package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/test/lab/front"
)

// query builds a DNS query for name with the given type.
func query(id uint16, name string, qtype uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:2], id)
	binary.BigEndian.PutUint16(b[2:4], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:6], 1)
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0, byte(qtype>>8), byte(qtype), 0, 1)
	return b
}

func TestDNSReplyNXDOMAIN(t *testing.T) {
	q := query(0xBEEF, "registry.example.org", 28)
	r := DNSReply(q)
	if r == nil {
		t.Fatal("no reply")
	}
	if got := binary.BigEndian.Uint16(r[0:2]); got != 0xBEEF {
		t.Errorf("id = %#x, want 0xbeef", got)
	}
	flags := binary.BigEndian.Uint16(r[2:4])
	if flags&0x8000 == 0 || flags&0xF != rcodeNXDomain || flags&0x0100 == 0 || flags&0x0080 == 0 {
		t.Errorf("flags = %#04x, want QR, RD, RA and NXDOMAIN", flags)
	}
	if qd, an := binary.BigEndian.Uint16(r[4:6]), binary.BigEndian.Uint16(r[6:8]); qd != 1 || an != 0 {
		t.Errorf("qdcount/ancount = %d/%d, want 1/0", qd, an)
	}
	if !bytes.Equal(r[12:], q[12:]) {
		t.Errorf("question not echoed: %x vs %x", r[12:], q[12:])
	}
}

func TestDNSReplyOddMessages(t *testing.T) {
	if r := DNSReply([]byte{1, 2, 3}); r != nil {
		t.Errorf("short message answered: %x", r)
	}
	resp := query(1, "a.b", 1)
	resp[2] |= 0x80
	if r := DNSReply(resp); r != nil {
		t.Errorf("response answered: %x", r)
	}
	trunc := query(2, "abc.def", 1)
	trunc = trunc[:len(trunc)-3]
	if r := DNSReply(trunc); r == nil || r[3]&0xF != rcodeFormErr || binary.BigEndian.Uint16(r[4:6]) != 0 {
		t.Errorf("truncated question: reply %x, want FORMERR without question", r)
	}
	notify := query(3, "a.b", 6)
	notify[2] |= 4 << 3 // opcode NOTIFY
	if r := DNSReply(notify); r == nil || r[3]&0xF != rcodeNotImp {
		t.Errorf("NOTIFY: reply %x, want NOTIMP", r)
	}
}

// The resolver a machine's nested containers use gets "no such host" at
// once from the responder, not a timeout.
func TestServeDNSWithGoResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeDNS(pc) }()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err = r.LookupHost(ctx, "mirror.lab.invalid")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("LookupHost: %v, want not found", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("lookup took %s", d)
	}
	pc.Close()
	if err := <-done; err != nil {
		t.Errorf("ServeDNS after close: %v", err)
	}
}

func TestParseMirror(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n", "http://deb.debian.org/debian"},
		{"Types: deb\nURIs: http://deb.debian.org/debian-security\n", ""},
		{"# comment\ndeb [signed-by=/k.gpg] http://mirror.local/debian bookworm main\n", "http://mirror.local/debian"},
		{"deb http://security.debian.org/debian-security bookworm-security main\ndeb http://m/debian bookworm main\n", "http://m/debian"},
	} {
		if got := parseMirror(strings.NewReader(tc.in)); got != tc.want {
			t.Errorf("parseMirror(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func testState() state {
	return state{
		Name: "t", Layout: LayoutDockerLatest, Upstream: "http://10.213.9.3:5000",
		Machines: []Machine{
			{Name: "manager1", IP: "10.213.9.10", Role: "manager"},
			{Name: "worker1", IP: "10.213.9.11", Role: "worker"},
			{Name: "worker2", IP: "10.213.9.12", Role: "worker", Added: true},
		},
	}
}

// The inventory is accepted by swarmctl's own strict loader and leaves out
// machines added later.
func TestRenderInventoryLoads(t *testing.T) {
	b, err := renderInventory(testState(), "/s/id_ed25519", "/s/known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inventory.yaml", b)
	if err != nil {
		t.Fatalf("swarmctl rejects the lab inventory: %v\n%s", err, b)
	}
	if len(inv.Nodes) != 2 || inv.Nodes[0].Host != "10.213.9.10" || inv.Nodes[0].Role != "manager" || inv.Nodes[1].Name != "worker1" {
		t.Errorf("nodes = %+v", inv.Nodes)
	}
	d := inv.Defaults
	if d.User != "root" || d.Port != 22 || d.Key != "/s/id_ed25519" || d.KnownHosts != "/s/known_hosts" {
		t.Errorf("defaults = %+v", d)
	}
	m := inv.Mirror
	if m.URL != "http://10.213.9.10:5000" || !m.Insecure || m.RemoteURL != "http://10.213.9.3:5000" ||
		m.PublishMode != "host" || m.Publish != 5000 || m.Manager != "manager1" ||
		len(m.Constraints) != 2 || m.Constraints[1] != "node.hostname==manager1" {
		t.Errorf("mirror = %+v", m)
	}
}

func TestRenderSSHConfigAndKnownHosts(t *testing.T) {
	st := testState()
	cfg := renderSSHConfig(st.Machines, "/s/id", "/s/kh")
	for _, want := range []string{"Host worker2\n  HostName 10.213.9.12\n  User root\n", "UserKnownHostsFile /s/kh\n", "StrictHostKeyChecking yes\n"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("ssh_config lacks %q:\n%s", want, cfg)
		}
	}
	kh := renderKnownHosts(map[string][]string{
		"10.213.9.11": {"ssh-ed25519 BBB"},
		"10.213.9.10": {"ssh-ed25519 AAA", "ssh-rsa CCC"},
	})
	want := "10.213.9.10 ssh-ed25519 AAA\n10.213.9.10 ssh-rsa CCC\n10.213.9.11 ssh-ed25519 BBB\n"
	if kh != want {
		t.Errorf("known_hosts =\n%s\nwant\n%s", kh, want)
	}
}

func tarNames(t *testing.T, ents []tarEntry) map[string]*tar.Header {
	t.Helper()
	b, err := tarBytes(ents)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h
	}
}

func TestMachineFilesLayouts(t *testing.T) {
	for _, tc := range []struct {
		layout, daemonJSON, masked, enabled string
	}{
		{LayoutDockerLatest, "etc/docker-latest/daemon.json", "etc/systemd/system/docker.service", "etc/systemd/system/multi-user.target.wants/docker-latest.service"},
		{LayoutDocker, "etc/docker/daemon.json", "", "etc/systemd/system/multi-user.target.wants/docker.service"},
	} {
		ents, err := machineFiles(tc.layout, StoreClassic, "ssh-ed25519 AAAA lab\n", []byte("CA"))
		if err != nil {
			t.Fatal(err)
		}
		h := tarNames(t, ents)
		if _, ok := h[tc.daemonJSON]; !ok {
			t.Errorf("%s: no %s", tc.layout, tc.daemonJSON)
		}
		if tc.masked != "" && (h[tc.masked] == nil || h[tc.masked].Linkname != "/dev/null") {
			t.Errorf("%s: %s not masked", tc.layout, tc.masked)
		}
		if h[tc.enabled] == nil || h[tc.enabled].Typeflag != tar.TypeSymlink {
			t.Errorf("%s: %s not enabled", tc.layout, tc.enabled)
		}
		if h["root/.ssh/authorized_keys"] == nil || h["home/ops/.ssh/authorized_keys"] == nil {
			t.Errorf("%s: authorized_keys missing", tc.layout)
		}
		if tc.layout == LayoutDocker && h["etc/systemd/system/docker.service"] != nil {
			t.Errorf("docker layout masks docker.service")
		}
		if _, ok := h["usr/lib/systemd/system/docker-latest.service"]; ok != (tc.layout == LayoutDockerLatest) {
			t.Errorf("%s: docker-latest.service present = %v", tc.layout, ok)
		}
	}
	a, _ := machineFiles(LayoutDocker, StoreClassic, "k", nil)
	b, _ := machineFiles(LayoutDocker, StoreClassic, "k", nil)
	if bytes.Equal(a[0].body, b[0].body) {
		t.Error("two machines got the same machine-id")
	}
	if _, err := machineFiles("podman", StoreClassic, "k", nil); err == nil {
		t.Error("unknown layout accepted")
	}
}

// Host keys and machine-id are never in the image: the overlay must not
// bring any, and the recipe must delete what the packages made.
func TestImageHasNoMachineIdentity(t *testing.T) {
	for _, e := range machineOverlay() {
		if strings.Contains(e.name, "ssh_host_") || strings.Contains(e.name, "machine-id") {
			t.Errorf("overlay contains %s", e.name)
		}
	}
	for _, want := range []string{`rm -f "$ROOT"/etc/ssh/ssh_host_*`, `: >"$ROOT"/etc/machine-id`} {
		if !strings.Contains(baseRecipe, want) {
			t.Errorf("recipe lacks %q", want)
		}
	}
	for _, r := range engineRecipes {
		for _, p := range append(slices.Clone(r.packages), r.sidPackages...) {
			if strings.Contains(p, "python") || p == "jq" {
				t.Errorf("engine %s: image would contain %s", r.name, p)
			}
		}
	}
}

func TestDaemonJSONKeepsDistinctStyles(t *testing.T) {
	a, b := DaemonJSON(LayoutDocker), DaemonJSON(LayoutDockerLatest)
	if a == b {
		t.Fatal("both layouts use the same daemon.json text")
	}
	for _, s := range []string{a, b} {
		for _, k := range []string{`"storage-driver": "vfs"`, `"log-driver": "journald"`, `"lab=swarmctl"`} {
			if !strings.Contains(s, k) {
				t.Errorf("daemon.json lacks %s:\n%s", k, s)
			}
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv("SWARMCTL_LAB_DIR", "/x")
	c := Config{}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	if c.Name != DefaultName || c.Managers != 3 || c.Workers != 2 || c.Layout != LayoutDockerLatest || c.StateDir != filepath.Join("/x", DefaultName) ||
		c.Manager != (Spec{Engine2010, StoreClassic}) || c.Worker != c.Manager {
		t.Errorf("defaults = %+v", c)
	}
	for _, bad := range []Config{{Name: "Bad Name"}, {Managers: 0, Workers: 2}, {Layout: "podman"}, {Engine: "19.03"}, {ImageStore: StoreContainerd}} {
		if err := bad.defaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestHostIP(t *testing.T) {
	if got := hostIP("10.213.7.0/24", 12); got != "10.213.7.12" {
		t.Errorf("hostIP = %s", got)
	}
}

// With no engine processes under a fresh directory, nothing is reported.
func TestProcessesUnderEmptyDir(t *testing.T) {
	if ps := processesUnder(t.TempDir()); len(ps) != 0 {
		t.Errorf("processes under a fresh dir: %v", ps)
	}
	if alive(readPid(filepath.Join(t.TempDir(), "none.pid"))) {
		t.Error("pid 0 counts as alive")
	}
	if !alive(os.Getpid()) {
		t.Error("this process does not count as alive")
	}
}

// pushBusybox against Debian's registry binary on loopback: the image must
// come back as a schema 2 manifest whose blobs the registry accepted.
func TestPushBusyboxToRealRegistry(t *testing.T) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("docker-registry not installed (run .ci/install-lab-deps.sh): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := strings.Replace(registryConfig, "/var/lib/registry", dir, 1)
	cfg = strings.Replace(cfg, "addr: :5000", "addr: "+addr, 1)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	layer, err := busyboxLayer()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + addr
	if err := pushBusybox(ctx, base, layer); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/library/busybox/manifests/latest", nil)
	req.Header.Set("Accept", mediaManifest)
	resp, err := directClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var man struct {
		MediaType string `json:"mediaType"`
		Layers    []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&man); err != nil || resp.StatusCode != 200 {
		t.Fatalf("manifest: %s %v", resp.Status, err)
	}
	if man.MediaType != mediaManifest || len(man.Layers) != 1 {
		t.Fatalf("manifest = %+v", man)
	}
	blob, err := directClient.Get(base + "/v2/library/busybox/blobs/" + man.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := io.ReadAll(blob.Body)
	blob.Body.Close()
	if digestOf(gz) != man.Layers[0].Digest {
		t.Errorf("layer blob digest %s, manifest says %s", digestOf(gz), man.Layers[0].Digest)
	}
	// Pushing again (a second lab up) must work too.
	if err := pushBusybox(ctx, base, layer); err != nil {
		t.Errorf("second push: %v", err)
	}
}

func TestSpecs(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"", "20.10/classic", ""},
		{"28.5", "28.5/classic", ""},
		{"28.5/containerd", "28.5/containerd", ""},
		{"26.1/classic", "26.1/classic", ""},
		{"20.10/containerd", "", "engine 20.10 has no containerd image store"},
		{"27.0", "", `unknown engine "27.0"`},
		{"26.1/zfs", "", `unknown image store "zfs"`},
	} {
		sp, err := ParseSpec(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSpec(%q): err %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || sp.String() != tc.want):
			t.Errorf("ParseSpec(%q) = %s, %v; want %s", tc.in, sp, err, tc.want)
		}
	}
	// Roles inherit the lab-wide engine and store, and can override them.
	c := Config{Engine: Engine285, ImageStore: StoreContainerd, Worker: Spec{Engine: Engine2010, ImageStore: StoreClassic}}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	if c.Manager.String() != "28.5/containerd" || c.Worker.String() != "20.10/classic" {
		t.Errorf("manager %s, worker %s", c.Manager, c.Worker)
	}
	bad := Config{Engine: Engine285, ImageStore: StoreContainerd, Worker: Spec{Engine: Engine2010}}
	if err := bad.defaults(); err == nil || !strings.Contains(err.Error(), "workers") {
		t.Errorf("20.10 workers inheriting the containerd store: %v", err)
	}
}

// Engine facts as the three engines print them (Debian version strings;
// 28.5 has no containerd commit in docker info, hence docker version).
func TestParseEngineFacts(t *testing.T) {
	f, err := parseEngineFacts("28.5.2+dfsg4\n2.1.9+unknown\nnative\n[[\"driver-type\",\"io.containerd.snapshotter.v1\"]]\n")
	if err != nil || f != (EngineFacts{EngineVersion: "28.5.2+dfsg4", ContainerdVersion: "2.1.9+unknown", StorageDriver: "native", ImageStore: StoreContainerd}) {
		t.Errorf("28.5 containerd: %+v %v", f, err)
	}
	f, err = parseEngineFacts("20.10.24+dfsg1\n1.6.20~ds1\nvfs\nnull\n")
	if err != nil || f.ImageStore != StoreClassic || f.StorageDriver != "vfs" || f.ContainerdVersion != "1.6.20~ds1" {
		t.Errorf("20.10 classic: %+v %v", f, err)
	}
	f, err = parseEngineFacts("26.1.5+dfsg1\n1.7.24~ds1\nvfs\n[]\n")
	if err != nil || f.ImageStore != StoreClassic {
		t.Errorf("26.1 classic: %+v %v", f, err)
	}
	for _, bad := range []string{"", "Cannot connect to the Docker daemon\n", "\n\nvfs\nnull\n", "26.1.5\n1.7\nvfs\n[[oops\n"} {
		if _, err := parseEngineFacts(bad); err == nil {
			t.Errorf("parseEngineFacts(%q) accepted", bad)
		}
	}
}

func TestDaemonJSONForStores(t *testing.T) {
	for _, layout := range []string{LayoutDocker, LayoutDockerLatest} {
		c := DaemonJSONFor(layout, StoreContainerd)
		var doc struct {
			Features map[string]bool `json:"features"`
			Driver   string          `json:"storage-driver"`
			Labels   []string        `json:"labels"`
		}
		if err := json.Unmarshal([]byte(c), &doc); err != nil {
			t.Fatalf("%s containerd daemon.json: %v\n%s", layout, err, c)
		}
		if !doc.Features["containerd-snapshotter"] || doc.Driver != "native" || len(doc.Labels) != 1 {
			t.Errorf("%s containerd daemon.json: %+v", layout, doc)
		}
		if DaemonJSONFor(layout, StoreClassic) != DaemonJSON(layout) {
			t.Errorf("%s: DaemonJSON is not the classic store's", layout)
		}
	}
}

// Each engine's recipe gives its own cache key, and the suite and package
// lists go into it.
func TestBaseKeysDiffer(t *testing.T) {
	seen := map[string]string{}
	for _, r := range engineRecipes {
		k := baseKey(r, "http://m/debian")
		if o, dup := seen[k]; dup {
			t.Errorf("engines %s and %s share the cache key %s", r.name, o, k)
		}
		seen[k] = r.name
		if baseKey(r, "http://other/debian") == k {
			t.Errorf("%s: the mirror is not in the key", r.name)
		}
	}
}

// registry:3's root filesystem is laid out as the project's release image
// has it, with a shell for health probes and the CA as the trust store.
func TestRegistry3Entries(t *testing.T) {
	dir := t.TempDir()
	bin, cfg := filepath.Join(dir, "registry"), filepath.Join(dir, "config.yml")
	os.WriteFile(bin, []byte("binary"), 0o755)
	os.WriteFile(cfg, []byte("version: 0.1\n"), 0o644)
	ents, err := registry3Entries(bin, cfg, []byte("-----BEGIN CERTIFICATE-----\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := tarNames(t, ents)
	for _, want := range []string{"bin/registry", "etc/distribution/config.yml", "bin/sh", "bin/wget", "var/lib/registry", "etc/ssl/certs/ca-certificates.crt"} {
		if h[want] == nil {
			t.Errorf("registry:3 image lacks %s", want)
		}
	}
	if h["etc/docker/registry/config.yml"] != nil {
		t.Error("registry:3 must not read the registry:2 config path")
	}
	if !strings.Contains(registry3LDFlags, "/version.version=3.1.2") {
		t.Errorf("ldflags %q do not stamp the version", registry3LDFlags)
	}
}

// The stand-ins' names resolve to their addresses (any case); other
// questions about them get an empty answer; every other name NXDOMAIN.
func TestDNSServesStandIns(t *testing.T) {
	hosts := map[string]net.IP{"ghcr.io": net.ParseIP("10.213.9.5"), "registry-1.docker.io": net.ParseIP("10.213.9.4")}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ServeDNSFor(pc, hosts)
	defer pc.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for name, want := range map[string]string{"ghcr.io": "10.213.9.5", "Registry-1.Docker.IO.": "10.213.9.4"} {
		addrs, err := r.LookupHost(ctx, name)
		if err != nil || len(addrs) != 1 || addrs[0] != want {
			t.Errorf("LookupHost(%s) = %v, %v; want [%s]", name, addrs, err, want)
		}
	}
	_, err = r.LookupHost(ctx, "quay.io")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("quay.io (not served): %v, want not found", err)
	}
	// AAAA for a served name: NOERROR, no answer.
	reply := DNSReplyFor(query(7, "ghcr.io", 28), hosts)
	if reply[3]&0xF != 0 || binary.BigEndian.Uint16(reply[6:8]) != 0 {
		t.Errorf("AAAA ghcr.io: rcode %d, %d answers", reply[3]&0xF, binary.BigEndian.Uint16(reply[6:8]))
	}
}

// The CA signs certificates Go's verifier accepts for the stand-ins'
// names, and only for them.
func TestCAIssues(t *testing.T) {
	t.Setenv("SWARMCTL_LAB_CACHE", t.TempDir())
	ca, err := LoadCA()
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA()
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA made a second CA: %v", err)
	}
	if st, err := os.Stat(filepath.Join(caDir(), "ca.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key: %v %v", st, err)
	}
	certPEM, keyPEM, err := ca.Issue(QuayName)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: QuayName}); err != nil {
		t.Errorf("quay.io certificate: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: GHCRName}); err == nil {
		t.Error("quay.io's certificate verifies for ghcr.io")
	}
}

// The seeded images are the same bytes in every run, and the bench image
// is 20-50 MiB in several layers.
func TestSeedImages(t *testing.T) {
	bb, bench, err := seeds()
	if err != nil {
		t.Fatal(err)
	}
	if n := bench.Size(); len(bench.layers) < 3 || n < 20<<20 || n > 50<<20 {
		t.Errorf("bench image: %d layers, %d bytes", len(bench.layers), n)
	}
	l0, err := benchLayer(0)
	if err != nil {
		t.Fatal(err)
	}
	l0b, _ := benchLayer(0)
	l1, _ := benchLayer(1)
	if digestOf(l0) != digestOf(l0b) || digestOf(l0) == digestOf(l1) {
		t.Error("bench layers are not deterministic and distinct")
	}
	if len(bb.layers) != 1 {
		t.Errorf("busybox: %d layers", len(bb.layers))
	}
	h1, _ := helloImage(GHCRName)
	h2, _ := helloImage(QuayName)
	if digestOf(h1.layers[1]) == digestOf(h2.layers[1]) || len(h1.layers) != 2 {
		t.Error("the hello images do not name their registry")
	}
	for _, name := range standInNames {
		imgs, err := imagesOf(name)
		if err != nil || len(imgs) != 2 {
			t.Errorf("%s holds %v (%v)", name, imgs, err)
		}
	}
}

// The Go API tests use to read a stand-in's log and turn its knobs,
// against a front's real control handler.
func TestStandInControlAPI(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	f := front.New(GHCRName, u, nil)
	registry := httptest.NewServer(f.Handler())
	defer registry.Close()
	control := httptest.NewServer(f.ControlHandler())
	defer control.Close()
	s := StandIn{Name: GHCRName, Control: control.URL}
	ctx := context.Background()

	if resp, err := registry.Client().Get(registry.URL + "/v2/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v2/: %v %v", resp, err)
	}
	mark, err := s.Mark(ctx)
	if err != nil || mark != 1 {
		t.Fatalf("Mark = %d, %v", mark, err)
	}
	registry.Client().Get(registry.URL + "/v2/lab/hello/manifests/1")
	es, err := s.Log(ctx, mark)
	if err != nil || len(es) != 1 || es[0].Path != "/v2/lab/hello/manifests/1" || es[0].Client != "127.0.0.1" {
		t.Fatalf("Log(after %d) = %+v, %v", mark, es, err)
	}
	if err := s.Configure(ctx, front.Config{RateLimit: &front.RateLimit{Limit: 1, Window: front.Duration(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDown(ctx, true); err != nil {
		t.Fatal(err)
	}
	c, err := s.Config(ctx)
	if err != nil || !c.Down || c.RateLimit == nil || c.RateLimit.Limit != 1 {
		t.Errorf("SetDown lost the rest of the config: %+v %v", c, err)
	}
	if err := s.Configure(ctx, front.Config{Auth: &front.Auth{Mode: "digest"}}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("an invalid config: %v", err)
	}
}
