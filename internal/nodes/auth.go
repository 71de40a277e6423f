package nodes

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// PassphraseEnv is the environment variable callers read a key passphrase
// from (named in errors so users know what to set).
const PassphraseEnv = "SWARMCTL_SSH_PASSPHRASE"

// defaultKeyFiles are tried, when present, if no key is configured.
var defaultKeyFiles = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// signerCache keeps decrypted keys for the life of the process so that
// dialling many nodes asks for a passphrase once per key file.
var signerCache struct {
	sync.Mutex
	m map[string]ssh.Signer
}

// auth holds the credentials of one Dial (shared by its jump hosts).
type auth struct {
	signers []ssh.Signer // explicit keys first, then agent keys, then defaults
	agent   net.Conn
	skipped []string // default keys that could not be used, for error messages
	// sources names each signer's origin, in order (for doctor).
	sources []string
}

func (a *auth) close() {
	if a.agent != nil {
		a.agent.Close()
	}
}

func (a *auth) methods() []ssh.AuthMethod {
	// One publickey method carrying every signer: the client tries each
	// auth method type only once.
	return []ssh.AuthMethod{ssh.PublicKeys(a.signers...)}
}

// KeyMaterial recognises a private key given as a value rather than a file:
// PEM or OpenSSH text, or that text base64-encoded (the usual form of a CI
// secret that must fit on one line). ok is false when s is neither; the
// caller must then not print s, which may be a damaged key.
func KeyMaterial(s string) (key []byte, ok bool) {
	const marker = "PRIVATE KEY-----"
	if strings.Contains(s, marker) {
		return []byte(s), true
	}
	compact := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	if len(compact) < 64 {
		return nil, false // far too short for a key: a file name
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil && bytes.Contains(b, []byte(marker)) {
			return b, true
		}
	}
	return nil, false
}

// loadAuth gathers the signers for a dial: KeyPEM and keyFiles (errors are
// fatal: the user asked for them), configFiles (from ssh_config: missing
// ones are skipped, like ssh does), the ssh-agent, and the default key files
// when nothing was configured (unusable defaults are skipped).
func loadAuth(keyFiles, configFiles []string, o DialOptions) (*auth, error) {
	a := &auth{}
	add := func(s ssh.Signer, from string) {
		a.signers = append(a.signers, s)
		a.sources = append(a.sources, from+" ("+s.PublicKey().Type()+")")
	}
	if len(o.KeyPEM) > 0 {
		s, err := parseKey(o.KeyPEM, "the key given in the environment", o.Passphrase)
		if err != nil {
			return nil, err
		}
		add(s, "the key given in the environment")
	}
	for _, f := range keyFiles {
		s, err := loadKeyFile(f, o.Passphrase)
		if err != nil {
			return nil, err
		}
		add(s, ExpandHome(f))
	}
	for _, f := range configFiles {
		if _, err := os.Stat(ExpandHome(f)); os.IsNotExist(err) {
			a.skipped = append(a.skipped, "ssh_config IdentityFile "+f+" does not exist")
			continue
		}
		s, err := loadKeyFile(f, o.Passphrase)
		if err != nil {
			return nil, err
		}
		add(s, ExpandHome(f)+" (ssh_config IdentityFile)")
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			if ss, err := agent.NewClient(c).Signers(); err == nil && len(ss) > 0 {
				a.agent = c
				for _, s := range ss {
					add(s, "ssh-agent")
				}
			} else {
				c.Close()
			}
		}
	}
	if len(o.KeyPEM) == 0 && len(keyFiles) == 0 && len(configFiles) == 0 {
		for _, f := range defaultKeyFiles {
			f = ExpandHome(f)
			if _, err := os.Stat(f); err != nil {
				continue
			}
			s, err := loadKeyFile(f, o.Passphrase)
			if err != nil {
				a.skipped = append(a.skipped, err.Error())
				continue
			}
			add(s, f)
		}
	}
	if len(a.signers) == 0 {
		a.close()
		msg := "no SSH key: start ssh-agent with a key loaded, pass a key file (--ssh-key / inventory key / ssh_config IdentityFile) or provide the key in the environment"
		if len(a.skipped) > 0 {
			msg += " (" + strings.Join(a.skipped, "; ") + ")"
		}
		return nil, errors.New(msg)
	}
	return a, nil
}

func loadKeyFile(file string, pass func(string) ([]byte, error)) (ssh.Signer, error) {
	file = ExpandHome(file)
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	signerCache.Lock()
	defer signerCache.Unlock() // also serialises passphrase prompts
	if s, ok := signerCache.m[file]; ok {
		return s, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	s, err := parseKey(pem, file, pass)
	if err != nil {
		return nil, err
	}
	if signerCache.m == nil {
		signerCache.m = map[string]ssh.Signer{}
	}
	signerCache.m[file] = s
	return s, nil
}

// parseKey parses a private key, asking pass for the passphrase of an
// encrypted one. name is used in messages (never the key material).
func parseKey(pem []byte, name string, pass func(string) ([]byte, error)) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(pem)
	if err == nil {
		return s, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return nil, fmt.Errorf("ssh key %s: %v", name, err)
	}
	if pass == nil {
		return nil, fmt.Errorf("ssh key %s is encrypted: set %s to its passphrase or load it into ssh-agent", name, PassphraseEnv)
	}
	p, err := pass(name)
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: passphrase: %w", name, err)
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(pem, p)
	clear(p)
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("ssh key %s: wrong passphrase", name)
		}
		return nil, fmt.Errorf("ssh key %s: %v", name, err)
	}
	return s, nil
}

// KeysOffered lists the keys a dial to t would offer, each with where it
// comes from ("~/.ssh/id_ed25519 (ssh-ed25519)", "ssh-agent (...)"), and
// the keys skipped and why: what `swarmctl doctor` shows, from the same
// code the dialer uses. Nothing is dialled.
func KeysOffered(o DialOptions, t Target) (offered, skipped []string, err error) {
	cfg := o.SSHConfigPath
	if cfg == "" {
		cfg = "~/.ssh/config"
	}
	ep, err := resolveEndpoint(cfg, t.Host, t.User, t.Port, t.KeyFiles, "")
	if err != nil {
		return nil, nil, err
	}
	var fromConfig []string
	if len(t.KeyFiles) == 0 {
		fromConfig = ep.keyFiles
	}
	a, err := loadAuth(dedup(t.KeyFiles), dedup(fromConfig), o)
	if err != nil {
		return nil, nil, err
	}
	defer a.close()
	return a.sources, a.skipped, nil
}
