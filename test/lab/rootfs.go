package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// baseRecipe builds a machine's root filesystem (see rootfs.sh).
//
//go:embed rootfs.sh
var baseRecipe string

// CacheDir holds the debootstrapped root filesystems (one tarball per recipe
// hash). SWARMCTL_LAB_CACHE overrides it.
func CacheDir() string {
	if d := os.Getenv("SWARMCTL_LAB_CACHE"); d != "" {
		return d
	}
	return "/var/cache/swarmctl-lab"
}

// debianMirror is the first non-security Debian URI apt already uses.
func debianMirror() (string, error) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	for _, f := range files {
		if u := mirrorFromSources(f); u != "" {
			return u, nil
		}
	}
	return "", fmt.Errorf("no Debian mirror found in /etc/apt/sources.list*")
}

// mirrorFromSources reads one-line ("deb URI suite ...") and deb822
// ("URIs: URI") source files.
func mirrorFromSources(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return parseMirror(f)
}

func parseMirror(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var uri string
		switch {
		case strings.HasPrefix(line, "URIs:"):
			f := strings.Fields(strings.TrimPrefix(line, "URIs:"))
			if len(f) > 0 {
				uri = f[0]
			}
		case strings.HasPrefix(line, "deb "):
			for _, f := range strings.Fields(line)[1:] {
				if strings.HasPrefix(f, "[") || strings.HasSuffix(f, "]") || strings.Contains(f, "=") {
					continue // options like [signed-by=...]
				}
				uri = f
				break
			}
		}
		if uri != "" && !strings.Contains(uri, "security") && strings.Contains(uri, "://") {
			return uri
		}
	}
	return ""
}

// baseKey is the cache key of an engine's debootstrapped tree.
func baseKey(r engineRecipe, mirror string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s", r.suite, mirror, strings.Join(r.packages, ","), strings.Join(r.sidPackages, " "), baseRecipe)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// ensureBaseRootfs returns the path of the engine's cached base tarball,
// running debootstrap (about a minute; more with packages from sid) when
// it is missing. A lock file keeps two labs from building the same one.
func ensureBaseRootfs(ctx context.Context, r engineRecipe, logw io.Writer) (string, error) {
	mirror, err := debianMirror()
	if err != nil {
		return "", err
	}
	key := baseKey(r, mirror)
	prefix := "rootfs-" + r.name + "-"
	out := filepath.Join(CacheDir(), prefix+key+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil // built by another lab while this one waited
	}
	root, err := os.MkdirTemp(CacheDir(), "build-")
	if err != nil {
		return "", err
	}
	defer func() {
		unmountUnder(root)
		os.RemoveAll(root)
	}()
	start := time.Now()
	fmt.Fprintf(logw, "lab: building the %s machine root filesystem %s (debootstrap %s) from %s\n", r.name, key, r.suite, mirror)
	cmd := exec.CommandContext(ctx, "sh", "-c", baseRecipe)
	cmd.Env = append(os.Environ(),
		"ROOT="+filepath.Join(root, "rootfs"), "SUITE="+r.suite, "MIRROR="+mirror,
		"PACKAGES="+strings.Join(r.packages, ","), "SID_PACKAGES="+strings.Join(r.sidPackages, " "), "OUT="+out)
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the %s root filesystem: %v\n%s", r.name, err, tail.String())
	}
	fmt.Fprintf(logw, "lab: %s root filesystem built in %s\n", r.name, time.Since(start).Round(time.Second))
	// Tarballs of this engine's older recipes are of no further use.
	if old, _ := filepath.Glob(filepath.Join(CacheDir(), prefix+"*.tar")); len(old) > 0 {
		for _, f := range old {
			if f != out {
				os.Remove(f)
			}
		}
	}
	return out, nil
}

// lockFile takes an exclusive flock on path (created if needed).
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// tailBuffer keeps the last 8 KiB written to it (for error messages).
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// unmountUnder lazily unmounts anything debootstrap left mounted below dir
// (proc, sys) so that removing dir never reaches into them.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			exec.Command("umount", "-l", f[1]).Run()
		}
	}
}
