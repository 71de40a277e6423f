// Command lab brings the swarmctl test lab up and down:
//
//	go run ./test/lab/cmd/lab up [--name e2e] [--managers 3] [--workers 2] [--layout docker-latest|docker]
//	    [--engine 20.10|26.1|28.5] [--image-store classic|containerd]
//	    [--manager-engine E] [--manager-image-store S] [--worker-engine E] [--worker-image-store S] [--load registry:3]
//	go run ./test/lab/cmd/lab status|down|add-machine|check|nothing-left [--name e2e]
//	go run ./test/lab/cmd/lab images [--engines all|20.10,26.1,28.5]
//	go run ./test/lab/cmd/lab access-log [--name e2e] [--stand-in docker.io] [--after N]
//	go run ./test/lab/cmd/lab stand-in [--name e2e] --stand-in ghcr.io [--config '{"down":true}']
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
	"github.com/swarmctl/swarmctl/test/lab/front"
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
  access-log    print a stand-in's access log after --after N (JSON lines); --seq
                prints the newest entry's number (a mark for --after)
  stand-in      print a stand-in's run-time config; --config JSON replaces it
                (e.g. '{"down":true}', '{"rate_limit":{"limit":100,"window":"6h"}}',
                '{"latency":"50ms","bandwidth_bps":6250000}', '{}' to reset)

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
	defTimeout := 15 * time.Minute
	if cmd == "images" {
		defTimeout = time.Hour // cold: three debootstraps and a Go build
	}
	timeout := fs.Duration("timeout", defTimeout, "give up after this long")
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
	standIn, frontConfig := lab.HubName, ""
	after, seqOnly := int64(0), false
	if cmd == "access-log" || cmd == "stand-in" {
		fs.StringVar(&standIn, "stand-in", lab.HubName, "registry-1.docker.io (or docker.io), ghcr.io or quay.io")
	}
	if cmd == "access-log" {
		fs.Int64Var(&after, "after", 0, "only entries after this number")
		fs.BoolVar(&seqOnly, "seq", false, "print only the newest entry's number")
	}
	if cmd == "stand-in" {
		fs.StringVar(&frontConfig, "config", "", "replace the front's run-time config with this JSON")
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
	if cmd == "access-log" || cmd == "stand-in" {
		err := standInCmd(ctx, cmd, cfg.StateDir, standIn, after, seqOnly, frontConfig)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lab %s: %v\n", cmd, err)
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
	for _, s := range l.StandIns() {
		fmt.Printf("stand-in %-21s %s:443 (log and knobs: %s; images %s)\n", s.Name, s.IP, s.Control, strings.Join(s.Images, ", "))
	}
	fmt.Printf("lab CA: %s\ninventory: %s\nssh: ssh -F %s %s\n", l.CAPath(), l.InventoryPath(), l.SSHConfigPath(), l.Manager().Name)
}

func standInCmd(ctx context.Context, cmd, stateDir, name string, after int64, seqOnly bool, config string) error {
	l, err := lab.Attach(stateDir)
	if err != nil {
		return err
	}
	s, err := l.StandIn(name)
	if err != nil {
		return err
	}
	switch {
	case cmd == "access-log" && seqOnly:
		n, err := s.Mark(ctx)
		if err == nil {
			fmt.Println(n)
		}
		return err
	case cmd == "access-log":
		es, err := s.Log(ctx, after)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		for _, e := range es {
			enc.Encode(e)
		}
		return nil
	case config != "":
		var c front.Config
		dec := json.NewDecoder(strings.NewReader(config))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		if err := s.Configure(ctx, c); err != nil {
			return err
		}
	}
	c, err := s.Config(ctx)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	fmt.Println(string(b))
	return nil
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
