package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RootDir is where lab state lives: <RootDir>/<lab name> per lab and
// <RootDir>/engine for the outer dockerd the lab may start.
// SWARMCTL_LAB_DIR overrides it.
func RootDir() string {
	if d := os.Getenv("SWARMCTL_LAB_DIR"); d != "" {
		return d
	}
	return "/tmp/swarmctl-lab"
}

// engine is the outer Docker engine the machines run on.
type engine struct {
	host string // DOCKER_HOST value
	dir  string // <root>/engine
}

func engineDir() string { return filepath.Join(RootDir(), "engine") }

func ownSocket(dir string) string { return filepath.Join(dir, "docker.sock") }

// docker runs the docker CLI against the outer engine and returns stdout
// (stderr is folded into the error).
func (e *engine) docker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.host)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", shortArgs(args), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// dockerCombined is docker with stdout and stderr in one string.
func (e *engine) dockerCombined(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+e.host)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func shortArgs(args []string) string {
	s := strings.Join(args, " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// answers reports whether a Docker engine responds at host.
func answers(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host)
	return cmd.Run() == nil
}

// lockEngine serialises engine start/stop and user bookkeeping between labs
// (and between processes).
func lockEngine(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// acquireEngine finds a Docker engine for lab `name`: the lab's own engine if
// it runs, else one that answers at DOCKER_HOST or the default socket, else
// it starts its own dockerd. Each lab registers itself as a user so that
// the last lab's Down stops an engine the lab started.
func acquireEngine(ctx context.Context, name string, logw io.Writer) (*engine, error) {
	dir := engineDir()
	unlock, err := lockEngine(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	own := "unix://" + ownSocket(dir)
	e := &engine{dir: dir}
	switch {
	case answers(ctx, own):
		e.host = own
	case os.Getenv("DOCKER_HOST") != "" && answers(ctx, os.Getenv("DOCKER_HOST")):
		e.host = os.Getenv("DOCKER_HOST")
	case os.Getenv("DOCKER_HOST") == "" && answers(ctx, "unix:///var/run/docker.sock"):
		e.host = "unix:///var/run/docker.sock"
	default:
		if err := startDockerd(ctx, dir, logw); err != nil {
			return nil, err
		}
		e.host = own
	}
	if err := os.WriteFile(filepath.Join(dir, "users", name), []byte(e.host+"\n"), 0o644); err != nil {
		return nil, err
	}
	return e, nil
}

// releaseEngine drops lab `name` as a user and stops the engine when the lab
// started it and no other lab uses it.
func releaseEngine(ctx context.Context, name string, logw io.Writer) error {
	dir := engineDir()
	unlock, err := lockEngine(dir)
	if err != nil {
		return err
	}
	defer unlock()
	os.Remove(filepath.Join(dir, "users", name))
	users, _ := os.ReadDir(filepath.Join(dir, "users"))
	if len(users) > 0 {
		return nil
	}
	return stopDockerd(ctx, dir, logw)
}

// startDockerd starts an outer dockerd whose data, exec root, socket and pid
// file are all under dir. It runs in its own session so it outlives a
// `lab up` command; the pid file marks it as started by the lab.
func startDockerd(ctx context.Context, dir string, logw io.Writer) error {
	driver := "overlay2"
	if b, err := os.ReadFile(filepath.Join(dir, "storage-driver")); err == nil {
		driver = strings.TrimSpace(string(b))
	}
	err := tryDockerd(ctx, dir, driver, logw)
	if err != nil && driver == "overlay2" {
		fmt.Fprintf(logw, "lab: dockerd with overlay2 failed (%v); trying vfs\n", err)
		driver = "vfs"
		err = tryDockerd(ctx, dir, driver, logw)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "storage-driver"), []byte(driver+"\n"), 0o644)
}

func tryDockerd(ctx context.Context, dir, driver string, logw io.Writer) error {
	// The data root of each storage driver is separate so a fallback never
	// meets the other driver's leftovers.
	data := filepath.Join(dir, "data-"+driver)
	execRoot := filepath.Join(dir, "exec")
	for _, d := range []string{data, execRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	pidfile := filepath.Join(dir, "dockerd.pid")
	sock := ownSocket(dir)
	os.Remove(sock)
	logf, err := os.OpenFile(filepath.Join(dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logw, "lab: no Docker engine answers; starting dockerd (%s) in %s\n", driver, dir)
	cmd := exec.Command("dockerd",
		"--data-root", data, "--exec-root", execRoot,
		"-H", "unix://"+sock, "--pidfile", pidfile,
		"--bridge", "none", "--storage-driver", driver)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("dockerd exited: %v (see %s)", err, logf.Name())
		case <-ctx.Done():
			cmd.Process.Kill()
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if answers(ctx, "unix://"+sock) {
			return nil
		}
	}
	cmd.Process.Kill()
	return fmt.Errorf("dockerd did not answer on %s within 60s (see %s)", sock, logf.Name())
}

// stopDockerd stops the dockerd the lab started (if any) and waits for it
// and its containerd to exit.
func stopDockerd(ctx context.Context, dir string, logw io.Writer) error {
	pid := readPid(filepath.Join(dir, "dockerd.pid"))
	if pid <= 0 || !alive(pid) {
		return nil
	}
	// A stale pid file may name an unrelated process by now.
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(cmd, []byte("dockerd")) || !bytes.Contains(cmd, []byte(dir+"/")) {
		return nil
	}
	fmt.Fprintf(logw, "lab: stopping the lab's dockerd (pid %d)\n", pid)
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(45 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(time.Second)
			break
		}
		select {
		case <-ctx.Done():
			syscall.Kill(pid, syscall.SIGKILL)
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// dockerd's own containerd is told to stop; wait for it too.
	for i := 0; i < 100 && len(processesUnder(dir)) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if left := processesUnder(dir); len(left) > 0 {
		return fmt.Errorf("processes of the lab engine still running: %v", left)
	}
	return nil
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	// A zombie (our own child not yet reaped) counts as gone.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// processesUnder lists live processes whose command line mentions dir
// (dockerd and the containerd it started point at paths under it).
func processesUnder(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(dir+"/")) || !alive(pid) {
			continue
		}
		out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")))
	}
	return out
}
