package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procResult is one child process: wall time from start to exit, the CPU
// time the kernel accounted to it (wait4 rusage) and its peak RSS.
//
// The peak RSS is the child's VmHWM, polled from /proc while it runs, not
// rusage's ru_maxrss: Go starts children with vfork, and Linux carries the
// parent's high-water RSS over the exec into the child's ru_maxrss, so
// ru_maxrss reads max(this bench process, the child). It is kept as
// RusageMaxRSSKiB to show the difference.
type procResult struct {
	WallMS          float64 `json:"wall_ms"`
	UserMS          float64 `json:"user_ms"`
	SysMS           float64 `json:"sys_ms"`
	MaxRSSKiB       int64   `json:"max_rss_kib"`
	RusageMaxRSSKiB int64   `json:"rusage_max_rss_kib"`
	// MaxFDs is the most file descriptors the process had open at once
	// (polled with the RSS).
	MaxFDs int `json:"max_fds"`
	Exit   int `json:"exit"`
	stdout []byte
	stderr []byte
}

// CPUMS is user+sys.
func (r procResult) CPUMS() float64 { return r.UserMS + r.SysMS }

// runProc runs one command to completion and measures it. A non-zero exit
// is not an error here: callers decide (the result carries Exit).
func runProc(ctx context.Context, name string, args ...string) (procResult, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return procResult{}, err
	}
	stop := make(chan struct{})
	peaks := make(chan procPeaks, 1)
	go func() { peaks <- pollPeaks(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	wall := time.Since(t0)
	close(stop)
	p := <-peaks
	r := procResult{WallMS: ms(wall), MaxRSSKiB: p.hwmKiB, MaxFDs: p.fds, stdout: out.Bytes(), stderr: errb.Bytes()}
	if cmd.ProcessState == nil {
		return r, err
	}
	r.Exit = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.UserMS = float64(ru.Utime.Nano()) / 1e6
		r.SysMS = float64(ru.Stime.Nano()) / 1e6
		r.RusageMaxRSSKiB = ru.Maxrss // KiB on Linux
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return r, err
	}
	return r, nil
}

type procPeaks struct {
	hwmKiB int64
	fds    int
}

// pollPeaks reads the process's VmHWM (peak RSS of its current program, in
// KiB) and counts its open file descriptors every 2ms until stop, and
// returns the largest values seen. The RSS peak is monotonic, so only
// growth in the last 2ms before exit can be missed; the descriptor count
// is a sample, so a descriptor open for less than 2ms can be.
func pollPeaks(pid int, stop <-chan struct{}) procPeaks {
	path := fmt.Sprintf("/proc/%d/status", pid)
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	var peak int64
	var fds int
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if es, err := os.ReadDir(fdDir); err == nil {
			fds = max(fds, len(es))
		}
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kib int64
					if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib); err == nil {
						peak = max(peak, kib)
					}
				}
			}
		}
		select {
		case <-stop:
			return procPeaks{hwmKiB: peak, fds: fds}
		case <-t.C:
		}
	}
}

// fanOut is a bounded parallel run of one command per node (the OpenSSH
// floor): wall time of the whole fan-out, CPU summed over the children,
// the largest child RSS.
type fanOut struct {
	WallMS       float64 `json:"wall_ms"`
	CPUMS        float64 `json:"cpu_ms"`
	MaxRSSKiB    int64   `json:"max_rss_kib"`
	SumMaxRSSKiB int64   `json:"sum_max_rss_kib"`
	Failures     int     `json:"failures"`
	FirstError   string  `json:"first_error,omitempty"`
}

func runFanOut(ctx context.Context, n, parallel int, argv func(i int) []string) fanOut {
	var mu sync.Mutex
	var f fanOut
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			a := argv(i)
			r, err := runProc(ctx, a[0], a[1:]...)
			mu.Lock()
			defer mu.Unlock()
			f.CPUMS += r.CPUMS()
			f.SumMaxRSSKiB += r.MaxRSSKiB
			f.MaxRSSKiB = max(f.MaxRSSKiB, r.MaxRSSKiB)
			if err != nil || r.Exit != 0 {
				f.Failures++
				if f.FirstError == "" {
					f.FirstError = fmt.Sprintf("%s: exit %d %v: %s", strings.Join(a, " "), r.Exit, err, bytes.TrimSpace(r.stderr))
				}
			}
		}(i)
	}
	wg.Wait()
	f.WallMS = ms(time.Since(t0))
	return f
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stats summarises repeated measurements.
type stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{N: len(s), Min: s[0], Median: med, Max: s[len(s)-1]}
}

// loadAvg is /proc/loadavg's first three fields.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
