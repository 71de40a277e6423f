// Command bench measures how fast swarmctl converges a fleet and where the
// time goes, on a lab of real machines (test/lab):
//
//	go run ./test/bench -n 20 -out bench-results/
//
// The vfleet phase needs no lab: -vnodes (1000) virtual nodes, in-process
// SSH servers that answer swarmctl's scripts by name, measure how the
// no-op and a changing run scale (wall time against one node's cost times
// nodes/--parallel, peak RSS, open file descriptors).
//
// It brings up (or reuses) the lab "bench" with N machines and measures,
// in one run: the first configure on fresh nodes (restart path), the no-op
// re-run (wall, CPU, peak RSS of the built binary) against the OpenSSH
// floor (a parallel `ssh node true` fan-out with the same parallelism),
// network round trips per node through a latency-injecting proxy, peak
// memory for a larger fleet (many proxy ports fanned out onto the same
// machines), the reload path, the worker restart path, and the Go
// benchmarks of the merge engine and template rendering. A table goes to
// stdout, the full results to <out>/bench-N<n>-<time>.json. The lab is
// taken down at the end unless -keep is given. See docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:])) }

type config struct {
	n, managers, parallel, reps int
	rttReps                     int
	labName, layout, bin, out   string
	baseline                    string // optional older binary, measured beside bin in the no-op phase
	keep                        bool
	delays                      [2]time.Duration
	countDelay                  time.Duration
	fanout                      []int
	vnodes, vmanagers           int
	phases                      map[string]bool
	timeout                     time.Duration
}

var allPhases = []string{"fresh", "noop", "rtt", "memory", "reload", "restart", "vfleet", "gobench", "wan"}

func run(args []string) int {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.n, "n", 20, "machines in the lab")
	fs.IntVar(&c.managers, "managers", 0, "managers among them (default 3, or 1 below 5 machines)")
	fs.IntVar(&c.parallel, "parallel", 16, "swarmctl --parallel, and the OpenSSH fan-out's parallelism")
	fs.IntVar(&c.reps, "reps", 5, "repetitions of each no-op / floor / latency measurement")
	fs.IntVar(&c.rttReps, "rtt-reps", 3, "repetitions of each latency-proxy measurement")
	fs.StringVar(&c.labName, "lab", "bench", "lab name (never another engineer's lab)")
	fs.StringVar(&c.layout, "layout", "docker-latest", "lab layout: docker-latest or docker")
	fs.StringVar(&c.bin, "bin", "bin/swarmctl", "the swarmctl binary to measure")
	fs.StringVar(&c.baseline, "baseline-bin", "", "an older swarmctl binary to measure beside -bin in the no-op phase (before/after a change)")
	fs.StringVar(&c.out, "out", "bench-results", "directory for the JSON results")
	fs.BoolVar(&c.keep, "keep", false, "leave the lab up at the end")
	d1 := fs.Duration("delay1", 100*time.Millisecond, "first one-way delay of the latency proxy")
	d2 := fs.Duration("delay2", 300*time.Millisecond, "second one-way delay of the latency proxy")
	fs.DurationVar(&c.countDelay, "count-delay", 700*time.Millisecond, "one-way delay at which the proxy counts round trips (well above a node's think time)")
	fan := fs.String("fanout", "20,40,100", "virtual fleet sizes for the memory measurement (proxy ports onto the lab's machines)")
	fs.IntVar(&c.vnodes, "vnodes", 1000, "virtual nodes (in-process SSH servers, no lab) for the vfleet phase")
	fs.IntVar(&c.vmanagers, "vmanagers", 3, "swarm managers among the virtual nodes")
	phases := fs.String("phases", strings.Join(allPhases, ","), "phases to run (vfleet and gobench need no lab)")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.n < 1 || c.parallel < 1 || c.reps < 1 || c.rttReps < 1 || *d2 <= *d1 || c.vnodes < 1 || c.vmanagers < 0 || c.vmanagers > c.vnodes {
		fmt.Fprintln(os.Stderr, "bench: need -n, -parallel, -reps, -vnodes >= 1, 0 <= -vmanagers <= -vnodes and -delay2 > -delay1")
		return 2
	}
	if c.managers == 0 {
		c.managers = 3
		if c.n < 5 {
			c.managers = 1
		}
	}
	if c.managers > c.n {
		fmt.Fprintln(os.Stderr, "bench: more managers than machines")
		return 2
	}
	c.delays = [2]time.Duration{*d1, *d2}
	for _, f := range strings.Split(*fan, ",") {
		var v int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || v < 1 {
			fmt.Fprintf(os.Stderr, "bench: -fanout %q: want sizes like 20,40,100\n", *fan)
			return 2
		}
		c.fanout = append(c.fanout, v)
	}
	c.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		p = strings.TrimSpace(p)
		if !contains(allPhases, p) {
			fmt.Fprintf(os.Stderr, "bench: unknown phase %q (want %s)\n", p, strings.Join(allPhases, ","))
			return 2
		}
		c.phases[p] = true
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (run `make build` first)\n", err)
		return 2
	}
	c.bin = bin
	if c.baseline != "" {
		if c.baseline, err = filepath.Abs(c.baseline); err == nil {
			_, err = os.Stat(c.baseline)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -baseline-bin:", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	b := &bench{c: c, log: os.Stderr}
	res, err := b.run(ctx)
	if res != nil {
		printTable(os.Stdout, res)
		path, werr := writeJSON(c.out, res)
		if werr != nil {
			fmt.Fprintln(os.Stderr, "bench: write results:", werr)
			return 1
		}
		fmt.Fprintf(os.Stderr, "bench: results in %s\n", path)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if len(res.Errors) > 0 {
		return 1
	}
	return 0
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
