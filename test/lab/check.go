package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Check verifies a lab as tests expect it: every machine's dockerd answers
// with the storage driver and image store the machine was made for and is
// an active swarm member, host keys differ between machines and match
// known_hosts, and the swarm has one Ready node per machine.
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
		want := fmt.Sprintf("%s active %v", StorageDriver(m.ImageStore), m.Role == "manager")
		if lines[0] != want {
			errs = append(errs, fmt.Errorf("%s: docker info says %q, want %q", m.Name, lines[0], want))
		}
		if ef, err := l.ReadEngine(ctx, m.Name); err != nil {
			errs = append(errs, err)
		} else if ef.ImageStore != m.ImageStore || ef.EngineVersion != m.EngineVersion {
			errs = append(errs, fmt.Errorf("%s: dockerd runs %s with the %s store, lab.json says %s with the %s store", m.Name, ef.EngineVersion, ef.ImageStore, m.EngineVersion, m.ImageStore))
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

// CheckNothingLeft reports what a lab's Down should have removed but did
// not: containers of labs that are no longer registered as up, processes
// or the socket of an engine the lab started while no lab uses it. Labs
// that are still up (another test run, `make lab-up`) are not leftovers.
// It looks at the lab's own engine and at DOCKER_HOST (or the default
// socket).
func CheckNothingLeft(ctx context.Context) error {
	var errs []error
	dir := engineDir()
	up := map[string]bool{}
	if ents, err := os.ReadDir(filepath.Join(dir, "users")); err == nil {
		for _, e := range ents {
			up[e.Name()] = true
		}
	}
	if len(up) == 0 {
		if ps := processesUnder(dir); len(ps) > 0 {
			errs = append(errs, fmt.Errorf("lab engine processes still running: %s", strings.Join(ps, "; ")))
		}
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
		if h == own && len(up) == 0 {
			errs = append(errs, fmt.Errorf("the lab's engine still answers at %s though no lab is up", h))
		}
		e := &engine{host: h}
		out, err := e.docker(ctx, nil, "ps", "-a", "--filter", "label="+label, "--format", `{{.Names}} {{.Label "`+label+`"}}`)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var left []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 && !up[f[1]] {
				left = append(left, f[0])
			}
		}
		if len(left) > 0 {
			errs = append(errs, fmt.Errorf("containers of labs that are down are left on %s: %s", h, strings.Join(left, ", ")))
		}
	}
	return errors.Join(errs...)
}
