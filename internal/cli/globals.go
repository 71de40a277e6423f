package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
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
	Output         string
	OutputFile     string
	Verbose        bool
	NoColor        bool

	inventoryChanged bool
	sudoChanged      bool
}

const defaultInventory = "swarmctl.yaml"

func (g *GlobalOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&g.Inventory, "inventory", "i", defaultInventory, "inventory file (YAML): nodes, SSH defaults, mirror settings")
	fs.StringSliceVar(&g.Hosts, "host", nil, "ad-hoc node `[user@]host[:port]` (repeatable; ssh_config aliases work)")
	fs.StringSliceVar(&g.Limit, "limit", nil, "only nodes with these names or roles (manager, worker), comma separated")
	fs.StringVar(&g.User, "user", "", "SSH user for nodes that set none (default from ssh_config, else the local user name, as ssh does)")
	fs.StringVar(&g.SSHKey, "ssh-key", "", "private key file; the env var may hold the PEM key itself")
	fs.StringVar(&g.KnownHosts, "known-hosts", "", "known_hosts file (default ~/.ssh/known_hosts; SSH_KNOWN_HOSTS too); the env var may hold the lines themselves")
	fs.StringVar(&g.SSHConfig, "ssh-config", "", "ssh_config file (default ~/.ssh/config; \"none\" to ignore)")
	fs.StringVar(&g.HostKeyPolicy, "host-key-policy", "strict", "unknown/changed host keys: strict | accept-new | insecure")
	fs.StringVar(&g.Bastion, "bastion", "", "jump host `[user@]host[:port]` for every node (ProxyJump in ssh_config works too)")
	fs.BoolVar(&g.Sudo, "sudo", true, "run privileged steps through sudo -n when the SSH user is not root")
	fs.IntVar(&g.Parallel, "parallel", 16, "nodes worked on at once")
	fs.BoolVar(&g.FailFast, "fail-fast", false, "stop starting new nodes after the first failure")
	fs.DurationVar(&g.ConnectTimeout, "connect-timeout", 10*time.Second, "SSH connect and handshake timeout per node")
	fs.StringVarP(&g.Output, "output", "o", "text", "output format: text | json")
	fs.StringVar(&g.OutputFile, "output-file", "", "also write the JSON result to this file (a CI artifact)")
	fs.BoolVarP(&g.Verbose, "verbose", "v", false, "show remote commands (secrets redacted)")
	fs.BoolVar(&g.NoColor, "no-color", false, "never use colour (NO_COLOR is honoured too)")
}

// EnvName is the environment variable that sets a flag.
func EnvName(flag string) string {
	return "SWARMCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag the user did not give from its SWARMCTL_ env var.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, e)
			return
		}
		f.Changed = true
	})
	return err
}

// annotateEnv appends "(env SWARMCTL_X)" to every flag's usage.
func annotateEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !strings.Contains(f.Usage, "(env ") {
			f.Usage += " (env " + EnvName(f.Name) + ")"
		}
	})
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
	return nil
}

// Node is one selected node: how to reach it and what the inventory says.
type Node struct {
	Name   string
	Target nodes.Target
	Role   string // hint from the inventory: manager, worker or ""
	// NotDialled, when set, is why the node is reported failed without a
	// connection: a swarm member discovery found with a name or address
	// swarmctl would not accept from a user.
	NotDialled error
}

// loadInventory reads the inventory. A missing default file is fine when
// nodes come from --host (or discovery); a missing named file is an error.
func (g *GlobalOptions) loadInventory() (*inventory.Inventory, error) {
	_, err := os.Stat(g.Inventory)
	if errors.Is(err, fs.ErrNotExist) && !g.inventoryChanged {
		return &inventory.Inventory{}, nil
	}
	inv, err := inventory.Load(g.Inventory)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return inv, nil
}

// selectNodes turns the inventory and --host flags into the nodes to work
// on, filtered by --limit.
func (g *GlobalOptions) selectNodes(inv *inventory.Inventory) ([]Node, error) {
	var out []Node
	for _, n := range inv.Nodes {
		out = append(out, g.nodeFrom(inv, n))
	}
	for _, h := range g.Hosts {
		n, err := parseHostFlag(h)
		if err != nil {
			return nil, usageErr("--host %q: %v", h, err)
		}
		out = append(out, g.nodeFrom(inv, n))
	}
	if len(g.Limit) > 0 {
		want := map[string]bool{}
		for _, l := range g.Limit {
			want[strings.TrimSpace(l)] = true
		}
		var kept []Node
		for _, n := range out {
			if want[n.Name] || want[n.Target.Host] || (n.Role != "" && want[n.Role]) {
				kept = append(kept, n)
			}
		}
		if len(kept) == 0 {
			return nil, usageErr("--limit %s matches no node", strings.Join(g.Limit, ","))
		}
		out = kept
	}
	return out, nil
}

// nodeFrom applies precedence: node entry > flags > inventory defaults.
// ssh_config values are applied later by the dialer, below all of these.
func (g *GlobalOptions) nodeFrom(inv *inventory.Inventory, n inventory.Node) Node {
	d := inv.Defaults
	t := nodes.Target{Name: n.DisplayName(), Host: n.Host, Port: n.Port, User: n.User, Sudo: g.Sudo}
	if t.User == "" {
		t.User = firstNonEmpty(g.User, d.User)
	}
	if t.Port == 0 {
		t.Port = d.Port
	}
	if n.Sudo != nil {
		t.Sudo = *n.Sudo
	} else if d.Sudo != nil && !g.sudoChanged {
		t.Sudo = *d.Sudo
	}
	key := n.Key
	if key == "" && !isPEM(g.SSHKey) {
		key = g.SSHKey
	}
	if key == "" {
		key = d.Key
	}
	if key != "" {
		t.KeyFiles = []string{inv.Resolve(expandHome(key))}
	}
	return Node{Name: t.Name, Target: t, Role: n.Role}
}

// parseHostFlag parses [user@]host[:port] (IPv6 as [addr]:port).
func parseHostFlag(s string) (inventory.Node, error) {
	var n inventory.Node
	if at := strings.LastIndex(s, "@"); at >= 0 {
		n.User, s = s[:at], s[at+1:]
		if n.User == "" || strings.ContainsAny(n.User, " \t\n'\"$;`\\@") {
			return n, fmt.Errorf("bad user %q", n.User)
		}
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	} else {
		p, perr := strconv.Atoi(port)
		if perr != nil || p < 1 || p > 65535 {
			return n, fmt.Errorf("bad port %q", port)
		}
		n.Port = p
	}
	if err := inventory.ValidateHost(host); err != nil {
		return n, err
	}
	n.Host = host
	return n, nil
}

// dialOptions builds the transport options from flags, env and inventory.
func (g *GlobalOptions) dialOptions(d *Deps, inv *inventory.Inventory) (nodes.DialOptions, func(), error) {
	o := nodes.DialOptions{
		HostKeyPolicy:  g.HostKeyPolicy,
		SSHConfigPath:  expandHome(g.SSHConfig),
		ConnectTimeout: g.ConnectTimeout,
		Bastion:        firstNonEmpty(g.Bastion, inv.Defaults.Bastion),
		Warn:           d.IO.Err,
	}
	if o.SSHConfigPath == "" && inv.Defaults.SSHConfig != "" {
		o.SSHConfigPath = inv.Resolve(expandHome(inv.Defaults.SSHConfig))
	}
	cleanup := func() {}
	if isPEM(g.SSHKey) {
		o.KeyPEM = []byte(g.SSHKey)
	}
	kh := g.KnownHosts
	if kh == "" {
		kh = d.Getenv("SSH_KNOWN_HOSTS")
	}
	switch {
	case strings.ContainsAny(strings.TrimSpace(kh), " \n"):
		// The value holds known_hosts lines (a CI secret): use a private copy.
		f, err := os.CreateTemp("", "swarmctl-known_hosts-*")
		if err != nil {
			return o, cleanup, err
		}
		_, err = f.WriteString(strings.TrimSpace(kh) + "\n")
		f.Close()
		if err != nil {
			return o, cleanup, err
		}
		cleanup = func() { os.Remove(f.Name()) }
		o.KnownHostsFiles = []string{f.Name()}
	case kh != "":
		o.KnownHostsFiles = []string{expandHome(kh)}
	case inv.Defaults.KnownHosts != "":
		o.KnownHostsFiles = []string{inv.Resolve(expandHome(inv.Defaults.KnownHosts))}
	}
	if pp := d.Getenv("SWARMCTL_SSH_PASSPHRASE"); pp != "" {
		o.Passphrase = func(string) ([]byte, error) { return []byte(pp), nil }
	} else if d.IO.StdinTTY {
		o.Passphrase = func(file string) ([]byte, error) {
			fmt.Fprintf(d.IO.Err, "Passphrase for %s: ", file)
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(d.IO.Err)
			return b, err
		}
	}
	if g.Verbose {
		o.Log = func(format string, args ...any) { fmt.Fprintf(d.IO.Err, format+"\n", args...) }
	}
	return o, cleanup, nil
}

func isPEM(s string) bool { return strings.Contains(s, "PRIVATE KEY-----") }

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

// session is what a command works with: the selected nodes and a way to
// reach them.
type session struct {
	g       *GlobalOptions
	deps    *Deps
	inv     *inventory.Inventory
	nodes   []Node
	dialOpt nodes.DialOptions
	cleanup func()
}

// newSession loads the inventory, selects nodes and prepares dialling.
// needNodes=false allows an empty selection (e.g. discovery fills it).
func newSession(cmd *cobra.Command, g *GlobalOptions, d *Deps, needNodes bool) (*session, error) {
	g.inventoryChanged = cmd.Flags().Changed("inventory")
	g.sudoChanged = cmd.Flags().Changed("sudo")
	if err := g.validate(); err != nil {
		return nil, err
	}
	inv, err := g.loadInventory()
	if err != nil {
		return nil, err
	}
	sel, err := g.selectNodes(inv)
	if err != nil {
		return nil, err
	}
	if needNodes && len(sel) == 0 {
		return nil, usageErr("no nodes: list them in %s (-i) or give --host", g.Inventory)
	}
	o, cleanup, err := g.dialOptions(d, inv)
	if err != nil {
		return nil, err
	}
	if err := checkOneServerEach(sel, o); err != nil {
		cleanup()
		return nil, err
	}
	return &session{g: g, deps: d, inv: inv, nodes: sel, dialOpt: o, cleanup: cleanup}, nil
}

func (s *session) close() { s.cleanup() }

// checkOneServerEach refuses a selection that reaches one SSH server twice
// (two aliases with the same ssh_config HostName and Port, or --host
// repeating an inventory node): that machine would be changed by two
// sessions at once. A node whose ssh_config cannot be read is left to the
// dial, which reports it on that node.
func checkOneServerEach(sel []Node, o nodes.DialOptions) error {
	seen := map[string]string{}
	for _, n := range sel {
		ep, err := nodes.Endpoint(o, n.Target)
		if err != nil {
			continue
		}
		prev, ok := seen[ep]
		switch {
		case !ok:
			seen[ep] = n.Name
		case prev == n.Name:
			return usageErr("node %q is selected twice (%s): give it once, in the inventory or with --host", n.Name, ep)
		default:
			return usageErr("nodes %q and %q reach the same SSH server (%s): list each machine once", prev, n.Name, ep)
		}
	}
	return nil
}

// otherManagers are the inventory's nodes with role: manager that --limit
// left out. They may answer the swarm guard's questions (see
// configure.Options.Observers), and are dialled only if it needs one.
func (s *session) otherManagers() []configure.Node {
	var out []configure.Node
	for _, n := range s.otherManagerNodes() {
		out = append(out, configure.Node{Name: n.Name, Address: address(n.Target),
			Dial: func(ctx context.Context) (nodes.Host, error) { return s.dial(ctx, n) }})
	}
	return out
}

// otherManagerNodes are the inventory's nodes with role: manager that
// --limit left out (none without --limit).
func (s *session) otherManagerNodes() []Node {
	if len(s.g.Limit) == 0 {
		return nil
	}
	sel := map[string]bool{}
	for _, n := range s.nodes {
		sel[n.Name] = true
	}
	var out []Node
	for _, in := range s.inv.Nodes {
		if n := s.g.nodeFrom(s.inv, in); n.Role == "manager" && !sel[n.Name] {
			out = append(out, n)
		}
	}
	return out
}

// dial connects to one node.
func (s *session) dial(ctx context.Context, n Node) (nodes.Host, error) {
	return s.deps.Dial(ctx, n.Target, s.dialOpt)
}
