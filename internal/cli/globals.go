package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/swarmctl/swarmctl/internal/fleet"
)

// GlobalOptions are the flags every command shares: node selection, SSH and
// output. Each can also be set by SWARMCTL_<FLAG> (upper snake case).
type GlobalOptions struct {
	Inventory      string
	Hosts          []string
	Limit          []string
	User           string
	SSHKey         string
	KnownHosts     string
	SSHConfig      string
	HostKeyPolicy  string
	Bastion        string
	Sudo           bool
	Parallel       int
	FailFast       bool
	ConnectTimeout time.Duration
	StepTimeout    time.Duration
	Output         string
	OutputFile     string
	Verbose        bool
	NoColor        bool

	// Set from cmd.Flags().Changed before a command runs: a named
	// inventory must exist, and --sudo beats the inventory's defaults.
	InventorySet bool
	SudoSet      bool

	// Set by the root before a command runs: its name (for the JSON
	// header) and start; emitted once the command printed its document.
	command string
	start   time.Time
	emitted bool
	// fromEnv are the flags set from SWARMCTL_ variables.
	fromEnv map[string]bool
}

const defaultInventory = "swarmctl.yaml"

func (g *GlobalOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&g.Inventory, "inventory", "i", defaultInventory, "inventory file (YAML): nodes, SSH defaults, mirror settings")
	listVar(fs, &g.Hosts, "host", "ad-hoc node `[user@]host[:port]` (repeatable; ssh_config aliases work)")
	listVar(fs, &g.Limit, "limit", "only nodes with these names, hosts or roles (manager, worker)")
	fs.StringVar(&g.User, "user", "", "SSH user (default: ssh_config, else the local user name)")
	fs.StringVar(&g.SSHKey, "ssh-key", "", "private key file; the env var may hold the key (PEM or base64)")
	fs.StringVar(&g.KnownHosts, "known-hosts", "", "known_hosts file; the env var may hold the lines (text or base64)")
	fs.StringVar(&g.SSHConfig, "ssh-config", "", "ssh_config file (default ~/.ssh/config; \"none\" to ignore)")
	fs.StringVar(&g.HostKeyPolicy, "host-key-policy", "strict", "unknown/changed host keys: strict | accept-new | insecure")
	fs.StringVar(&g.Bastion, "bastion", "", "jump host `[user@]host[:port]` for every node")
	fs.BoolVar(&g.Sudo, "sudo", true, "privileged steps through sudo -n when the SSH user is not root")
	fs.IntVar(&g.Parallel, "parallel", 16, "nodes worked on at once")
	fs.BoolVar(&g.FailFast, "fail-fast", false, "stop starting new nodes after the first failure")
	fs.DurationVar(&g.ConnectTimeout, "connect-timeout", 10*time.Second, "SSH connect and handshake timeout per node")
	fs.DurationVar(&g.StepTimeout, "step-timeout", 0, "deadline of every remote step (default: each step's own; see the README)")
	fs.StringVarP(&g.Output, "output", "o", "text", "output format: text | json")
	fs.StringVar(&g.OutputFile, "output-file", "", "also write the JSON result to this file (a CI artifact)")
	fs.BoolVarP(&g.Verbose, "verbose", "v", false, "show remote commands (secrets redacted)")
	fs.BoolVar(&g.NoColor, "no-color", false, "never use colour (NO_COLOR is honoured too)")
}

// EnvName is the environment variable that sets a flag.
func EnvName(flag string) string {
	return "SWARMCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// secretFlags may hold a secret (a key, CI-held lines): their values are
// never quoted in a message.
var secretFlags = map[string]bool{"ssh-key": true, "known-hosts": true}

// applyEnv sets every flag the user did not give from its SWARMCTL_ env var.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	_, _, err := applyEnvNames(fs, getenv)
	return err
}

// applyEnvNames is applyEnv, also returning the flags it set and warnings
// (a deprecated variable). A flag given on the command line, under its
// name or a deprecated spelling, beats every variable; a new name's
// variable beats the deprecated one's.
func applyEnvNames(fs *pflag.FlagSet, getenv func(string) string) (map[string]bool, []string, error) {
	var err error
	var warnings []string
	set := map[string]bool{}
	onCommandLine := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			onCommandLine[f.Name] = true
			if t := aliasTarget(f); t != "" {
				onCommandLine[t] = true
			}
		}
	})
	apply := func(f *pflag.Flag, target string) {
		if err != nil || onCommandLine[target] || f.Name == "help" {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			if secretFlags[f.Name] {
				err = fmt.Errorf("%s: invalid value", EnvName(f.Name))
			} else {
				err = fmt.Errorf("%s=%q: %s", EnvName(f.Name), v, valueProblem(f, e))
			}
			return
		}
		f.Changed = true
		set[target] = true
	}
	// Deprecated spellings first, so the new name's variable wins.
	fs.VisitAll(func(f *pflag.Flag) {
		if t := aliasTarget(f); t != "" && getenv(EnvName(f.Name)) != "" {
			warnings = append(warnings, fmt.Sprintf("%s is deprecated, use %s instead", EnvName(f.Name), EnvName(t)))
			apply(f, t)
		}
	})
	fs.VisitAll(func(f *pflag.Flag) {
		if aliasTarget(f) == "" {
			apply(f, f.Name)
		}
	})
	return set, warnings, err
}

// flagName is how the user gave a flag: "--ssh-key", or its variable when
// it came from the environment.
func (g *GlobalOptions) flagName(name string) string {
	if g.fromEnv[name] {
		return EnvName(name)
	}
	return "--" + name
}

// annotateEnv appends "(env SWARMCTL_X)" to every flag's usage.
func annotateEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && aliasTarget(f) == "" && !strings.Contains(f.Usage, "(env ") {
			f.Usage += " (env " + EnvName(f.Name) + ")"
		}
	})
}

// validateOutput checks the output flags alone (for commands that touch
// no node).
func (g *GlobalOptions) validateOutput() error {
	switch g.Output {
	case "text", "json":
		return nil
	}
	return usageErr("--output %q: want text or json", g.Output)
}

func (g *GlobalOptions) validate() error {
	switch g.HostKeyPolicy {
	case "strict", "accept-new", "insecure":
	default:
		return usageErr("--host-key-policy %q: want strict, accept-new or insecure", g.HostKeyPolicy)
	}
	switch g.Output {
	case "text", "json":
	default:
		return usageErr("--output %q: want text or json", g.Output)
	}
	if g.Parallel < 1 {
		return usageErr("--parallel must be at least 1")
	}
	if g.ConnectTimeout <= 0 {
		return usageErr("--connect-timeout must be positive")
	}
	if g.StepTimeout < 0 {
		return usageErr("--step-timeout must not be negative (0: each step's own deadline)")
	}
	return nil
}

// fleetOptions are the global flags (and environment) as the fleet
// layer takes them.
func (g *GlobalOptions) fleetOptions(d *Deps) fleet.Options {
	return fleet.Options{
		Inventory:      g.Inventory,
		InventorySet:   g.InventorySet,
		Hosts:          g.Hosts,
		Limit:          g.Limit,
		User:           g.User,
		SSHKey:         g.SSHKey,
		SSHKeyName:     sshKeyName(g, d),
		KnownHosts:     firstNonEmpty(g.KnownHosts, d.Getenv("SSH_KNOWN_HOSTS")),
		SSHConfig:      g.SSHConfig,
		HostKeyPolicy:  g.HostKeyPolicy,
		Bastion:        g.Bastion,
		Sudo:           g.Sudo,
		SudoSet:        g.SudoSet,
		Parallel:       g.Parallel,
		ConnectTimeout: g.ConnectTimeout,
		SSHPassphrase:  d.Getenv("SWARMCTL_SSH_PASSPHRASE"),
		Names: map[string]string{"ssh-key": g.flagName("ssh-key"), "ssh-config": g.flagName("ssh-config"),
			"known-hosts": g.flagName("known-hosts"), "limit": g.flagName("limit")},
	}
}

// sshKeyName is how the user gave --ssh-key, for messages that must
// describe its value without quoting it.
func sshKeyName(g *GlobalOptions, d *Deps) string {
	if g.SSHKey != "" && g.SSHKey == d.Getenv(EnvName("ssh-key")) {
		return EnvName("ssh-key")
	}
	return "--ssh-key"
}

// fleetEnv is how the fleet layer reaches nodes and talks to the user.
func (g *GlobalOptions) fleetEnv(d *Deps) fleet.Env {
	env := fleet.Env{
		Dial:     d.Dial,
		Stderr:   d.IO.Err,
		Progress: func(msg string) { d.IO.Progress("%s", msg) },
		Warn:     func(msg string) { warn(d, msg) },
	}
	if d.IO.StdinTTY {
		env.Prompt = func(file string) ([]byte, error) {
			fmt.Fprintf(d.IO.Err, "Passphrase for %s: ", file)
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(d.IO.Err)
			return b, err
		}
	}
	if g.Verbose {
		env.Log = func(format string, args ...any) { fmt.Fprintf(d.IO.Err, format+"\n", args...) }
	}
	return env
}

// openFleet validates the global flags, loads the inventory and selects
// the nodes. needNodes=false allows an empty selection. With discover,
// swarm members may join the selection later: an empty selection is fine
// and the caller checks --limit (f.CheckLimit) after discovery.
func openFleet(d *Deps, g *GlobalOptions, needNodes bool, discover ...bool) (*fleet.Fleet, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	o := g.fleetOptions(d)
	o.Discover = len(discover) > 0 && discover[0]
	f, err := fleet.Open(o, g.fleetEnv(d))
	if err != nil {
		return nil, err
	}
	if o.Discover && len(f.Selected()) == 0 && len(f.Inventory().Nodes) > 0 {
		needNodes = false // --limit may name swarm members only
	}
	if needNodes && len(f.Selected()) == 0 {
		f.Close()
		return nil, usageErr("no nodes: list them in %s (-i) or give --host", g.Inventory)
	}
	return f, nil
}

// warn prints a warning line on stderr.
func warn(d *Deps, msg string) { d.IO.Progress("%s %s", d.IO.Paint("33", "warning:"), msg) }

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}
