// Command lab brings the swarmctl test lab up and down:
//
//	go run ./test/lab/cmd/lab up [--name e2e] [--managers 3] [--workers 2] [--layout docker-latest|docker]
//	    [--engine 20.10|26.1|28.5] [--image-store classic|containerd]
//	    [--manager-engine E] [--manager-image-store S] [--worker-engine E] [--worker-image-store S] [--load registry:3]
//	go run ./test/lab/cmd/lab status|down|add-machine|check|nothing-left [--name e2e]
//	go run ./test/lab/cmd/lab images [--engines all|20.10,26.1,28.5]
//
// State (key, known_hosts, ssh_config, inventory.yaml, lab.json) is in
// $SWARMCTL_LAB_DIR/<name> (default /tmp/swarmctl-lab/<name>).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
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
  images        build the images labs use (machine images of --engines, registry
                images, ...) on the lab engine, and say how long each took

up flags choosing engines (default: every machine 20.10, classic store):
  --engine E --image-store S             every machine
  --manager-engine E --manager-image-store S, --worker-engine E --worker-image-store S
                                         per role (a mixed fleet)
  engines: 20.10 (Debian 12), 26.1 (Debian 13), 28.5 (Debian sid on 13);
  image stores: classic, containerd (26.1 and 28.5)
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
		fs.StringVar(&cfg.Engine, "engine", lab.Engine2010, "engine of every machine: "+strings.Join(lab.Engines(), ", "))
		fs.StringVar(&cfg.ImageStore, "image-store", lab.StoreClassic, "image store of every machine: classic or containerd")
		fs.StringVar(&cfg.Manager.Engine, "manager-engine", "", "engine of the managers (default --engine)")
		fs.StringVar(&cfg.Manager.ImageStore, "manager-image-store", "", "image store of the managers (default --image-store)")
		fs.StringVar(&cfg.Worker.Engine, "worker-engine", "", "engine of the workers (default --engine)")
		fs.StringVar(&cfg.Worker.ImageStore, "worker-image-store", "", "image store of the workers (default --image-store)")
		fs.Func("load", "also load this image into every machine (e.g. registry:3, built when missing); repeatable", func(v string) error {
			cfg.LoadImages = append(cfg.LoadImages, v)
			return nil
		})
	}
	engines := ""
	if cmd == "images" {
		fs.StringVar(&engines, "engines", "all", "machine images to build: all, or a comma-separated list of "+strings.Join(lab.Engines(), ", "))
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
	if cmd == "images" {
		list := lab.Engines()
		if engines != "all" {
			list = strings.Split(engines, ",")
		}
		if err := lab.BuildImages(ctx, list, os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "lab images: %v\n", err)
			return 1
		}
		return 0
	}
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
		if err := l.Running(ctx); err != nil {
			b, _ := json.MarshalIndent(l.Machines(), "", "  ")
			fmt.Println(string(b))
			return err
		}
		// What each dockerd runs, asked now (lab.json has what Up read).
		ms, err := l.RefreshEngines(ctx)
		b, _ := json.MarshalIndent(ms, "", "  ")
		fmt.Println(string(b))
		printMachines(os.Stderr, ms)
		if err != nil {
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
	fmt.Printf("lab %s is up (%s layout, outer engine %s)\n", l.Name(), l.Layout(), l.DockerHost())
	printMachines(os.Stdout, l.Machines())
	fmt.Printf("upstream registry: %s\ninventory: %s\nssh: ssh -F %s %s\n", l.UpstreamAddr(), l.InventoryPath(), l.SSHConfigPath(), l.Manager().Name)
}

// printMachines is a table of the machines with what their dockerd runs.
func printMachines(w io.Writer, ms []lab.Machine) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  MACHINE\tIP\tROLE\tDOCKER\tCONTAINERD\tIMAGE STORE\tDRIVER")
	for _, m := range ms {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.IP, m.Role, dash(m.EngineVersion), dash(m.ContainerdVersion), m.ImageStore, dash(m.StorageDriver))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
