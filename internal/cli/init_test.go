package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
	"github.com/swarmctl/swarmctl/internal/report"
)

// initSwarm is a swarm of m1 (manager, leader), m2 (manager), w1 and w2
// (workers; w2 unreachable) running Traefik v3, with host keys checked
// against the known_hosts file the dial names.
type initSwarm struct {
	keys  map[string]ssh.PublicKey
	hosts map[string]*fakehost.Host
}

func newInitSwarm(t *testing.T) *initSwarm {
	s := &initSwarm{keys: map[string]ssh.PublicKey{}, hosts: map[string]*fakehost.Host{}}
	members := "id-m1|m1|manager|ready|active|0.0.0.0|10.0.0.1:2377|reachable|true\n" +
		"id-m2|m2|manager|ready|active|0.0.0.0|10.0.0.2:2377|reachable|false\n" +
		"id-w1|w1|worker|ready|active|10.0.0.3|||\n" +
		"id-w2|w2|worker|down|active|10.0.0.4|||\n"
	traefik := "proxy_traefik\ttraefik:v3.1\tnull\t[\"--providers.swarm=true\",\"--providers.swarm.network=edge\",\"--entrypoints.websecure.address=:443\"]\n"
	for addr, name := range map[string]string{"10.0.0.1": "m1", "10.0.0.2": "m2", "10.0.0.3": "w1", "10.0.0.4": "w2"} {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		s.keys[addr], _ = ssh.NewPublicKey(pub)
		name := name
		s.hosts[addr] = fakehost.New(name, nil, func(_ *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			out := func(x string) (nodes.Output, error) { return nodes.Output{Stdout: []byte(x)}, nil }
			switch c.Script.Name() {
			case "facts.sh":
				return out(swarmFacts(name, `{}`, "[]", name[0] == 'm'))
			case "swarm-nodes.sh":
				return out(memberLines(members))
			case "traefik-services.sh":
				return out(traefik)
			}
			return nodes.Output{}, exitErr(c, "unexpected")
		})
	}
	return s
}

func (s *initSwarm) dial(_ context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
	if tg.Host == "10.0.0.4" {
		return nil, &nodes.ExitError{Status: 255, Stderr: []byte("connect 10.0.0.4:22: no route to host")}
	}
	kh := o.KnownHostsFiles[0]
	b, _ := os.ReadFile(kh)
	if !strings.Contains(string(b), tg.Host+" ") {
		k := s.keys[tg.Host]
		return nil, &nodes.HostKeyError{Host: tg.Host + ":22", Key: k, KeyType: k.Type(), Fingerprint: ssh.FingerprintSHA256(k), Files: o.KnownHostsFiles}
	}
	return s.hosts[tg.Host], nil
}

func TestInitWritesAStarterInventory(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	inv := filepath.Join(dir, "swarmctl.yaml")
	args := []string{"init", "-i", inv, "--manager", "root@10.0.0.1", "--known-hosts", kh, "--host-key-policy", "accept-new", "--fqdn", "mirror.example.com"}
	strictArgs := []string{"init", "-i", inv, "--manager", "root@10.0.0.1", "--known-hosts", kh, "--fqdn", "mirror.example.com"}
	if err := os.WriteFile(kh, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	// No terminal, no --yes: the fingerprints are shown, nothing written.
	s := newInitSwarm(t)
	d, out, errb := testDeps(s.dial)
	code := Run(context.Background(), d, append(strictArgs, "-o", "json"))
	if code != ExitError || !strings.Contains(errb.String(), ssh.FingerprintSHA256(s.keys["10.0.0.1"])) || !strings.Contains(errb.String(), "--yes") {
		t.Errorf("no consent: exit %d\n%s", code, errb)
	}
	if h := readHeader(t, out.Bytes()); h.Error == nil || h.Error.Code != report.ErrConsentRequired {
		t.Errorf("doc %s", out)
	}
	if _, err := os.Stat(inv); err == nil {
		t.Fatal("inventory written without consent")
	}
	if b, _ := os.ReadFile(kh); len(b) != 0 {
		t.Fatalf("known_hosts written without consent:\n%s", b)
	}

	// A terminal and "n": the same.
	d, _, errb = testDeps(s.dial)
	d.IO.StdinTTY, d.IO.StderrTTY, d.IO.In = true, true, strings.NewReader("n\n")
	if code := Run(context.Background(), d, strictArgs); code != ExitError || !strings.Contains(errb.String(), "Record these 1 host key(s) in "+kh+"? [y/N]") {
		t.Errorf("declined: exit %d\n%s", code, errb)
	}

	// A terminal and yes twice (the manager first, then its members).
	d, out, errb = testDeps(s.dial)
	d.IO.StdinTTY, d.IO.StderrTTY, d.IO.In = true, true, strings.NewReader("y\ny\n")
	if code := Run(context.Background(), d, append(strictArgs, "-o", "json")); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	var doc InitResult
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Wrote || doc.Traefik == nil || doc.Traefik.Mode != "v3" || len(doc.Nodes) != 4 || doc.KnownHosts != kh {
		t.Errorf("doc %s", out)
	}
	for _, n := range doc.Nodes {
		want := "recorded"
		if n.Name == "w2" {
			want = "not-recorded"
		}
		if n.HostKey != want || (want == "recorded") != strings.HasPrefix(n.Fingerprint, "ssh-ed25519 SHA256:") {
			t.Errorf("%s: host key %s %q, want %s", n.Name, n.HostKey, n.Fingerprint, want)
		}
	}
	loaded, err := inventory.Load(inv)
	if err != nil {
		t.Fatalf("the inventory written does not load: %v", err)
	}
	text, _ := os.ReadFile(inv)
	var got []string
	for _, n := range loaded.Nodes {
		got = append(got, n.Name+"@"+n.Host+":"+n.Role)
	}
	if strings.Join(got, " ") != "m1@10.0.0.1:manager m2@10.0.0.2:manager w1@10.0.0.3:worker w2@10.0.0.4:worker" ||
		loaded.Defaults.User != "root" || loaded.Defaults.KnownHosts != kh || loaded.Mirror.Traefik != "v3" || loaded.Mirror.FQDN != "mirror.example.com" ||
		loaded.Mirror.Network != "edge" || loaded.Mirror.Entrypoint != "websecure" || !strings.Contains(string(text), "# not reachable from here at init") {
		t.Errorf("inventory:\n%s", text)
	}
	b, _ := os.ReadFile(kh)
	if strings.Count(string(b), "\n") != 3 {
		t.Errorf("known_hosts:\n%s", b)
	}

	// It never overwrites, and says so before dialling.
	d, _, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, args); code != ExitError || !strings.Contains(errb.String(), "exists: init never overwrites") {
		t.Errorf("existing file: exit %d\n%s", code, errb)
	}

	// --manager is required; a worker is not a manager.
	d, _, _ = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"init", "-i", filepath.Join(dir, "x.yaml")}); code != ExitError {
		t.Errorf("no --manager: exit %d", code)
	}
	d, _, errb = testDeps(s.dial)
	if code := Run(context.Background(), d, []string{"init", "-i", filepath.Join(dir, "w.yaml"), "--manager", "10.0.0.3", "--known-hosts", kh}); code != ExitFailed ||
		!strings.Contains(errb.String(), "is not a swarm manager") {
		t.Errorf("worker as manager: exit %d\n%s", code, errb)
	}
}

// --yes records the keys it prints; without an fqdn and with no Traefik
// route, the starter mirror is plain HTTP on the published port.
func TestInitYesWithoutFQDN(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	inv := filepath.Join(dir, "swarmctl.yaml")
	s := newInitSwarm(t)
	d, _, errb := testDeps(s.dial)
	if code := Run(context.Background(), d, []string{"init", "-i", inv, "--manager", "10.0.0.1", "--known-hosts", kh, "--yes"}); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	if !strings.Contains(errb.String(), "--yes: going ahead: record these 1 host key(s)") || !strings.Contains(errb.String(), "set mirror.fqdn") {
		t.Errorf("stderr:\n%s", errb)
	}
	loaded, err := inventory.Load(inv)
	if err != nil || loaded.Mirror.URL != "http://10.0.0.1:5000" || !loaded.Mirror.Insecure || loaded.Mirror.Traefik != "none" {
		t.Errorf("%v %+v", err, loaded.Mirror)
	}
}
