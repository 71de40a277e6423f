// Package sshtest is an in-process SSH server for tests: it listens on
// 127.0.0.1, accepts the public keys it is given, runs exec requests with
// /bin/sh -c on this machine (as the test's user), serves SFTP from the
// local file system, answers keepalives and forwards direct-tcpip channels
// (so it can act as a jump host).
package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config configures a Server. The zero value plus AuthorizedKeys is a
// working server.
type Config struct {
	// HostKey is the server's key; nil generates an ed25519 key.
	HostKey ssh.Signer
	// MoreHostKeys are further host keys the server offers (of other
	// types), as sshd offers one key per type.
	MoreHostKeys []ssh.Signer
	// AuthorizedKeys are the client keys accepted (any user name).
	AuthorizedKeys []ssh.PublicKey
	// Env is added to the environment of commands (e.g. a PATH with fakes).
	Env []string
	// Dir is the working directory of commands ("" = the test's).
	Dir string
	// Silent accepts TCP connections but never speaks SSH.
	Silent bool
	// NoForward refuses direct-tcpip channels.
	NoForward bool
	// IgnoreKeepAlive leaves keepalive requests unanswered.
	IgnoreKeepAlive bool
	// Listener, when set, is served instead of a new 127.0.0.1:0 listener
	// (e.g. to restart a server on the same address with another key).
	Listener net.Listener
	// Exec, when set, answers exec requests in-process instead of running
	// /bin/sh: it gets the command line and the session's stdin, writes
	// the command's output and returns its exit status (a fake node that
	// answers swarmctl's scripts by name, without a process per command).
	Exec func(command string, stdin io.Reader, stdout, stderr io.Writer) int
}

// Server is a running test SSH server.
type Server struct {
	cfg  Config
	ln   net.Listener
	key  ssh.Signer
	conf *ssh.ServerConfig

	mu       sync.Mutex
	conns    map[net.Conn]bool
	commands []Exec
	users    []string
	forwards []string
	wg       sync.WaitGroup
	closed   bool
}

// Exec is one exec request the server received.
type Exec struct {
	User    string
	Command string
}

// Start starts a server; it is closed when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server; the caller closes it.
func New(cfg Config) (*Server, error) {
	key := cfg.HostKey
	if key == nil {
		var err error
		if key, err = NewSigner(); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, key: key, conns: map[net.Conn]bool{}}
	s.conf = &ssh.ServerConfig{
		PublicKeyCallback: func(md ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			for _, a := range cfg.AuthorizedKeys {
				if bytes.Equal(a.Marshal(), k.Marshal()) {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, errors.New("key not authorized")
		},
	}
	for _, k := range cfg.MoreHostKeys {
		s.conf.AddHostKey(k)
	}
	s.conf.AddHostKey(key)
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// NewSigner returns a fresh ed25519 key.
func NewSigner() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the listening IP.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// HostKey is the server's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.key.PublicKey() }

// KnownHostsLine is a known_hosts line for this server.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.key.PublicKey())
}

// Execs returns the exec requests received so far.
func (s *Server) Execs() []Exec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Exec(nil), s.commands...)
}

// Users returns the user names that authenticated, one per connection.
func (s *Server) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.users...)
}

// Forwards returns the host:port destinations of direct-tcpip channels
// opened through this server (when it served as a jump host).
func (s *Server) Forwards() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.forwards...)
}

// DropAll closes every client connection abruptly (no SSH goodbye).
func (s *Server) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Close stops the server and drops its connections.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.DropAll()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			if s.cfg.Silent {
				io.Copy(io.Discard, c) //nolint:errcheck
				return
			}
			s.serve(c)
		}()
	}
}

func (s *Server) serve(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.conf)
	if err != nil {
		return
	}
	defer sc.Close()
	s.mu.Lock()
	s.users = append(s.users, sc.User())
	s.mu.Unlock()
	go func() {
		for r := range reqs {
			switch {
			case r.Type == "keepalive@openssh.com" && s.cfg.IgnoreKeepAlive:
				// never answer
			case r.Type == "keepalive@openssh.com":
				r.Reply(true, nil) //nolint:errcheck
			default:
				r.Reply(false, nil) //nolint:errcheck
			}
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.session(sc.User(), ch, creqs)
			}()
		case "direct-tcpip":
			if s.cfg.NoForward {
				nc.Reject(ssh.Prohibited, "forwarding disabled") //nolint:errcheck
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.forward(nc)
			}()
		default:
			nc.Reject(ssh.UnknownChannelType, "unsupported") //nolint:errcheck
		}
	}
}

func (s *Server) forward(nc ssh.NewChannel) {
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(ssh.ConnectionFailed, "bad payload") //nolint:errcheck
		return
	}
	addr := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	s.mu.Lock()
	s.forwards = append(s.forwards, addr)
	s.mu.Unlock()
	dst, err := net.Dial("tcp", addr)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error()) //nolint:errcheck
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		dst.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{}, 2)
	go func() { io.Copy(dst, ch); dst.(*net.TCPConn).CloseWrite(); done <- struct{}{} }() //nolint:errcheck
	go func() { io.Copy(ch, dst); ch.CloseWrite(); done <- struct{}{} }()                 //nolint:errcheck
	<-done
	<-done
	ch.Close()
	dst.Close()
}

// session handles one session channel: exec, subsystem sftp, signal.
func (s *Server) session(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var (
		mu   sync.Mutex
		proc *os.Process
		done = make(chan struct{})
		env  []string
	)
	started := false
	for r := range reqs {
		switch r.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(r.Payload, &kv) == nil {
				env = append(env, kv.Name+"="+kv.Value)
			}
			r.Reply(true, nil) //nolint:errcheck
		case "exec":
			var cmd struct{ Command string }
			if started || ssh.Unmarshal(r.Payload, &cmd) != nil {
				r.Reply(false, nil) //nolint:errcheck
				continue
			}
			started = true
			s.mu.Lock()
			s.commands = append(s.commands, Exec{User: user, Command: cmd.Command})
			s.mu.Unlock()
			if s.cfg.Exec != nil {
				r.Reply(true, nil) //nolint:errcheck
				go func() {
					status := s.cfg.Exec(cmd.Command, ch, ch, ch.Stderr())
					ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status))) //nolint:errcheck
					ch.Close()
					close(done)
				}()
				continue
			}
			c := exec.Command("/bin/sh", "-c", cmd.Command)
			c.Env = append(append(os.Environ(), s.cfg.Env...), env...)
			c.Dir = s.cfg.Dir
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stdin, _ := c.StdinPipe()
			c.Stdout = ch
			c.Stderr = ch.Stderr()
			if err := c.Start(); err != nil {
				r.Reply(false, nil) //nolint:errcheck
				return
			}
			r.Reply(true, nil) //nolint:errcheck
			mu.Lock()
			proc = c.Process
			mu.Unlock()
			go func() {
				io.Copy(stdin, ch) //nolint:errcheck
				stdin.Close()
			}()
			go func() {
				err := c.Wait()
				status := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					status = ee.ExitCode()
					if status < 0 {
						status = 128 + int(syscall.SIGKILL)
					}
				} else if err != nil {
					status = 255
				}
				ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status))) //nolint:errcheck
				ch.Close()
				close(done)
			}()
		case "subsystem":
			var sub struct{ Name string }
			if started || ssh.Unmarshal(r.Payload, &sub) != nil || sub.Name != "sftp" {
				r.Reply(false, nil) //nolint:errcheck
				continue
			}
			started = true
			r.Reply(true, nil) //nolint:errcheck
			go func() {
				srv, err := sftp.NewServer(ch)
				if err == nil {
					srv.Serve() //nolint:errcheck
					srv.Close()
				}
				ch.Close()
			}()
		case "signal":
			mu.Lock()
			if proc != nil {
				syscall.Kill(-proc.Pid, syscall.SIGKILL) //nolint:errcheck
			}
			mu.Unlock()
			if r.WantReply {
				r.Reply(true, nil) //nolint:errcheck
			}
		default:
			if r.WantReply {
				r.Reply(false, nil) //nolint:errcheck
			}
		}
	}
	// The channel is gone (closed by the client or the connection dropped):
	// a command still running is killed, like sshd does on hangup.
	mu.Lock()
	if proc != nil {
		select {
		case <-done:
		default:
			syscall.Kill(-proc.Pid, syscall.SIGKILL) //nolint:errcheck
		}
	}
	mu.Unlock()
}
