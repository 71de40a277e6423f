package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// depCommands maps what the lab runs on the host to the Debian package that
// provides it. .ci/install-lab-deps.sh installs the same packages (a test
// keeps the two lists equal).
var depCommands = []struct{ cmd, pkg string }{
	{"dockerd", "docker.io"},
	{"docker-registry", "docker-registry"},
	{"debootstrap", "debootstrap"},
	{"sshd", "openssh-server"},
	{"ssh-keygen", "openssh-client"},
	{"busybox", "busybox-static"},
	{"iptables", "iptables"},
	{"tar", "tar"},
	{"gzip", "gzip"},
}

// depFiles are packages known by a file rather than a command.
var depFiles = []struct{ path, pkg string }{
	{"/etc/ssl/certs/ca-certificates.crt", "ca-certificates"},
}

// lookPath finds a command on PATH or in the sbin directories, which a
// non-login root shell may not have on PATH.
func lookPath(cmd string) bool {
	if _, err := exec.LookPath(cmd); err == nil {
		return true
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if st, err := os.Stat(d + "/" + cmd); err == nil && st.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// missingPackages lists the Debian packages whose command or file is not
// on this host.
func missingPackages(have func(cmd string) bool, exists func(path string) bool) []string {
	var out []string
	for _, d := range depCommands {
		if !have(d.cmd) {
			out = append(out, d.pkg)
		}
	}
	for _, d := range depFiles {
		if !exists(d.path) {
			out = append(out, d.pkg)
		}
	}
	return out
}

// EnsureDeps installs the lab's host packages when some are missing: as
// root on a Debian-like host with apt-get, it installs them (like
// .ci/install-lab-deps.sh); otherwise it says what to install.
func EnsureDeps(ctx context.Context, logw io.Writer) error {
	if err := ensureInotify(inotifyInstances, MinInotifyInstances, logw); err != nil {
		return err
	}
	missing := missingPackages(lookPath, func(p string) bool { _, err := os.Stat(p); return err == nil })
	if len(missing) == 0 {
		return nil
	}
	hint := "install them (Debian: sudo .ci/install-lab-deps.sh, or make lab-deps)"
	if os.Geteuid() != 0 {
		return fmt.Errorf("the lab needs these Debian packages, missing here: %s; %s", strings.Join(missing, " "), hint)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("the lab needs these packages, missing here: %s; no apt-get on this host: %s", strings.Join(missing, " "), hint)
	}
	fmt.Fprintf(logw, "lab: installing missing host packages: %s\n", strings.Join(missing, " "))
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"update", "-q"},
		append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...),
	} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logw, logw
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	if still := missingPackages(lookPath, func(p string) bool { _, err := os.Stat(p); return err == nil }); len(still) > 0 {
		return errors.New("still missing after apt-get install: " + strings.Join(still, " "))
	}
	return nil
}

// inotifyInstances is the kernel's per-user limit of inotify instances.
const inotifyInstances = "/proc/sys/fs/inotify/max_user_instances"

// MinInotifyInstances: every machine's systemd holds several inotify
// instances, and at the default of 128 the machines of a few labs exhaust
// them: a new machine's systemd then exits at boot (code 255; "Container
// ... is not running" for the lab). Seen here with 137 in use.
const MinInotifyInstances = 1024

// ensureInotify raises the limit in file to min when it is lower, or says
// why the lab may not start when it cannot.
func ensureInotify(file string, min int, logw io.Writer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil // not Linux's procfs: nothing to check
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || cur >= min {
		return nil
	}
	if err := os.WriteFile(file, []byte(strconv.Itoa(min)+"\n"), 0o644); err != nil {
		return fmt.Errorf("%s is %d: the lab's machines (systemd) need more inotify instances than that; raise it to %d (sysctl -w fs.inotify.max_user_instances=%d): %v", file, cur, min, min, err)
	}
	fmt.Fprintf(logw, "lab: raised fs.inotify.max_user_instances from %d to %d (systemd in every machine holds several)\n", cur, min)
	return nil
}
