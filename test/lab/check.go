package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Check verifies a lab as tests expect it: every machine's dockerd answers
// with the vfs driver and is an active swarm member, host keys differ
// between machines and match known_hosts, and the swarm has one Ready node
// per machine.
func Check(ctx context.Context, l *Lab) error {
	var errs []error
	seen := map[string]string{}
	known, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		return err
	}
	for _, m := range l.Machines() {
		out, err := l.Exec(ctx, m.Name, "sh", "-c", `docker info --format '{{.Driver}} {{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' && cat /etc/ssh/ssh_host_ed25519_key.pub`)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v: %s", m.Name, err, out))
			continue
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			errs = append(errs, fmt.Errorf("%s: unexpected output %q", m.Name, out))
			continue
		}
		want := fmt.Sprintf("vfs active %v", m.Role == "manager")
		if lines[0] != want {
			errs = append(errs, fmt.Errorf("%s: docker info says %q, want %q", m.Name, lines[0], want))
		}
		f := strings.Fields(lines[1])
		if len(f) < 2 {
			errs = append(errs, fmt.Errorf("%s: bad host key %q", m.Name, lines[1]))
			continue
		}
		key := f[0] + " " + f[1]
		if other, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s and %s share an SSH host key", m.Name, other))
		}
		seen[key] = m.Name
		if !strings.Contains(string(known), m.IP+" "+key+"\n") {
			errs = append(errs, fmt.Errorf("%s: its ed25519 host key is not in %s under %s", m.Name, l.KnownHostsPath(), m.IP))
		}
	}
	out, err := l.Exec(ctx, l.Manager().Name, "docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
	if err != nil {
		errs = append(errs, fmt.Errorf("docker node ls: %v: %s", err, out))
	} else {
		ready := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasSuffix(line, " Ready") {
				ready++
			}
		}
		if ready != len(l.Machines()) {
			errs = append(errs, fmt.Errorf("swarm has %d Ready nodes, want %d:\n%s", ready, len(l.Machines()), out))
		}
	}
	return errors.Join(errs...)
}

// CheckNothingLeft reports anything of any lab still running: processes of
// an engine the lab started, that engine's socket, or lab containers on an
// engine that answers at DOCKER_HOST or the default socket.
func CheckNothingLeft(ctx context.Context) error {
	var errs []error
	dir := engineDir()
	if ps := processesUnder(dir); len(ps) > 0 {
		errs = append(errs, fmt.Errorf("lab engine processes still running: %s", strings.Join(ps, "; ")))
	}
	own := "unix://" + ownSocket(dir)
	hosts := []string{own}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		hosts = append(hosts, h)
	} else {
		hosts = append(hosts, "unix:///var/run/docker.sock")
	}
	for _, h := range hosts {
		if !answers(ctx, h) {
			continue
		}
		if h == own {
			errs = append(errs, fmt.Errorf("the lab's engine still answers at %s", h))
		}
		e := &engine{host: h}
		out, err := e.docker(ctx, nil, "ps", "-a", "--filter", "label="+label, "--format", "{{.Names}}")
		if err != nil {
			errs = append(errs, err)
		} else if s := strings.TrimSpace(out); s != "" {
			errs = append(errs, fmt.Errorf("lab containers left on %s: %s", h, strings.ReplaceAll(s, "\n", ", ")))
		}
	}
	return errors.Join(errs...)
}
