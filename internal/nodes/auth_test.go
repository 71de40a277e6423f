package nodes

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/swarmctl/swarmctl/internal/nodes/sshtest"
)

func TestAuthAgent(t *testing.T) {
	e := newEnv(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(e.dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	pub, _ := ssh.NewPublicKey(priv.Public())
	e.srvConf.AuthorizedKeys = []ssh.PublicKey{pub} // only the agent's key
	s := e.server(t)
	tg := e.target(s)
	tg.KeyFiles = nil
	h := e.dial(t, tg)
	if _, err := h.Run(context.Background(), Cmd{Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
}

func TestAuthEncryptedKey(t *testing.T) {
	e := newEnv(t)
	// ssh-keygen with 1 KDF round: Go's marshaller uses 16, slow under -race.
	key := filepath.Join(e.dir, "id_enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "1", "-N", "correct horse", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen (install openssh-client): %v: %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	signer, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	e.srvConf.AuthorizedKeys = []ssh.PublicKey{signer}
	s := e.server(t)
	tg := e.target(s)
	tg.KeyFiles = []string{key}

	// No passphrase source: a clear error naming the file and the variable.
	_, err = Dial(context.Background(), tg, e.opts)
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), PassphraseEnv) {
		t.Fatalf("err = %v", err)
	}

	// Wrong passphrase.
	e.opts.Passphrase = func(string) ([]byte, error) { return []byte("wrong"), nil }
	_, err = Dial(context.Background(), tg, e.opts)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "wrong\"") {
		t.Fatalf("err = %v", err)
	}

	asked := 0
	e.opts.Passphrase = func(f string) ([]byte, error) {
		asked++
		if f != key {
			t.Errorf("asked for %q", f)
		}
		return []byte("correct horse"), nil
	}
	for i := 0; i < 2; i++ {
		h := e.dial(t, tg)
		if _, err := h.Run(context.Background(), Cmd{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("passphrase asked %d times, want 1 (cached)", asked)
	}
	if strings.Contains(e.logs.String()+e.warn.String(), "correct horse") {
		t.Fatal("passphrase leaked into logs")
	}
}

func TestAuthKeyPEMAndDefaults(t *testing.T) {
	e := newEnv(t)
	// KeyPEM: a key given in memory (a CI secret).
	pemFile, signer := testKey(t, e.dir, "ci_key", "")
	pemBytes, _ := os.ReadFile(pemFile)
	os.Remove(pemFile)
	// Default key: ~/.ssh/id_ed25519 (HOME is the temp dir).
	os.MkdirAll(filepath.Join(e.dir, ".ssh"), 0o700)
	_, defSigner := testKey(t, filepath.Join(e.dir, ".ssh"), "id_ed25519", "")

	e.srvConf.AuthorizedKeys = []ssh.PublicKey{signer.PublicKey()}
	s := e.server(t)
	tg := e.target(s)
	tg.KeyFiles = nil
	o := e.opts
	o.KeyPEM = pemBytes
	h, err := Dial(context.Background(), tg, o)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()

	// Without KeyPEM the default key is used.
	e.srvConf.AuthorizedKeys = []ssh.PublicKey{defSigner.PublicKey()}
	s2 := e.server(t)
	h = e.dial(t, e.targetNoKey(s2))
	h.Close()

	// A key the server does not accept: authentication error names the user.
	_, err = Dial(context.Background(), e.targetNoKey(s), e.opts)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "root@") {
		t.Fatalf("err = %v", err)
	}
	var hk *HostKeyError
	if errors.As(err, &hk) {
		t.Fatal("auth failure reported as host key error")
	}
}

func TestAuthNoKeys(t *testing.T) {
	e := newEnv(t)
	s := e.server(t)
	_, err := Dial(context.Background(), e.targetNoKey(s), e.opts)
	if err == nil || !strings.Contains(err.Error(), "no SSH key") {
		t.Fatalf("err = %v", err)
	}
	tg := e.target(s)
	tg.KeyFiles = []string{filepath.Join(e.dir, "missing")}
	if _, err := Dial(context.Background(), tg, e.opts); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v", err)
	}
}

func (e *env) targetNoKey(s *sshtest.Server) Target {
	tg := e.target(s)
	tg.KeyFiles = nil
	return tg
}
