package front

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is one stand-in's front.
type Server struct {
	name    string // the public name it stands in for, e.g. ghcr.io
	backend *url.URL
	proxy   *httputil.ReverseProxy
	logOut  io.Writer // every entry is also written here (nil: nowhere)

	mu      sync.Mutex
	cfg     Config
	entries []Entry
	seq     int64
	counts  map[string]*window
	tokens  map[string]string // token -> user ("" anonymous)
	link    pacer

	lnMu     sync.Mutex
	listenFn func() (net.Listener, error)
	ln       net.Listener
	srv      *http.Server
}

// maxEntries bounds the in-memory log (older entries are dropped).
const maxEntries = 200000

// New makes the front of the stand-in for name, proxying to backend (the
// registry holding its images, e.g. http://10.213.5.3:5000). Entries are
// also written as JSON lines to logOut when it is not nil.
func New(name string, backend *url.URL, logOut io.Writer) *Server {
	s := &Server{name: name, backend: backend, logOut: logOut,
		counts: map[string]*window{}, tokens: map[string]string{}}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Host = pr.In.Host // the registry builds URLs from it
			pr.SetXForwarded()
		},
		FlushInterval: -1,
	}
	return s
}

// Config returns the current configuration.
func (s *Server) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// SetConfig replaces the configuration; Down opens or closes the listener
// started by ServeTLS.
func (s *Server) SetConfig(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	if !sameRate(s.cfg.RateLimit, c.RateLimit) {
		s.counts = map[string]*window{}
	}
	s.cfg = c
	s.link.setRate(c.BandwidthBPS)
	s.mu.Unlock()
	return s.applyDown(c.Down)
}

func sameRate(a, b *RateLimit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// ServeTLS serves the registry side with cert until the process ends;
// listen opens the listener (again after a Down period).
func (s *Server) ServeTLS(addr string, cert tls.Certificate) error {
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.lnMu.Lock()
	s.listenFn = func() (net.Listener, error) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, tc), nil
	}
	s.lnMu.Unlock()
	return s.applyDown(s.Config().Down)
}

// applyDown closes or (re)opens the listener.
func (s *Server) applyDown(down bool) error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.listenFn == nil {
		return nil
	}
	if down {
		if s.srv != nil {
			s.srv.Close() // also drops connections in flight
			s.srv, s.ln = nil, nil
		}
		return nil
	}
	if s.srv != nil {
		return nil
	}
	ln, err := s.listenFn()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	s.srv, s.ln = srv, ln
	go srv.Serve(ln)
	return nil
}

// Handler is the registry side (what clients of the stand-in talk to).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cfg := s.Config()
		rec := &recorder{ResponseWriter: w, link: &s.link, head: r.Method == http.MethodHead}
		user := ""
		defer func() {
			s.record(Entry{
				Time: start.UTC(), Client: clientIP(r.RemoteAddr), Method: r.Method, Path: r.URL.RequestURI(),
				Status: rec.status(), Bytes: rec.bytes, UserAgent: r.UserAgent(),
				DurationMS: time.Since(start).Milliseconds(), User: user,
			})
		}()
		if d := cfg.Latency.D(); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if cfg.Auth != nil && cfg.Auth.Mode == AuthToken && r.URL.Path == "/token" {
			s.serveToken(rec, r, cfg.Auth)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/v2/") && r.URL.Path != "/v2" {
			registryError(rec, http.StatusNotFound, "NOT_FOUND", "the lab stand-in for "+s.name+" serves only /v2/")
			return
		}
		var ok bool
		if user, ok = s.authorize(rec, r, cfg.Auth); !ok {
			return
		}
		if cfg.RateLimit != nil && isManifest(r.URL.Path) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			if !s.rateLimit(rec, r, user, *cfg.RateLimit) {
				return
			}
		}
		s.proxy.ServeHTTP(rec, r)
	})
}

func isManifest(p string) bool { return strings.Contains(p, "/manifests/") }

func clientIP(remote string) string {
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return h
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// authorize checks the request's credentials; it answers 401 itself.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, a *Auth) (user string, ok bool) {
	if a == nil {
		return "", true
	}
	switch a.Mode {
	case AuthBasic:
		if u, p, has := r.BasicAuth(); has && a.matches(u, p) {
			return u, true
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.name))
	case AuthToken:
		if tok, has := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); has {
			s.mu.Lock()
			u, known := s.tokens[tok]
			s.mu.Unlock()
			if known {
				return u, true
			}
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q,service=%q", "https://"+s.name+"/token", s.name))
	}
	registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return "", false
}

func (a *Auth) matches(u, p string) bool {
	return subtle.ConstantTimeCompare([]byte(u), []byte(a.Username)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(a.Password)) == 1
}

// serveToken is a token endpoint in Docker Hub's style.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, a *Auth) {
	user := ""
	if u, p, has := r.BasicAuth(); has {
		if !a.matches(u, p) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.name))
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "incorrect username or password")
			return
		}
		user = u
	} else if !a.Anonymous {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.name))
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "credentials required")
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = user
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

// window counts one client's manifest GETs.
type window struct {
	start time.Time
	used  int
}

// rateLimit sets the rate-limit headers and answers 429 when the client
// has no pulls left; a HEAD is free, as on Docker Hub.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, user string, rl RateLimit) bool {
	key := user
	if key == "" {
		key = clientIP(r.RemoteAddr)
	}
	now := time.Now()
	s.mu.Lock()
	c := s.counts[key]
	if c == nil || now.Sub(c.start) >= rl.Window.D() {
		c = &window{start: now}
		s.counts[key] = c
	}
	allowed := c.used < rl.Limit
	if allowed && r.Method == http.MethodGet {
		c.used++
	}
	remaining := rl.Limit - c.used
	s.mu.Unlock()
	secs := int(rl.Window.D().Seconds())
	w.Header().Set("ratelimit-limit", fmt.Sprintf("%d;w=%d", rl.Limit, secs))
	w.Header().Set("ratelimit-remaining", fmt.Sprintf("%d;w=%d", remaining, secs))
	w.Header().Set("docker-ratelimit-source", key)
	if !allowed {
		registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "You have reached your pull rate limit. (lab stand-in for "+s.name+")")
		return false
	}
	return true
}

func (s *Server) record(e Entry) {
	s.mu.Lock()
	s.seq++
	e.Seq = s.seq
	s.entries = append(s.entries, e)
	if len(s.entries) > maxEntries {
		s.entries = append([]Entry(nil), s.entries[len(s.entries)-maxEntries/2:]...)
	}
	out := s.logOut
	s.mu.Unlock()
	if out != nil {
		b, _ := json.Marshal(e)
		out.Write(append(b, '\n'))
	}
}

// Entries returns the log entries with Seq > after.
func (s *Server) Entries(after int64) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for _, e := range s.entries {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}

// LastSeq is the Seq of the newest entry (0 when none).
func (s *Server) LastSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// ControlHandler is the plain-HTTP control side for tests:
//
//	GET /log?after=N   access log entries with seq > N, JSON lines
//	GET /seq           the newest entry's seq
//	GET /config        the configuration (JSON)
//	PUT /config        replace it (JSON; 400 with the reason if invalid)
//	GET /healthz       200
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		w.Header().Set("Content-Type", "application/x-ndjson")
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for _, e := range s.Entries(after) {
			enc.Encode(e)
		}
		bw.Flush()
	})
	mux.HandleFunc("GET /seq", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, s.LastSeq())
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Config())
	})
	mux.HandleFunc("PUT /config", func(w http.ResponseWriter, r *http.Request) {
		var c Config
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			http.Error(w, "config: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetConfig(c); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// recorder counts the body bytes sent and paces them through the link.
type recorder struct {
	http.ResponseWriter
	link  *pacer
	head  bool // a HEAD response has no body to send or count
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if r.head {
		return r.ResponseWriter.Write(b)
	}
	n := 0
	for len(b) > 0 {
		chunk := b[:min(len(b), 32<<10)]
		r.link.wait(len(chunk))
		m, err := r.ResponseWriter.Write(chunk)
		n += m
		r.bytes += int64(m)
		if err != nil {
			return n, err
		}
		b = b[len(chunk):]
	}
	return n, nil
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// pacer spreads writes so that all of them together go at most bps bytes
// per second (0: unlimited).
type pacer struct {
	mu   sync.Mutex
	bps  int64
	next time.Time
}

func (p *pacer) setRate(bps int64) {
	p.mu.Lock()
	p.bps, p.next = bps, time.Time{}
	p.mu.Unlock()
}

func (p *pacer) wait(n int) {
	p.mu.Lock()
	if p.bps <= 0 {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	p.next = p.next.Add(time.Duration(float64(n) / float64(p.bps) * float64(time.Second)))
	until := p.next
	p.mu.Unlock()
	time.Sleep(time.Until(until))
}

// ErrNoListener is returned by Addr before ServeTLS or while down.
var ErrNoListener = errors.New("front: not listening")

// Addr is the HTTPS listener's address.
func (s *Server) Addr() (net.Addr, error) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln == nil {
		return nil, ErrNoListener
	}
	return s.ln.Addr(), nil
}
