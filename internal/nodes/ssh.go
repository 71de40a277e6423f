package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Target is one node to dial. Explicit fields (from flags or the inventory)
// win over ssh_config, which wins over defaults.
type Target struct {
	Name     string // display name; defaults to Host
	Host     string // address or ssh_config alias
	Port     int    // 0: ssh_config Port, else 22
	User     string // "": ssh_config User, else the local user
	KeyFiles []string
	// Sudo wraps privileged commands (Cmd.Sudo) in `sudo -n` when the
	// login user is not root. Without it commands run as the login user.
	Sudo bool
}

// DialOptions are the settings shared by every dial of a run.
type DialOptions struct {
	// KnownHostsFiles are checked for host keys; the first one receives
	// keys recorded under accept-new. Default: ssh_config
	// UserKnownHostsFile, else ~/.ssh/known_hosts.
	KnownHostsFiles []string
	// HostKeyPolicy is "strict" (default), "accept-new" or "insecure".
	HostKeyPolicy string
	// SSHConfigPath is the ssh_config file to honour (default
	// ~/.ssh/config; "none" disables it).
	SSHConfigPath string
	// Bastion is a jump host, [user@]host[:port]; overrides ProxyJump.
	Bastion string
	// KeyPEM is a private key given directly (e.g. a CI secret).
	KeyPEM []byte
	// Passphrase returns the passphrase of an encrypted key; nil makes an
	// encrypted key an error.
	Passphrase func(keyFile string) ([]byte, error)
	// ConnectTimeout bounds TCP connect plus SSH handshake per hop (10s).
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests (15s; <0 disables).
	KeepAlive time.Duration
	// Log, when set, receives every remote command line (redacted).
	Log func(format string, args ...any)
	// Warn receives warnings (insecure host keys, recorded keys); default
	// os.Stderr.
	Warn io.Writer
}

// Defaults for DialOptions.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 15 * time.Second
)

// SSHHost is a node reached over one SSH connection, shared by every
// command and by SFTP. It implements Host and Locker.
type SSHHost struct {
	name  string
	addr  string
	user  string
	sudo  bool
	log   func(format string, args ...any)
	auth  *auth
	hops  []*ssh.Client // jump hosts, outermost first
	cl    *ssh.Client
	done  chan struct{}
	close sync.Once
	cerr  error

	sftpMu sync.Mutex
	sftp   *sftp.Client
}

var (
	_ Host   = (*SSHHost)(nil)
	_ Locker = (*SSHHost)(nil)
)

// Dial connects to t, through its jump hosts if any, checking host keys
// under o.HostKeyPolicy. Its errors do not name the node: every caller
// reports them under the node's name already.
func Dial(ctx context.Context, t Target, o DialOptions) (*SSHHost, error) {
	if t.Host == "" {
		return nil, errors.New("dial: empty host")
	}
	name := t.Name
	if name == "" {
		name = t.Host
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.SSHConfigPath == "" {
		o.SSHConfigPath = "~/.ssh/config"
	}
	ep, err := resolveEndpoint(o.SSHConfigPath, t.Host, t.User, t.Port, t.KeyFiles, "")
	if err != nil {
		return nil, err
	}
	known := o.KnownHostsFiles
	if len(known) == 0 {
		known = ep.knownHosts
	}
	if len(known) == 0 {
		known = []string{"~/.ssh/known_hosts"}
	}
	checker, err := newHostKeyChecker(o.HostKeyPolicy, known, o.Warn)
	if err != nil {
		return nil, err
	}

	jumps := ep.jumpsUnder(o)
	var hopEPs []endpoint
	// Keys named by the caller must load; keys named by ssh_config are
	// skipped when missing, as ssh does.
	explicit := append([]string(nil), t.KeyFiles...)
	var fromConfig []string
	if len(explicit) == 0 {
		fromConfig = append(fromConfig, ep.keyFiles...)
	}
	for _, j := range jumps {
		u, h, p, err := parseHop(j)
		if err != nil {
			return nil, err
		}
		// A jump host's user: from the hop spec, else its ssh_config
		// entry, else the target's user.
		hep, err := resolveEndpoint(o.SSHConfigPath, h, u, p, nil, ep.user)
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", j, err)
		}
		hopEPs = append(hopEPs, hep)
		fromConfig = append(fromConfig, hep.keyFiles...)
	}

	a, err := loadAuth(dedup(explicit), dedup(fromConfig), o)
	if err != nil {
		return nil, err
	}
	h := &SSHHost{name: name, addr: ep.addr, user: ep.user, sudo: t.Sudo, log: o.Log, auth: a, done: make(chan struct{})}
	var via *ssh.Client
	for i, hep := range append(hopEPs, ep) {
		c, err := dialHop(ctx, via, hep, a, checker, o.ConnectTimeout)
		if err != nil {
			for j := len(h.hops) - 1; j >= 0; j-- {
				h.hops[j].Close()
			}
			a.close()
			if i < len(hopEPs) {
				return nil, fmt.Errorf("jump host %s: %w", hep.addr, err)
			}
			return nil, err
		}
		h.hops = append(h.hops, c)
		via = c
	}
	h.cl = h.hops[len(h.hops)-1]
	h.hops = h.hops[:len(h.hops)-1]
	if o.KeepAlive > 0 {
		go h.keepAlive(o.KeepAlive)
	}
	return h, nil
}

// endpoint is one resolved SSH server.
type endpoint struct {
	addr       string // host:port dialled (and checked against known_hosts)
	user       string
	keyFiles   []string
	knownHosts []string
	jumps      []string
}

// jumpsUnder is the jump host chain to ep: --bastion replaces ssh_config's
// ProxyJump.
func (ep endpoint) jumpsUnder(o DialOptions) []string {
	if o.Bastion != "" {
		return []string{o.Bastion}
	}
	return ep.jumps
}

// Endpoint names the SSH server t is dialled on under o, as Dial would
// resolve it (ssh_config HostName and Port): the jump hosts, then
// host:port. Two targets with the same Endpoint reach one machine. It reads
// ssh_config only; nothing is dialled.
func Endpoint(o DialOptions, t Target) (string, error) {
	cfg := o.SSHConfigPath
	if cfg == "" {
		cfg = "~/.ssh/config"
	}
	// The user does not change which server is reached: skip looking one up.
	ep, err := resolveEndpoint(cfg, t.Host, "-", t.Port, nil, "")
	if err != nil {
		return "", err
	}
	return strings.Join(append(ep.jumpsUnder(o), ep.addr), " -> "), nil
}

func resolveEndpoint(cfgPath, host, user string, port int, keyFiles []string, defUser string) (endpoint, error) {
	rh, err := ResolveSSHConfig(cfgPath, host)
	if err != nil {
		return endpoint{}, err
	}
	hostname := host
	if rh.HostName != "" {
		hostname = rh.HostName
	}
	if port == 0 {
		port = rh.Port
	}
	if port == 0 {
		port = 22
	}
	if user == "" {
		user = rh.User
	}
	if user == "" {
		user = defUser
	}
	if user == "" {
		user = localUser()
	}
	if len(keyFiles) == 0 {
		keyFiles = rh.IdentityFiles
	}
	return endpoint{
		addr:       net.JoinHostPort(hostname, strconv.Itoa(port)),
		user:       user,
		keyFiles:   keyFiles,
		knownHosts: rh.KnownHostsFile,
		jumps:      rh.ProxyJump,
	}, nil
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// dialHop opens TCP (directly, or through via) and runs the SSH handshake,
// both bounded by ctx and timeout.
func dialHop(ctx context.Context, via *ssh.Client, ep endpoint, a *auth, checker *hostKeyChecker, timeout time.Duration) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cb, err := checker.callback()
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              ep.user,
		Auth:              a.methods(),
		HostKeyCallback:   cb,
		HostKeyAlgorithms: checker.algorithms(ep.addr),
		Timeout:           timeout,
	}
	var conn net.Conn
	if host, _, _ := net.SplitHostPort(ep.addr); isInvalidTLD(host) {
		// RFC 6761 6.4: resolvers should answer names under .invalid
		// negatively at once, without asking a DNS server.
		return nil, fmt.Errorf("connect %s: lookup %s: no such host (.invalid is reserved and never resolves)", ep.addr, host)
	}
	if via == nil {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", ep.addr)
	} else {
		conn, err = via.DialContext(ctx, "tcp", ep.addr)
	}
	if err != nil {
		// The dialer's own deadline can fire a moment before ctx records
		// it, so a net timeout counts too (unless the user cancelled).
		var ne net.Error
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
		if timedOut && !errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("connect %s: timed out after %s", ep.addr, timeout)
		}
		return nil, fmt.Errorf("connect %s: %w", ep.addr, err)
	}
	type result struct {
		c     ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		c, chans, reqs, err := ssh.NewClientConn(conn, ep.addr, cfg)
		ch <- result{c, chans, reqs, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			conn.Close()
			var hk *HostKeyError
			if errors.As(r.err, &hk) {
				return nil, hk
			}
			if strings.Contains(r.err.Error(), "unable to authenticate") {
				msg := fmt.Sprintf("ssh %s@%s: authentication failed (server refused every key offered: %d)", ep.user, ep.addr, len(a.signers))
				if len(a.skipped) > 0 {
					msg += "; not tried: " + strings.Join(a.skipped, "; ")
				}
				return nil, errors.New(msg)
			}
			return nil, fmt.Errorf("ssh %s: %w", ep.addr, r.err)
		}
		return ssh.NewClient(r.c, r.chans, r.reqs), nil
	case <-ctx.Done():
		conn.Close()
		go func() { // reap the handshake goroutine
			if r := <-ch; r.err == nil {
				r.c.Close()
			}
		}()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("ssh %s: handshake timed out after %s", ep.addr, timeout)
		}
		return nil, ctx.Err()
	}
}

// keepAlive sends keepalive@openssh.com requests; a request that fails or
// gets no answer within the interval closes the connection, so commands on
// a dead connection fail instead of hanging.
func (h *SSHHost) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case <-t.C:
		}
		res := make(chan error, 1)
		go func() {
			_, _, err := h.cl.SendRequest("keepalive@openssh.com", true, nil)
			res <- err
		}()
		select {
		case <-h.done:
			return
		case err := <-res:
			if err == nil {
				continue
			}
		case <-time.After(every):
		}
		h.logf("%s: keepalive failed, closing the connection", h.name)
		h.Close()
		return
	}
}

// Name is the node's display name.
func (h *SSHHost) Name() string { return h.name }

// Addr is host:port as dialled.
func (h *SSHHost) Addr() string { return h.addr }

// User is the login user.
func (h *SSHHost) User() string { return h.user }

// IsRoot tells whether the login user is root (no sudo needed).
func (h *SSHHost) IsRoot() bool { return h.user == "root" }

// privileged tells whether Cmd.Sudo needs no wrapping: the user is root,
// or the target does not use sudo.
func (h *SSHHost) privileged() bool { return h.IsRoot() || !h.sudo }

func (h *SSHHost) logf(format string, args ...any) {
	if h.log != nil {
		h.log(format, args...)
	}
}

// Client returns the underlying SSH client (for callers that need port
// forwarding or their own sessions).
func (h *SSHHost) Client() *ssh.Client { return h.cl }

// Close closes SFTP, the connection and the jump hosts. Safe to call more
// than once.
func (h *SSHHost) Close() error {
	h.close.Do(func() {
		close(h.done)
		h.sftpMu.Lock()
		if h.sftp != nil {
			h.sftp.Close()
		}
		h.sftpMu.Unlock()
		err := h.cl.Close()
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			h.cerr = err
		}
		for i := len(h.hops) - 1; i >= 0; i-- {
			h.hops[i].Close()
		}
		h.auth.close()
	})
	return h.cerr
}

// Run runs c on the node; see Host.Run. A cancelled ctx kills the remote
// command (signal, then channel close) and returns ctx.Err(). Like Dial's,
// its errors leave naming the node to the caller.
func (h *SSHHost) Run(ctx context.Context, c Cmd) (Output, error) {
	line := CommandLine(c, h.privileged())
	logged := Redact(line, c.Redact)
	h.logf("%s: %s", h.name, logged)
	NoteScript(ctx, c)
	if err := ctx.Err(); err != nil {
		return Output{}, err
	}
	sess, err := h.cl.NewSession()
	if err != nil {
		return Output{}, fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	stdout, stderr := newCappedBuffer(MaxOutput), newCappedBuffer(maxStderr)
	sess.Stdout, sess.Stderr = stdout, stderr
	if c.Stdin != nil {
		sess.Stdin = bytes.NewReader(c.Stdin)
	}
	if err := sess.Start(line); err != nil {
		return Output{}, fmt.Errorf("start command: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	stop := func() {
		// Best effort: OpenSSH refuses signal requests for some sessions
		// (root logins), and keeps the channel until the command exits, so
		// Run does not wait for the remote side to acknowledge.
		sess.Signal(ssh.SIGKILL) //nolint:errcheck
		sess.Close()
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		stop()
		return Output{}, cause(ctx)
	case <-stdout.full:
		stop()
		return Output{}, &OutputLimitError{Command: logged, Limit: MaxOutput}
	}
	if stdout.overflowed() {
		return Output{}, &OutputLimitError{Command: logged, Limit: MaxOutput}
	}
	out := Output{Stdout: stdout.b.Bytes(), Stderr: stderr.b.Bytes()}
	if err == nil {
		return out, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		xe := &ExitError{Host: h.name, Command: logged, Status: ee.ExitStatus(), Stdout: out.Stdout, Stderr: out.Stderr}
		if c.Sudo && !h.privileged() && sudoWantsPassword(out.Stderr) {
			return out, &SudoPasswordError{Host: h.name, User: h.user, Err: xe}
		}
		return out, xe
	}
	var me *ssh.ExitMissingError
	if errors.As(err, &me) {
		return out, fmt.Errorf("connection lost while running %s (no exit status)", logged)
	}
	return out, fmt.Errorf("%s: %w", logged, err)
}

// MaxOutput caps what swarmctl reads of one command's output, or of one
// file, from a node: a node that prints without end (or a huge file) is
// refused with an *OutputLimitError instead of filling memory.
const MaxOutput = 16 << 20

// maxStderr caps a command's stderr (kept for error messages only; the
// rest is dropped).
const maxStderr = 64 << 10

// OutputLimitError is a command (or file) over MaxOutput.
type OutputLimitError struct {
	Command string // as logged, or "read PATH"
	Limit   int
}

func (e *OutputLimitError) Error() string {
	return fmt.Sprintf("more than %d MiB from the node (%s): refused, not read further", e.Limit>>20, firstLine(e.Command))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// cappedBuffer keeps the first max bytes written to it, drops the rest
// and closes full once it overflowed.
type cappedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	max  int
	over bool
	full chan struct{}
}

func newCappedBuffer(max int) *cappedBuffer {
	return &cappedBuffer{max: max, full: make(chan struct{})}
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return len(p), nil
	}
	if room := c.max - c.b.Len(); len(p) > room {
		c.b.Write(p[:room])
		c.over = true
		close(c.full)
		return len(p), nil
	}
	return c.b.Write(p)
}

func (c *cappedBuffer) overflowed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}

// SudoPasswordError is a sudo that asked for a password: swarmctl runs
// `sudo -n`, so it needs NOPASSWD (or a root login).
type SudoPasswordError struct {
	Host, User string
	Err        *ExitError
}

func (e *SudoPasswordError) Error() string {
	return fmt.Sprintf("%s: sudo needs a password for user %s; configure NOPASSWD for swarmctl's commands or connect as root", e.Host, e.User)
}

func (e *SudoPasswordError) Unwrap() error { return e.Err }

func sudoWantsPassword(stderr []byte) bool {
	return bytes.Contains(stderr, []byte("a password is required")) ||
		bytes.Contains(stderr, []byte("a terminal is required"))
}

func dedup(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// isInvalidTLD tells whether host is a DNS name under the reserved
// .invalid top-level domain.
func isInvalidTLD(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "invalid" || strings.HasSuffix(h, ".invalid")
}
