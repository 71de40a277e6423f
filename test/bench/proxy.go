package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// delayProxy forwards TCP connections from a loopback port to target and
// delays every chunk by the same one-way delay in each direction, so one
// round trip through it costs 2*delay more than without it. Chunks are
// pipelined (each is due delay after it was read), as on a long link: the
// proxy adds latency, not a bandwidth limit. The delay can be changed
// between runs; connections opened later use the new value.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds, one way
	conns  atomic.Int64 // connections accepted so far
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	active int      // connections being handled
	traces []*trace // finished connections, until takeTraces
}

// trace records, for one connection, when the client's bytes reached the
// proxy (up) and when the server's bytes were handed to the client (down).
// turns() counts the round trips the client waited for.
type trace struct {
	delay  time.Duration
	mu     sync.Mutex
	events []event
}

type event struct {
	t  time.Time
	up bool // client -> server (a read from the client, or its EOF)
}

func (tr *trace) add(up bool) {
	tr.mu.Lock()
	tr.events = append(tr.events, event{time.Now(), up})
	tr.mu.Unlock()
}

// turns counts the round trips the client waited for: pairs of
// consecutive sends (its EOF included) where the last answer before the
// second send came at least 1.5 delays after the first. An answer takes two
// delays through the proxy; sends made without waiting follow at once; a
// message the server sends unasked (its banner, a host-keys notice) does
// not hide the answer that came later. The server's own think time is
// counted as a round trip when it exceeds 1.5 delays (a command's output
// after a long run), so count at a delay well above it.
func (tr *trace) turns() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	prev := -1 // index of the previous send
	for i, e := range tr.events {
		if !e.up {
			continue
		}
		if prev >= 0 {
			for j := i - 1; j > prev; j-- {
				if !tr.events[j].up {
					if tr.events[j].t.Sub(tr.events[prev].t) >= tr.delay*3/2 {
						n++
					}
					break
				}
			}
		}
		prev = i
	}
	return n
}

func newDelayProxy(target string, delay time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, open: map[net.Conn]struct{}{}}
	p.delay.Store(int64(delay))
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Port is the loopback port the proxy listens on.
func (p *delayProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// SetDelay sets the one-way delay for connections accepted from now on.
func (p *delayProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Conns is the number of connections accepted so far.
func (p *delayProxy) Conns() int64 { return p.conns.Load() }

// Close stops listening and cuts every open connection.
func (p *delayProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *delayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *delayProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
}

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.mu.Lock()
		p.active++
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			tr := &trace{delay: time.Duration(p.delay.Load())}
			p.handle(c, tr)
			p.mu.Lock()
			p.active--
			p.traces = append(p.traces, tr)
			p.mu.Unlock()
		}()
	}
}

// takeTraces waits (up to 5s) until no connection is being handled, then
// returns the finished connections' traces and forgets them.
func (p *delayProxy) takeTraces() []*trace {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		idle := p.active == 0
		p.mu.Unlock()
		if idle {
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.traces
	p.traces = nil
	return t
}

func (p *delayProxy) handle(client net.Conn, tr *trace) {
	delay := tr.delay
	defer client.Close()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(server, client, delay, func() { tr.add(true) }, nil) }()
	go func() { defer wg.Done(); pump(client, server, delay, nil, func() { tr.add(false) }) }()
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pump copies src to dst, each chunk delivered delay after it was read.
// EOF on src half-closes dst once everything read has been delivered; a
// write error closes both ends. onRead is called for every read from src
// (data or EOF), onWrite before every chunk is written to dst.
func pump(dst, src net.Conn, delay time.Duration, onRead, onWrite func()) {
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32*1024)
			n, err := src.Read(buf)
			if onRead != nil && (n > 0 || err == io.EOF) {
				onRead()
			}
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if onWrite != nil {
			// Before the write: the receiver cannot answer before it is
			// recorded.
			onWrite()
		}
		if _, err := dst.Write(c.b); err != nil {
			dst.Close()
			src.Close()
			for range ch { // let the reader finish
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	dst.Close()
}
