package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/test/lab"
)

// faultProxy is a TCP proxy in the test process between swarmctl and one
// lab machine's sshd: the Toxiproxy library (not its HTTP server), so
// that a test can slow a connection down (latency toxic) or cut every
// connection at the exact moment it chooses (Cut), then let new
// connections through again (Restore) for the rerun. The kernel here has
// no netem, so this is how the lab's network misbehaves.
type faultProxy struct {
	t       *testing.T
	p       *toxiproxy.Proxy
	Machine lab.Machine
	Port    int
}

var toxiServer = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.New(io.Discard))

// newFaultProxy listens on a free 127.0.0.1 port and forwards to the
// machine's sshd. It stops when the test ends.
func newFaultProxy(t *testing.T, m lab.Machine) *faultProxy {
	t.Helper()
	name := fmt.Sprintf("%s-%s-%d", t.Name(), m.Name, time.Now().UnixNano())
	p := toxiproxy.NewProxy(toxiServer, name, "127.0.0.1:0", net.JoinHostPort(m.IP, "22"))
	if err := p.Start(); err != nil {
		t.Fatalf("fault proxy for %s: %v", m.Name, err)
	}
	_, port, _ := net.SplitHostPort(p.Listen)
	n, _ := strconv.Atoi(port)
	fp := &faultProxy{t: t, p: p, Machine: m, Port: n}
	t.Cleanup(p.Stop)
	return fp
}

// Cut closes every connection through the proxy at once (both sides see
// the TCP connection end) and refuses new ones until Restore.
func (fp *faultProxy) Cut() { fp.p.Stop() }

// Restore accepts connections again, on the same port.
func (fp *faultProxy) Restore() {
	fp.t.Helper()
	if err := fp.p.Start(); err != nil {
		fp.t.Fatalf("fault proxy restart: %v", err)
	}
}

// Latency delays every server->client chunk by ms milliseconds, so each
// round trip of the SSH conversation takes at least that long (room for
// a test to act between two SFTP requests).
func (fp *faultProxy) Latency(ms int) {
	fp.t.Helper()
	body := fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, ms)
	if _, err := fp.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		fp.t.Fatalf("latency toxic: %v", err)
	}
}

// LimitUpstream closes the connection once n more bytes went from
// swarmctl to the node (Toxiproxy's limit_data).
func (fp *faultProxy) LimitUpstream(n int) {
	fp.t.Helper()
	body := fmt.Sprintf(`{"name":"limit","type":"limit_data","stream":"upstream","attributes":{"bytes":%d}}`, n)
	if _, err := fp.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		fp.t.Fatalf("limit_data toxic: %v", err)
	}
}

// Clear removes every toxic.
func (fp *faultProxy) Clear() { fp.p.Toxics.ResetToxics(context.Background()) }

// proxiedNode is one inventory entry reached through a fault proxy (or
// any host/port a test chooses).
type proxiedNode struct {
	Name, Host string
	Port       int
	Role       string
	User, Key  string
	// Via: reach the node through this proxy (host and port are its own,
	// and its machine's host key is recorded for it).
	Via *faultProxy
}

// proxyInventory writes an inventory (and a known_hosts file) whose nodes
// are reached through the given proxies: host 127.0.0.1, the proxy's
// port, and the machine's real host key recorded as [127.0.0.1]:<port>.
// extra nodes (unreachable, wrong names...) are added as given. It
// returns the environment that points swarmctl at it.
func proxyInventory(t *testing.T, l *lab.Lab, proxies []*faultProxy, extra ...proxiedNode) []string {
	t.Helper()
	dir := t.TempDir()
	kh := readKnownHosts(t, l)
	var lines []string
	var ns []map[string]any
	for _, fp := range proxies {
		keys := kh[fp.Machine.IP]
		if len(keys) == 0 {
			t.Fatalf("no host key for %s (%s) in %s", fp.Machine.Name, fp.Machine.IP, l.KnownHostsPath())
		}
		for _, k := range keys {
			lines = append(lines, fmt.Sprintf("[127.0.0.1]:%d %s", fp.Port, k))
		}
		ns = append(ns, map[string]any{"host": "127.0.0.1", "port": fp.Port, "name": fp.Machine.Name, "role": fp.Machine.Role})
	}
	for _, e := range extra {
		if e.Via != nil {
			for _, k := range kh[e.Via.Machine.IP] {
				lines = append(lines, fmt.Sprintf("[127.0.0.1]:%d %s", e.Via.Port, k))
			}
			e.Host, e.Port = "127.0.0.1", e.Via.Port
		}
		n := map[string]any{"host": e.Host, "name": e.Name}
		if e.Key != "" {
			n["key"] = e.Key
		}
		if e.Port != 0 {
			n["port"] = e.Port
		}
		if e.Role != "" {
			n["role"] = e.Role
		}
		if e.User != "" {
			n["user"] = e.User
		}
		ns = append(ns, n)
	}
	khPath := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(khPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := map[string]any{
		"defaults": map[string]any{"user": "root", "key": l.KeyPath(), "known_hosts": khPath},
		"nodes":    ns,
	}
	b, err := yaml.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"SWARMCTL_INVENTORY=" + p}
}

// readKnownHosts maps each lab machine's IP to its "type base64" host keys.
func readKnownHosts(t *testing.T, l *lab.Lab) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 {
			out[f[0]] = append(out[f[0]], f[1]+" "+f[2])
		}
	}
	return out
}

// TestFaultProxyCutsAndRestores checks the proxy itself against a lab
// machine's sshd: traffic passes, Cut ends an open connection and refuses
// new ones, Restore accepts them again on the same port.
func TestFaultProxyCutsAndRestores(t *testing.T) {
	l := needDockerLayoutLab(t)
	fp := newFaultProxy(t, l.Machines()[0])
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(fp.Port))
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	banner := make([]byte, 64)
	n, err := c.Read(banner)
	if err != nil || !strings.HasPrefix(string(banner[:n]), "SSH-2.0-") {
		t.Fatalf("no SSH banner through the proxy: %q %v", banner[:n], err)
	}
	fp.Cut()
	if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Logf("read after cut: %v", err)
	}
	if c2, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c2.Close()
		t.Errorf("the cut proxy still accepts connections")
	}
	fp.Restore()
	c3, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("restored proxy refuses: %v", err)
	}
	c3.Close()
}
