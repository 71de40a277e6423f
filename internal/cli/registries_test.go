package cli

import (
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
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

// --registry replaces the inventory's list (NAME or NAME=REMOTE_URL) and
// keeps the inventory's settings for the names it repeats; a bad entry in
// the inventory is exit 2 at its file:line before any node is dialled.
func TestRegistryFlag(t *testing.T) {
	t.Setenv("SWARMCTL_TEST_GH", "gh-secret")
	inv := writeInventory(t, `mirror:
  fqdn: m.example.com
  registries:
    - docker.io
    - registry: ghcr.io
      username: bot
      password_env: SWARMCTL_TEST_GH
nodes:
  - host: n1
`)
	render := func(args ...string) (map[string]any, int, string) {
		d, out, errb := testDeps(noDial(t))
		code := Run(context.Background(), d, append([]string{"mirror", "render", "-i", inv, "-o", "json"}, args...))
		var doc map[string]any
		if code == ExitOK {
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
		if strings.Contains(out.String()+errb.String(), "gh-secret") {
			t.Errorf("password shown:\n%s\n%s", out, errb)
		}
		return doc, code, errb.String()
	}
	names := func(doc map[string]any) string {
		var got []string
		for _, r := range doc["values"].(map[string]any)["registries"].([]any) {
			e := r.(map[string]any)
			got = append(got, e["registry"].(string)+"="+str(e["remote_url"])+"/"+str(e["username"]))
		}
		return strings.Join(got, " ")
	}
	doc, code, errs := render()
	if code != ExitOK || names(doc) != "docker.io=https://registry-1.docker.io/ ghcr.io=https://ghcr.io/bot" {
		t.Errorf("inventory: exit %d %s %v", code, errs, doc["values"])
	}
	doc, code, errs = render("--registry", "quay.io=https://q.example.com", "--registry", "ghcr.io", "--registry", "index.docker.io")
	if code != ExitOK || names(doc) != "quay.io=https://q.example.com/ ghcr.io=https://ghcr.io/bot docker.io=https://registry-1.docker.io/" {
		t.Errorf("--registry: exit %d %s %v", code, errs, doc["values"])
	}
	for _, args := range [][]string{{"--registry", "https://quay.io"}, {"--registry", "quay.io", "--registry", "quay.io"}, {"--registry", "m.example.com"}} {
		if _, code, errs := render(args...); code != ExitError {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}

	bad := writeInventory(t, "mirror:\n  fqdn: m.example.com\n  registries:\n    - ghcr.io\n    - registry: quay.io\n      username: bot\nnodes:\n  - host: n1\n")
	d, _, errb := testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", bad}); code != ExitError {
		t.Errorf("exit %d, want 2", code)
	}
	if want := filepath.Base(bad) + ":5: mirror.registries[1] (quay.io) (--registry): a password is needed"; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr %q lacks %q", errb, want)
	}
	bad = writeInventory(t, "mirror:\n  fqdn: m.example.com\n  registries:\n    - ghcr.io\n    - registry: ghcr.io\nnodes:\n  - host: n1\n")
	d, _, errb = testDeps(noDial(t))
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", bad}); code != ExitError || !strings.Contains(errb.String(), ":5: mirror.registries: duplicate registry ghcr.io (first at line 4)") {
		t.Errorf("exit %d: %s", code, errb)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// The --registry of commands without the stack flags gives the same
// endpoints as the stack flags.
func TestRegistryFlagForOtherCommands(t *testing.T) {
	inv, err := inventory.Parse(filepath.Join(t.TempDir(), "inv.yaml"), []byte("mirror:\n  traefik: none\n  url: http://10.0.0.5:5000\n  registries: [docker.io, quay.io]\nnodes:\n  - host: n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var r RegistryFlag
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	r.addFlag(fs)
	if err := fs.Parse([]string{"--registry", "ghcr.io", "--registry", "docker.io"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fs.Lookup("registry").Usage, "mirror.registries") {
		t.Errorf("usage %q", fs.Lookup("registry").Usage)
	}
	v, err := r.mirrorValues(inv)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Endpoints() {
		got = append(got, e.Registry+" "+strings.Join(e.URLs, ","))
	}
	if strings.Join(got, "; ") != "ghcr.io http://10.0.0.5:5001; docker.io http://10.0.0.5:5000" {
		t.Errorf("endpoints %q", got)
	}
	if err := fs.Parse([]string{"--registry", "ghcr"}); err == nil {
		t.Error("a Docker Hub namespace accepted as a registry")
	}
}

// A dry run with several upstreams, replica nodes and TLS shows every
// file (the key only as "never shown"), the labels and the replica data
// directories it would create on each node; a replica node the swarm does
// not have is exit 2 before anything changes.
func TestInstallDryRunUpstreamsReplicasTLS(t *testing.T) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "m.crt"), filepath.Join(dir, "m.key")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "10.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, keyPEM, 0o600)
	keyLine := strings.Split(string(keyPEM), "\n")[1]
	inv := writeInventory(t, `mirror:
  url: https://10.0.0.1:5000
  traefik: none
  tls_cert: `+crt+`
  tls_key: `+key+`
  replica_nodes: [m1, m2]
  registries: [docker.io, quay.io]
nodes:
  - {host: m1, role: manager}
  - {host: m2, role: manager}
`)
	swarmNodes := `{"id":"id-m1","hostname":"m1","state":"ready","availability":"active","labels":{}}` + "\n" +
		`{"id":"id-m2","hostname":"m2","state":"ready","availability":"active","labels":{}}` + "\n"
	handler := func(name string) fakehost.Handler {
		return func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
			switch {
			case c.Script.Name() == "facts.sh":
				return nodes.Output{Stdout: []byte(swarmFacts(name, `{}`, "[]", true))}, nil
			case c.Script.Name() == "node-labels.sh":
				return nodes.Output{Stdout: []byte(swarmNodes)}, nil
			case len(c.Args) > 2 && c.Args[0] == "docker" && c.Args[1] == "service" && c.Args[2] == "inspect":
				return nodes.Output{}, exitErr(c, "Error: no such service: "+c.Args[len(c.Args)-1])
			case len(c.Args) > 0 && c.Args[0] == "test":
				return nodes.Output{}, exitErr(c, "")
			}
			return nodes.Output{}, exitErr(c, "unexpected command "+nodes.CommandLine(c, true))
		}
	}
	hosts := map[string]*fakehost.Host{"m1": fakehost.New("m1", nil, handler("m1")), "m2": fakehost.New("m2", nil, handler("m2"))}
	dial := func(_ context.Context, tg nodes.Target, _ nodes.DialOptions) (nodes.Host, error) {
		return hosts[tg.Host], nil
	}
	d, stdout, errb := testDeps(dial)
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--manager", "m1", "--dry-run", "-v"}); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	for _, want := range []string{
		"+++ /var/data/registry/registry-mirror-config.yml (rendered)", "+++ /var/data/registry/quay-io.yml (rendered)",
		"+++ /var/data/registry/registry-mirror-tls-cert.pem (rendered)",
		"# /var/data/registry/registry-mirror-tls-key.pem: the TLS key would be written (never shown)",
		"would label node m1 swarmctl.mirror.registry=true (a replica node)", "would label node m2 swarmctl.mirror.registry=true",
		"would create data directory /var/data/registry/registry-mirror-data-quay-io/m2 on m2",
		"would run docker stack deploy --prune registry on m1",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout.String()+errb.String(), keyLine) {
		t.Error("the key was printed")
	}
	for _, h := range hosts {
		if len(h.Writes) != 0 {
			t.Errorf("%s: dry run wrote %v", h.NameV, h.Writes)
		}
	}

	// A replica node the swarm does not have: exit 2.
	swarmNodes = `{"id":"id-m1","hostname":"m1","state":"ready","availability":"active","labels":{}}` + "\n"
	d, _, errb = testDeps(dial)
	if code := Run(context.Background(), d, []string{"mirror", "install", "-i", inv, "--manager", "m1"}); code != ExitError ||
		!strings.Contains(errb.String(), "replica node m2 is not in the swarm (its nodes: m1)") {
		t.Errorf("exit %d: %s", code, errb)
	}
}
