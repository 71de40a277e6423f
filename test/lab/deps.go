package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
