package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// echoServer answers every line with the same line; on EOF it writes
// "bye\n" and closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						c.Write([]byte("bye\n"))
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dialProxy(t *testing.T, delay time.Duration) (*delayProxy, net.Conn) {
	t.Helper()
	p, err := newDelayProxy(echoServer(t), delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.Port()))
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func TestProxyDelaysEachRoundTrip(t *testing.T) {
	const d = 40 * time.Millisecond
	p, c := dialProxy(t, d)
	r := bufio.NewReader(c)
	t0 := time.Now()
	for i := 0; i < 3; i++ {
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "ping\n" {
			t.Fatalf("echo %d: %q %v", i, line, err)
		}
	}
	el := time.Since(t0)
	if el < 3*2*d {
		t.Errorf("3 round trips took %s, want at least %s", el, 3*2*d)
	}
	if el > 3*2*d+2*time.Second {
		t.Errorf("3 round trips took %s, far more than %s", el, 3*2*d)
	}
	// Half-close travels through: the server sees EOF and answers.
	c.(*net.TCPConn).CloseWrite()
	if line, err := r.ReadString('\n'); err != nil || line != "bye\n" {
		t.Fatalf("after half-close: %q %v", line, err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("want EOF after the server closed, got %v", err)
	}
	c.Close()
	trs := p.takeTraces()
	if len(trs) != 1 {
		t.Fatalf("%d traces, want 1", len(trs))
	}
	// Each ping waited for its echo: the second and third ping and the
	// client's EOF each follow a round trip.
	if got := trs[0].turns(); got != 3 {
		t.Errorf("turns = %d, want 3 (events %d)", got, len(trs[0].events))
	}
	if p.Conns() != 1 {
		t.Errorf("Conns = %d, want 1", p.Conns())
	}
}

func TestProxyPipelinesInsteadOfQueueing(t *testing.T) {
	const d = 40 * time.Millisecond
	const n = 50
	p, c := dialProxy(t, d)
	r := bufio.NewReader(c)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			c.Write([]byte("x\n"))
			time.Sleep(time.Millisecond)
		}
	}()
	for i := 0; i < n; i++ {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(t0)
	if el < 2*d {
		t.Errorf("took %s, less than one round trip", el)
	}
	if el > n*2*d/2 {
		t.Errorf("%d pipelined lines took %s: the delay queues instead of pipelining", n, el)
	}
	c.Close()
	if trs := p.takeTraces(); len(trs) != 1 || trs[0].turns() > 1 {
		t.Errorf("a pipelined burst counted as several round trips: %d traces", len(trs))
	}
}

func TestTurns(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	up := func(ms int) event { return event{at(ms), true} }
	down := func(ms int) event { return event{at(ms), false} }
	for _, tc := range []struct {
		name   string
		events []event
		want   int
	}{
		{"nothing", nil, 0},
		{"one send, no answer", []event{up(0)}, 0},
		{"request, answer, EOF", []event{up(0), down(205), up(206)}, 1},
		{"sends without waiting", []event{up(0), up(1), up(2), down(200)}, 0},
		{"a local pause is no round trip", []event{up(0), up(500), down(700)}, 0},
		{"server spoke first: half a round trip", []event{up(0), down(101), up(102), down(303), up(304)}, 1},
		{"stdin EOF and short streamed output: one round trip", []event{up(0), down(200), up(201), down(260), down(320), up(321)}, 1},
		{"server think time above the threshold counts", []event{up(0), down(200), up(201), down(260), down(600), up(601)}, 2},
		{"a notice before the answer", []event{up(0), down(30), down(200), up(201)}, 1},
		{"answer never acted on", []event{up(0), down(200)}, 0},
		{"three exchanges", []event{up(0), down(200), up(201), down(401), up(402), down(602), up(603)}, 3},
	} {
		tr := &trace{delay: 100 * time.Millisecond, events: tc.events}
		if got := tr.turns(); got != tc.want {
			t.Errorf("%s: turns = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{5, 1, 3, 2})
	if s.N != 4 || s.Min != 1 || s.Max != 5 || s.Median != 2.5 {
		t.Errorf("summarize = %+v", s)
	}
	if s := summarize([]float64{7, 1, 3}); s.Median != 3 {
		t.Errorf("odd median = %v", s.Median)
	}
}

// runProc's peak RSS is the child's own: a child that holds 32 MiB reads
// at least that, and a small one stays far below this test
// process even after the test process itself has grown.
func TestRunProcPeakRSSIsTheChilds(t *testing.T) {
	ballast := make([]byte, 96<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	small, err := runProc(context.Background(), "true")
	if err != nil || small.Exit != 0 {
		t.Fatalf("true: %v %d", err, small.Exit)
	}
	big, err := runProc(context.Background(), "sh", "-c", `v=$(head -c 33554432 /dev/zero | tr '\0' x); sleep 0.05; echo ${#v}`)
	if err != nil || big.Exit != 0 {
		t.Fatalf("big: %v %d", err, big.Exit)
	}
	if small.MaxRSSKiB > 16<<10 {
		t.Errorf("`true` peak RSS %d KiB: the parent's leaked in", small.MaxRSSKiB)
	}
	if big.MaxRSSKiB < 32<<10 {
		t.Errorf("a shell holding 32 MiB reads %d KiB", big.MaxRSSKiB)
	}
	t.Logf("true: %d KiB (ru_maxrss %d); big: %d KiB; ballast %d", small.MaxRSSKiB, small.RusageMaxRSSKiB, big.MaxRSSKiB, len(ballast))
}
