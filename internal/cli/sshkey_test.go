package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// testPrivateKey returns an OpenSSH private key in PEM form.
func testPrivateKey(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(blk)
}

// A CI secret that must fit on one line (GitLab masks only those) holds the
// key base64-encoded: it is used as the key, never as a file name.
func TestSSHKeyFromEnvAcceptsBase64(t *testing.T) {
	key := testPrivateKey(t)
	for name, val := range map[string]string{
		"base64":         base64.StdEncoding.EncodeToString(key),
		"base64 wrapped": wrap76(base64.StdEncoding.EncodeToString(key)),
		"PEM":            string(key),
	} {
		var got nodes.DialOptions
		var files []string
		d, _, errb := testDeps(func(_ context.Context, tg nodes.Target, o nodes.DialOptions) (nodes.Host, error) {
			got, files = o, tg.KeyFiles
			return nil, errors.New("refused")
		})
		d.Getenv = func(k string) string {
			if k == "SWARMCTL_SSH_KEY" {
				return val
			}
			return ""
		}
		Run(context.Background(), d, []string{"nodes", "list", "--host", "10.0.0.1"})
		if !bytes.Equal(got.KeyPEM, key) || len(files) != 0 {
			t.Errorf("%s: KeyPEM %d bytes (want %d), key files %q\n%s", name, len(got.KeyPEM), len(key), files, errb)
		}
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return b.String() + s + "\n"
}

// A value in SWARMCTL_SSH_KEY that is neither a file nor a key is refused
// before any node is dialled, with a message that describes it and never
// quotes it: it may be a damaged key. Nothing of it reaches stdout, stderr,
// the JSON or the --output-file artifact.
func TestSSHKeyValueNeverEchoed(t *testing.T) {
	// Looks like a base64 key, decodes to no key (a secret cut at both ends).
	secret := base64.StdEncoding.EncodeToString(testPrivateKey(t)[40:340])
	artifact := filepath.Join(t.TempDir(), "result.json")
	d := DefaultDeps() // the real dialer: a key problem must not even reach it
	var out, errb bytes.Buffer
	d.IO = &IOStreams{In: strings.NewReader(""), Out: &out, Err: &errb, NoColor: true}
	d.Getenv = func(k string) string {
		if k == "SWARMCTL_SSH_KEY" {
			return secret
		}
		return ""
	}
	code := Run(context.Background(), d, []string{"nodes", "list", "--host", "127.0.0.1:1", "--connect-timeout", "2s", "-o", "json", "--output-file", artifact})
	b, _ := os.ReadFile(artifact)
	for what, s := range map[string]string{"stdout": out.String(), "stderr": errb.String(), "artifact": string(b)} {
		for _, part := range []string{secret, secret[:40], secret[len(secret)-40:]} {
			if strings.Contains(s, part) {
				t.Errorf("the SWARMCTL_SSH_KEY value appears in %s:\n%s", what, s)
			}
		}
	}
	if code != ExitError || !strings.Contains(errb.String(), "SWARMCTL_SSH_KEY: not a readable file and not a private key (PEM or base64)") {
		t.Errorf("exit %d, stderr %s; want 2 and a description of the value", code, errb.String())
	}
}

// --output-file artifacts are private (0600), also when the file existed.
func TestOutputFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	fresh, existing := filepath.Join(dir, "fresh.json"), filepath.Join(dir, "existing.json")
	if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fresh, existing} {
		d, _, _ := testDeps(func(context.Context, nodes.Target, nodes.DialOptions) (nodes.Host, error) {
			return nil, errors.New("refused")
		})
		Run(context.Background(), d, []string{"nodes", "list", "--host", "10.0.0.1", "--output-file", p})
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
}
