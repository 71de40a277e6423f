package nodes

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Host key policies (DialOptions.HostKeyPolicy).
const (
	HostKeyStrict    = "strict"
	HostKeyAcceptNew = "accept-new"
	HostKeyInsecure  = "insecure"
)

// HostKeyError is a host key that the policy refused: unknown under the
// strict policy, or different from the recorded one (Changed) under any
// policy but insecure.
type HostKeyError struct {
	Host        string // host:port as checked
	Fingerprint string // SHA256 fingerprint of the key the server offered
	KeyType     string
	Changed     bool
	Files       []string // known_hosts files checked
	// Known lists "file:line" of the recorded keys when Changed.
	Known []string
	// Key is the key the server offered (to record it once a person
	// confirmed its fingerprint: RecordHostKey).
	Key ssh.PublicKey `json:"-"`
}

func (e *HostKeyError) Error() string {
	files := strings.Join(e.Files, ", ")
	if files == "" {
		files = "(no known_hosts file)"
	}
	host, port, err := net.SplitHostPort(e.Host)
	if err != nil {
		host, port = e.Host, "22"
	}
	if e.Changed {
		return fmt.Sprintf("host key for %s has CHANGED: the server offered %s %s, which differs from the key recorded at %s; "+
			"this may be a man-in-the-middle attack. If the host was legitimately reinstalled, verify the new fingerprint out of band, "+
			"remove the old entry (ssh-keygen -R %s) and connect again",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "), knownhosts.Normalize(e.Host))
	}
	scan := "ssh-keyscan " + host
	if port != "22" {
		scan = "ssh-keyscan -p " + port + " " + host
	}
	first := "~/.ssh/known_hosts"
	if len(e.Files) > 0 {
		first = e.Files[0]
	}
	return fmt.Sprintf("host key for %s is unknown: the server offered %s %s, not found in %s; "+
		"verify the fingerprint and add it with `%s >> %s`, or use --host-key-policy accept-new for first contact",
		e.Host, e.KeyType, e.Fingerprint, files, scan, first)
}

// insecureWarned remembers hosts already warned about under the insecure
// policy, so the warning is printed once per host per process.
var insecureWarned sync.Map

// knownHostsMu serialises appends to known_hosts files within the process;
// a flock on the file covers other processes.
var knownHostsMu sync.Mutex

// hostKeyChecker builds the callback for one dial and knows which host key
// algorithms to prefer (those already recorded for the host, so a host with
// several keys is checked against the one we know).
type hostKeyChecker struct {
	policy string
	files  []string // all configured files, the first one receives accept-new lines
	warn   io.Writer
}

func newHostKeyChecker(policy string, files []string, warn io.Writer) (*hostKeyChecker, error) {
	switch policy {
	case "":
		policy = HostKeyStrict
	case HostKeyStrict, HostKeyAcceptNew, HostKeyInsecure:
	default:
		return nil, fmt.Errorf("unknown host key policy %q (want strict, accept-new or insecure)", policy)
	}
	if warn == nil {
		warn = os.Stderr
	}
	var fs []string
	for _, f := range files {
		if f != "" {
			fs = append(fs, ExpandHome(f))
		}
	}
	return &hostKeyChecker{policy: policy, files: fs, warn: warn}, nil
}

// knownHostsCache is the last parsed set of known_hosts files, shared by
// every dial of the process: a fleet's file holds a line per node, and
// parsing it again for each dial made a run quadratic in the fleet's size.
// The files' identity, size and modification time key it, so a file that
// changed (an accept-new append, another process) is parsed again.
var knownHostsCache struct {
	sync.Mutex
	key    string
	cb     ssh.HostKeyCallback
	parses int // for tests
}

// load parses every existing known_hosts file. Missing files count as empty.
func (c *hostKeyChecker) load() (ssh.HostKeyCallback, error) {
	var existing []string
	var key strings.Builder
	for _, f := range c.files {
		st, err := os.Stat(f)
		if err == nil {
			existing = append(existing, f)
			fmt.Fprintf(&key, "%s\x00%d\x00%d\x00", f, st.Size(), st.ModTime().UnixNano())
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(&key, "%d:%d\x00", sys.Dev, sys.Ino)
			}
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	if len(existing) == 0 {
		return func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	knownHostsCache.Lock()
	defer knownHostsCache.Unlock()
	if knownHostsCache.cb != nil && knownHostsCache.key == key.String() {
		return knownHostsCache.cb, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	knownHostsCache.key, knownHostsCache.cb = key.String(), cb
	knownHostsCache.parses++
	return cb, nil
}

// probeKey is a key no host has: looking it up in known_hosts lists the
// keys recorded for a host (see algorithms).
var probeKey = sync.OnceValues(func() (ssh.PublicKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(k)
	if err != nil {
		return nil, err
	}
	return signer.PublicKey(), nil
})

// firstContactAlgorithms is the order host key algorithms are asked for a
// host with no recorded key, OpenSSH's: ed25519 first, so the key shown
// and recorded at first contact is the one people compare
// (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub).
var firstContactAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
}

// algorithms returns the host key algorithms to offer for addr: those of the
// keys recorded for it, or OpenSSH's order (firstContactAlgorithms) when
// none are.
func (c *hostKeyChecker) algorithms(addr string) []string {
	if c.policy == HostKeyInsecure {
		return nil
	}
	cb, err := c.load()
	if err != nil {
		return nil
	}
	probe, err := probeKey()
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(addr, fakeAddr(addr), probe), &ke) || len(ke.Want) == 0 {
		return firstContactAlgorithms
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// callback returns the ssh.HostKeyCallback implementing the policy.
func (c *hostKeyChecker) callback() (ssh.HostKeyCallback, error) {
	if c.policy == HostKeyInsecure {
		return func(hostname string, _ net.Addr, key ssh.PublicKey) error {
			if _, dup := insecureWarned.LoadOrStore(hostname, true); !dup {
				fmt.Fprintf(c.warn, "WARNING: host key checking is DISABLED (--host-key-policy insecure): accepting %s key %s for %s without verification; anyone on the network path can impersonate this host\n",
					key.Type(), ssh.FingerprintSHA256(key), hostname)
			}
			return nil
		}, nil
	}
	cb, err := c.load()
	if err != nil {
		return nil, err
	}
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err // revoked key or unparsable address
		}
		if len(ke.Want) == 0 && c.policy == HostKeyAcceptNew && len(c.files) > 0 {
			return c.record(hostname, remote, key)
		}
		return c.refuse(hostname, key, ke)
	}, nil
}

func (c *hostKeyChecker) refuse(hostname string, key ssh.PublicKey, ke *knownhosts.KeyError) error {
	e := &HostKeyError{
		Host:        hostname,
		Fingerprint: ssh.FingerprintSHA256(key),
		KeyType:     key.Type(),
		Changed:     len(ke.Want) > 0,
		Files:       c.files,
		Key:         key,
	}
	for _, w := range ke.Want {
		e.Known = append(e.Known, fmt.Sprintf("%s:%d", w.Filename, w.Line))
	}
	return e
}

// record appends the key of a host seen for the first time to the first
// known_hosts file. Under the lock the files are read again: a parallel
// dial (this or another process) may have recorded the host meanwhile, in
// which case its key must match.
func (c *hostKeyChecker) record(hostname string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	file := c.files[0]
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("known_hosts: lock %s: %w", file, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck

	cb, err := c.load()
	if err != nil {
		return err
	}
	err = cb(hostname, remote, key)
	var ke *knownhosts.KeyError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ke):
		return err
	case len(ke.Want) > 0:
		return c.refuse(hostname, key, ke)
	}
	// Make sure the new line starts on a line of its own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte("\n")); err != nil {
				return fmt.Errorf("known_hosts: %w", err)
			}
		}
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	if _, err := f.Write([]byte(line)); err != nil {
		return fmt.Errorf("known_hosts: write %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("known_hosts: sync %s: %w", file, err)
	}
	fmt.Fprintf(c.warn, "Permanently added %s (%s %s) to %s\n", knownhosts.Normalize(hostname), key.Type(), ssh.FingerprintSHA256(key), file)
	return nil
}

// RecordHostKey records the key of a host never seen before (e.Changed
// false) in the first known_hosts file e was checked against, as
// accept-new would, for a caller that showed the fingerprint and got a
// yes. A changed key is never recorded.
func RecordHostKey(e *HostKeyError, warn io.Writer) error {
	if e.Changed || e.Key == nil || len(e.Files) == 0 {
		return fmt.Errorf("host key for %s: not recordable (changed, or no known_hosts file)", e.Host)
	}
	c, err := newHostKeyChecker(HostKeyAcceptNew, e.Files, warn)
	if err != nil {
		return err
	}
	return c.record(e.Host, fakeAddr(e.Host), e.Key)
}

// HostKeyKnown looks t's SSH server (ssh_config HostName and Port
// applied) up in the known_hosts files a dial would check, without
// dialling: known, with the file and line of its entry, or not, with the
// files looked in. Jump hosts are not looked up.
func HostKeyKnown(o DialOptions, t Target) (known bool, where string, files []string, err error) {
	cfg := o.SSHConfigPath
	if cfg == "" {
		cfg = "~/.ssh/config"
	}
	ep, err := resolveEndpoint(cfg, t.Host, "-", t.Port, nil, "")
	if err != nil {
		return false, "", nil, err
	}
	files = o.KnownHostsFiles
	if len(files) == 0 {
		files = ep.knownHosts
	}
	if len(files) == 0 {
		files = []string{"~/.ssh/known_hosts"}
	}
	c, err := newHostKeyChecker(HostKeyStrict, files, io.Discard)
	if err != nil {
		return false, "", nil, err
	}
	cb, err := c.load()
	if err != nil {
		return false, "", c.files, err
	}
	probe, err := probeKey()
	if err != nil {
		return false, "", c.files, err
	}
	var ke *knownhosts.KeyError
	if errors.As(cb(ep.addr, fakeAddr(ep.addr), probe), &ke) && len(ke.Want) > 0 {
		return true, fmt.Sprintf("%s:%d", ke.Want[0].Filename, ke.Want[0].Line), c.files, nil
	}
	return false, ep.addr, c.files, nil
}

// fakeAddr is a net.Addr for probing the known_hosts database by name.
type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
