// Command lab brings the swarmctl test lab up and down:
//
//	go run ./test/lab/cmd/lab up [--name e2e] [--managers 3] [--workers 2] [--layout docker-latest|docker]
//	go run ./test/lab/cmd/lab status|down|add-machine|check|nothing-left [--name e2e]
//
// State (key, known_hosts, ssh_config, inventory.yaml, lab.json) is in
// $SWARMCTL_LAB_DIR/<name> (default /tmp/swarmctl-lab/<name>).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

func main() { os.Exit(run(os.Args[1:])) }

const usage = `usage: lab <command> [flags]

commands:
  up            start a lab (or reuse the running one of that name)
  down          remove the lab; stop the outer dockerd if the lab started it and no lab uses it
  status        print the lab's machines (JSON) and whether they run
  add-machine   start one more worker, join it to the swarm (not added to inventory.yaml)
  check         verify docker, host keys and the swarm on every machine
  nothing-left  fail if any lab container or lab-started engine still runs
`

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("lab "+cmd, flag.ContinueOnError)
	cfg := lab.Config{Log: os.Stderr}
	fs.StringVar(&cfg.Name, "name", envOr("SWARMCTL_LAB_NAME", lab.DefaultName), "lab name")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "state directory (default $SWARMCTL_LAB_DIR/<name>)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	if cmd == "up" {
		fs.IntVar(&cfg.Managers, "managers", 3, "number of managers")
		fs.IntVar(&cfg.Workers, "workers", 2, "number of workers")
		fs.StringVar(&cfg.Layout, "layout", lab.LayoutDockerLatest, "docker-latest or docker")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(lab.RootDir(), cfg.Name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := dispatch(ctx, cmd, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "lab %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func dispatch(ctx context.Context, cmd string, cfg lab.Config) error {
	switch cmd {
	case "up":
		l, err := lab.Up(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%w\n(state kept for debugging; remove it with: go run ./test/lab/cmd/lab down --name %s)", err, cfg.Name)
		}
		printSummary(l)
		return nil
	case "nothing-left":
		return lab.CheckNothingLeft(ctx)
	}
	l, err := lab.Attach(cfg.StateDir)
	if err != nil {
		if cmd == "down" && os.IsNotExist(err) {
			fmt.Fprintf(os.Stderr, "lab %s: no %s; removing what may be left of it\n", cfg.Name, filepath.Join(cfg.StateDir, "lab.json"))
			return lab.Cleanup(ctx, cfg.Name, os.Stderr)
		}
		return err
	}
	switch cmd {
	case "down":
		l.SetLog(os.Stderr)
		return l.Down(ctx)
	case "status":
		b, _ := json.MarshalIndent(l.Machines(), "", "  ")
		fmt.Println(string(b))
		if err := l.Running(ctx); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "lab %s: running; ssh -F %s %s\n", l.Name(), l.SSHConfigPath(), l.Manager().Name)
		return nil
	case "add-machine":
		l.SetLog(os.Stderr)
		start := time.Now()
		m, err := l.AddMachine(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "lab %s: added %s (%s) in %s\n", l.Name(), m.Name, m.IP, time.Since(start).Round(100*time.Millisecond))
		b, _ := json.Marshal(m)
		fmt.Println(string(b))
		return nil
	case "check":
		if err := lab.Check(ctx, l); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "lab %s: %d machines OK\n", l.Name(), len(l.Machines()))
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func printSummary(l *lab.Lab) {
	fmt.Printf("lab %s is up (%s layout, engine %s)\n", l.Name(), l.Layout(), l.DockerHost())
	for _, m := range l.Machines() {
		fmt.Printf("  %-10s %-15s %s\n", m.Name, m.IP, m.Role)
	}
	fmt.Printf("upstream registry: %s\ninventory: %s\nssh: ssh -F %s %s\n", l.UpstreamAddr(), l.InventoryPath(), l.SSHConfigPath(), l.Manager().Name)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
