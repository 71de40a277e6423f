package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// testCert writes a self-signed certificate for hosts and its key into
// dir, returning their paths.
func testCert(t *testing.T, dir, name string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: hosts}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// parseMirror is an inventory's mirror section as inventory.Parse gives it
// (with its file and lines).
func parseMirror(t *testing.T, yml string) (inventory.Mirror, []inventory.Node) {
	t.Helper()
	inv, err := inventory.Parse("inv.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return inv.Mirror, inv.Nodes
}

// validateYAML runs what the commands run: FromInventory, Defaults,
// Validate; the first error.
func validateYAML(t *testing.T, yml string) error {
	t.Helper()
	m, nodes := parseMirror(t, yml)
	v, err := FromInventory(m, nodes)
	if err != nil {
		return err
	}
	v.Defaults()
	return v.Validate()
}

func TestValidateUpstreamsAtFileLine(t *testing.T) {
	dir := t.TempDir()
	crt, key := testCert(t, dir, "mirror", "m.example.com")
	otherCrt, _ := testCert(t, dir, "other", "o.example.com")
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"legacy and entry differ", "mirror:\n  fqdn: m.example.com\n  remote_url: https://a.example.com\n  registries:\n    - registry: docker.io\n      remote_url: https://b.example.com\n",
			"inv.yaml:3: mirror.remote_url (--remote-url): and mirror.registries' docker.io remote_url (line 5) both describe docker.io's upstream and differ"},
		{"legacy without docker.io", "mirror:\n  fqdn: m.example.com\n  upstream_username: bot\n  registries: [ghcr.io]\n",
			"inv.yaml:3: mirror.upstream_username (--upstream-username): describes docker.io's upstream, but mirror.registries does not list docker.io"},
		{"two passwords for docker.io", "mirror:\n  fqdn: m.example.com\n  upstream_password_env: A\n  registries:\n    - registry: docker.io\n      password_env: B\n",
			"inv.yaml:3: mirror.upstream_password_env (--upstream-password-env): and mirror.registries' docker.io password (line 5) both give"},
		{"bad remote url", "mirror:\n  fqdn: m.example.com\n  registries:\n    - docker.io\n    - registry: ghcr.io\n      remote_url: ghcr.io\n",
			`inv.yaml:5: mirror.registries[1] (ghcr.io) (--registry): remote_url "ghcr.io" must start with http:// or https://`},
		{"user without password", "mirror:\n  fqdn: m.example.com\n  registries:\n    - registry: quay.io\n      username: bot\n",
			`inv.yaml:4: mirror.registries[0] (quay.io) (--registry): a password is needed with user "bot"`},
		{"upstream is the mirror", "mirror:\n  fqdn: m.example.com\n  registries:\n    - docker.io\n    - m.example.com\n",
			"inv.yaml:5: mirror.registries[1] (m.example.com) (--registry): m.example.com is the mirror itself"},
		{"remote is the mirror", "mirror:\n  traefik: none\n  url: http://10.0.0.5:5000\n  registries:\n    - registry: ghcr.io\n      remote_url: http://10.0.0.5:5001\n",
			"is the mirror itself: the cache would pull from itself"},
		{"port clash", "mirror:\n  traefik: none\n  url: http://10.0.0.5:5000\n  registries:\n    - docker.io\n    - ghcr.io\n    - registry: quay.io\n      publish: 5001\n",
			"mirror.registries[2] (quay.io) (--registry): port 5001 is also ghcr.io's"},
		{"port overflow", "mirror:\n  traefik: none\n  url: http://10.0.0.5:65535\n  publish: 65535\n  registries: [docker.io, ghcr.io]\n",
			"port 65536 (publish + 1) is not a port"},
		{"service name too long", "mirror:\n  fqdn: m.example.com\n  stack: " + strings.Repeat("s", 40) + "\n  registries: [docker.io, registry.example.com:5000]\n",
			"is longer than 63 characters"},
		{"replicas without nodes", "mirror:\n  fqdn: m.example.com\n  replicas: 3\n", "inv.yaml:3: mirror.replicas (--replicas): 3 independent caches need the nodes they run on"},
		{"replicas and nodes differ", "mirror:\n  fqdn: m.example.com\n  replicas: 3\n  replica_nodes: [a, b]\n", "3, but mirror.replica_nodes lists 2 nodes"},
		{"replica twice", "mirror:\n  fqdn: m.example.com\n  replica_nodes: [a, a]\n", "inv.yaml:3: mirror.replica_nodes (--replica-node): a is listed twice"},
		{"replicas on ingress", "mirror:\n  fqdn: m.example.com\n  publish_mode: ingress\n  replica_nodes: [a, b]\n", "inv.yaml:3: mirror.publish_mode (--publish-mode): ingress would spread"},
		{"cert without key", "mirror:\n  traefik: none\n  url: https://m.example.com:5000\n  tls_cert: " + crt + "\n", "mirror.tls_key (--tls-key): required with tls_cert"},
		{"key of another cert", "mirror:\n  traefik: none\n  url: https://m.example.com:5000\n  tls_cert: " + otherCrt + "\n  tls_key: " + key + "\n", "inv.yaml:5: mirror.tls_key (--tls-key): " + key + " does not go with"},
		{"tls behind traefik", "mirror:\n  fqdn: m.example.com\n  traefik: v3\n  tls_cert: " + crt + "\n  tls_key: " + key + "\n", "inv.yaml:4: mirror.tls_cert (--tls-cert): with Traefik v3, Traefik serves HTTPS"},
		{"tls but http url", "mirror:\n  traefik: none\n  url: http://m.example.com:5000\n  tls_cert: " + crt + "\n  tls_key: " + key + "\n", `inv.yaml:3: mirror.url (--url): "http://m.example.com:5000" is http`},
		{"ca not a cert", "mirror:\n  fqdn: m.example.com\n  ca_file: " + junk + "\n", "inv.yaml:3: mirror.ca_file (--ca-file): " + junk + ": holds a PRIVATE KEY block"},
		{"ca missing", "mirror:\n  fqdn: m.example.com\n  ca_file: " + dir + "/nope.pem\n", "inv.yaml:3: mirror.ca_file (--ca-file): open " + dir + "/nope.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateYAML(t, tc.yml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant ...%s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Errorf("key material in %v", err)
			}
		})
	}
}

func TestValidateUpstreamsAccepts(t *testing.T) {
	dir := t.TempDir()
	crt, key := testCert(t, dir, "mirror", "m.example.com")
	t.Setenv("SWARMCTL_TEST_Q", "pw")
	for _, yml := range []string{
		"mirror:\n  fqdn: m.example.com\n  registries: [docker.io, ghcr.io, quay.io, registry.example.com:5000]\n",
		"mirror:\n  fqdn: m.example.com\n  remote_url: https://hub.example.com\n  registries:\n    - registry: docker.io\n      remote_url: https://hub.example.com\n",
		"mirror:\n  traefik: none\n  url: https://m.example.com:5000\n  tls_cert: " + crt + "\n  tls_key: " + key + "\n  ca_file: " + crt + "\n  registries: [ghcr.io, quay.io]\n",
		"mirror:\n  traefik: none\n  url: http://10.0.0.5:5000\n  replica_nodes: [m1, m2, m3]\n  registries:\n    - docker.io\n    - registry: quay.io\n      username: bot\n      password_env: SWARMCTL_TEST_Q\n",
	} {
		if err := validateYAML(t, yml); err != nil {
			t.Errorf("%s: %v", yml, err)
		}
	}
}
