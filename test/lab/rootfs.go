package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// debianSuite is the release the machine image is built from.
const debianSuite = "bookworm"

// basePackages are what a swarm node needs and no more: swarmctl must work
// with a POSIX shell, coreutils, systemd and docker only (no python, no jq).
// dbus is there because real hosts have it: without it systemctl fails for
// non-root users.
var basePackages = []string{
	"systemd", "systemd-sysv", "openssh-server", "docker.io", "sudo",
	"iproute2", "ca-certificates", "curl", "dbus",
}

// baseRecipe runs as root with ROOT, SUITE, MIRROR, PACKAGES and OUT set.
// Host keys and machine-id are removed so that every machine makes its own
// at first boot. Changing this text changes the cache key.
const baseRecipe = `set -eu
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR"
chroot "$ROOT" /bin/sh -eu -c '
useradd --create-home --shell /bin/bash --uid 1000 --user-group ops
usermod -p "*" ops
echo "ops ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/ops
chmod 0440 /etc/sudoers.d/ops
install -d -m 0700 /root/.ssh
install -d -m 0700 -o ops -g ops /home/ops/.ssh
apt-get clean
'
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* \
  "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/var/log/*.log
rm -f "$ROOT"/etc/ssh/ssh_host_* "$ROOT"/var/lib/dbus/machine-id
: >"$ROOT"/etc/machine-id
tar -C "$ROOT" --numeric-owner -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
`

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

// baseKey is the cache key of the debootstrapped tree.
func baseKey(mirror string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s", debianSuite, mirror, strings.Join(basePackages, ","), baseRecipe)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// ensureBaseRootfs returns the path of the cached base tarball, running
// debootstrap (about a minute) when it is missing.
func ensureBaseRootfs(ctx context.Context, logw io.Writer) (string, error) {
	mirror, err := debianMirror()
	if err != nil {
		return "", err
	}
	key := baseKey(mirror)
	out := filepath.Join(CacheDir(), "rootfs-"+key+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return "", err
	}
	root, err := os.MkdirTemp(CacheDir(), "build-")
	if err != nil {
		return "", err
	}
	defer func() {
		unmountUnder(root)
		os.RemoveAll(root)
	}()
	fmt.Fprintf(logw, "lab: building machine root filesystem %s with debootstrap from %s (about a minute)\n", key, mirror)
	cmd := exec.CommandContext(ctx, "sh", "-c", baseRecipe)
	cmd.Env = append(os.Environ(),
		"ROOT="+filepath.Join(root, "rootfs"), "SUITE="+debianSuite, "MIRROR="+mirror,
		"PACKAGES="+strings.Join(basePackages, ","), "OUT="+out)
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("debootstrap recipe: %v\n%s", err, tail.String())
	}
	// Tarballs of older recipes are of no further use.
	if old, _ := filepath.Glob(filepath.Join(CacheDir(), "rootfs-*.tar")); len(old) > 0 {
		for _, f := range old {
			if f != out {
				os.Remove(f)
			}
		}
	}
	return out, nil
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
