package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// InitOptions are the options of `swarmctl init`.
type InitOptions struct {
	Global  *GlobalOptions
	Manager string
	FQDN    string
	URL     string
	Yes     bool
}

// InitNode is one node init found.
type InitNode struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Role      string `json:"role"`
	Reachable bool   `json:"reachable"`
	// HostKey: known (already in known_hosts), recorded (by this run),
	// not-recorded (not reached).
	HostKey     string `json:"host_key"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Error       string `json:"error,omitempty"`
	// Written: the node is in the inventory (a member whose name or
	// address swarmctl does not accept is only named in a comment).
	Written bool `json:"written"`
}

// InitResult is the JSON document of `swarmctl init`.
type InitResult struct {
	report.Header
	Path    string     `json:"path"`
	Wrote   bool       `json:"wrote"`
	Manager string     `json:"manager"`
	Nodes   []InitNode `json:"nodes"`
	// Traefik is the mode chosen, with the detection's reason.
	Traefik *stack.TraefikDecision `json:"traefik"`
	// KnownHosts is the file host keys were recorded in ("" = none).
	KnownHosts string `json:"known_hosts,omitempty"`
}

// NewCmdInit builds `swarmctl init`.
func NewCmdInit(d *Deps, g *GlobalOptions, runF func(context.Context, *InitOptions) error) *cobra.Command {
	opts := &InitOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a starter inventory from a manager: the swarm's nodes, Traefik, host keys",
		Long: `Connects to one manager, asks the swarm for its members, connects to each,
picks the Traefik labels the way traefik: auto does, and writes a starter
inventory (-i, default swarmctl.yaml). It never overwrites a file.

Host keys: keys already in known_hosts are checked as always. Keys never
seen are shown with their SHA256 fingerprints, the manager's first (its
member list is trusted only once its key is), and recorded in the first
known_hosts file only after a yes: on a terminal init asks; without one it
needs --yes (or --host-key-policy accept-new, which records them as ssh
does), else it prints the fingerprints and exits 2 with nothing written.
A changed key is refused, as always.`,
		Example: `  swarmctl init --manager root@10.0.0.11 --fqdn mirror.example.com
  swarmctl init --manager ops@m1.example.com --ssh-key ~/.ssh/swarm_ed25519 -i prod.yaml
  swarmctl init --manager 10.0.0.11 --yes        # no terminal: records the keys it prints`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runInit(cmd.Context(), d, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Manager, "manager", "", "a swarm manager to ask: `[user@]host[:port]` (required)")
	f.StringVar(&opts.FQDN, "fqdn", "", "host name the mirror will be served at (Traefik Host rule)")
	f.StringVar(&opts.URL, "url", "", "mirror URL the nodes will use (default https://<fqdn>)")
	f.BoolVarP(&opts.Yes, "yes", "y", false, "record the host keys it shows without asking (no terminal)")
	return cmd
}

func runInit(ctx context.Context, d *Deps, opts *InitOptions) error {
	g := opts.Global
	if err := g.validate(); err != nil {
		return err
	}
	path := g.Inventory
	if _, err := os.Lstat(path); err == nil {
		return &exitError{code: ExitError, kind: report.ErrExists, err: fmt.Errorf("%s exists: init never overwrites an inventory", path),
			hint: "pass -i NEW.yaml, or move the file away"}
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return inputErr("", "-i %s: directory %s does not exist", path, filepath.Dir(path))
	}
	if opts.Manager == "" {
		return withHint(usageErr("--manager is required: a swarm manager to ask for the swarm's members"), "swarmctl init --manager root@10.0.0.11")
	}
	mn, err := fleet.ParseHost(opts.Manager)
	if err != nil {
		return usageErr("--manager %q: %v", opts.Manager, err)
	}
	fo := g.fleetOptions(d)
	fo.Inventory, fo.InventorySet, fo.Discover, fo.RecordsHostKeys = "", false, true, true
	if fo.User == "" {
		fo.User = mn.User // the members are reached as the manager is
	}
	f, err := fleet.Open(fo, g.fleetEnv(d))
	if err != nil {
		return err
	}
	defer f.Close()
	res := &InitResult{Path: path, Nodes: []InitNode{}}
	fail := func(err error) error { return emit(d, g, res, func() {}, err) }

	mgr, err := f.ManagerToAsk(opts.Manager)
	if err != nil {
		return err
	}
	res.Manager = mgr.Name
	keys := &keyConsent{c: &consent{d: d, g: g, yes: opts.Yes}, fingerprints: map[*member.Member]string{}}
	recorded := map[*member.Member]bool{}
	rec, err := f.ConnectTrusting(ctx, []*member.Member{mgr}, fleet.ConnectOptions{Keep: true}, keys.confirm)
	defer mgr.Close()
	if err != nil {
		return fail(err)
	}
	for _, m := range rec {
		recorded[m] = true
	}
	switch {
	case mgr.Err != nil:
		return fail(&exitError{code: ExitFailed, kind: report.ErrNoManager, err: fmt.Errorf("manager %s: %v", mgr.Name, nodes.Unnamed(mgr.Name, mgr.Err))})
	case !mgr.IsManager():
		return fail(&exitError{code: ExitFailed, kind: report.ErrNoManager, err: fmt.Errorf("%s is not a swarm manager (its swarm role: %s)", mgr.Name, mgr.Facts.Role()),
			hint: "give --manager a manager's address (docker node ls on a manager lists them)"})
	}
	if h := mgr.Facts.Hostname; h != "" && inventory.ValidateName(h) == nil {
		mgr.Name = h // the inventory names nodes as the swarm does
		res.Manager = h
	}
	d.IO.Progress("%s (%s): swarm %s, asking for the swarm's members", mgr.Name, mgr.Address(), mgr.Facts.Role())
	more, err := f.Discover(ctx, mgr, []*member.Member{mgr})
	if err != nil {
		return fail(failed(err.Error()))
	}
	var dial []*member.Member
	for _, m := range more {
		if m.Dialled() {
			dial = append(dial, m)
		}
	}
	rec, err = f.ConnectTrusting(ctx, dial, fleet.ConnectOptions{}, keys.confirm)
	if err != nil {
		return fail(err)
	}
	for _, m := range rec {
		recorded[m] = true
	}

	found, terr := stack.DetectTraefik(ctx, mgr.Conn)
	if terr != nil {
		res.Warnings = append(res.Warnings, "Traefik not detected: "+terr.Error())
	}
	v := stack.Values{}
	v.FQDN, v.URL, v.Publish = opts.FQDN, opts.URL, stack.DefaultPublish
	v, dec := stack.DecideTraefik(v, stack.Deployed{}, found)
	res.Traefik = &dec
	res.Warnings = append(res.Warnings, dec.Warnings...)

	members := append([]*member.Member{mgr}, more...)
	for _, m := range members {
		n := InitNode{Name: m.Name, Address: m.Address(), Reachable: m.Reached, Written: m.Dialled(), Role: m.Role, Fingerprint: keys.fingerprints[m]}
		if m.Facts != nil && m.Facts.Role() != "none" {
			n.Role = map[bool]string{true: "manager", false: "worker"}[m.Facts.SwarmManager]
		}
		switch {
		case recorded[m]:
			n.HostKey = "recorded"
		case m.Reached:
			n.HostKey = "known"
		default:
			n.HostKey = "not-recorded"
		}
		if m.Err != nil {
			n.Error = nodes.Unnamed(m.Name, m.Err).Error()
			code := report.ProblemUnreachable
			if !m.Dialled() {
				code = report.ProblemNotSelected
			}
			res.Problems = append(res.Problems, report.Problem{Code: code, Node: m.Name, Message: n.Error})
		}
		res.Nodes = append(res.Nodes, n)
	}
	if len(recorded) > 0 {
		res.KnownHosts = keys.file
	}

	text, err := initInventory(g, opts, mgr, members, v, dec)
	if err != nil {
		return fail(err)
	}
	if _, err := inventory.Parse(path, []byte(text)); err != nil {
		return fail(fmt.Errorf("the inventory init wrote does not load (a bug): %w", err))
	}
	if err := writeNew(path, []byte(text)); err != nil {
		return fail(inputErr("", "-i %s: %v", path, err))
	}
	res.Wrote = true
	return emit(d, g, res, func() { printInit(d, res) }, nil)
}

// keyConsent shows unknown host keys and gets a yes before they are
// recorded: --yes, else the terminal, else a refusal (exit 2).
type keyConsent struct {
	c            *consent
	fingerprints map[*member.Member]string
	file         string // where they are recorded
}

func (k *keyConsent) confirm(fresh []fleet.NewHostKey) error {
	seen := map[string]bool{}
	var lines []string
	for _, n := range fresh {
		k.fingerprints[n.Member] = n.Err.KeyType + " " + n.Err.Fingerprint
		if seen[n.Err.Host] {
			continue
		}
		seen[n.Err.Host] = true
		k.file = n.Err.Files[0]
		lines = append(lines, fmt.Sprintf("  %s\t%s\t%s %s", n.Member.Name, n.Err.Host, n.Err.KeyType, n.Err.Fingerprint))
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Host keys not in %s (compare with ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on each node):\n", k.file)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	tw.Flush()
	fmt.Fprint(k.c.d.IO.Err, b.String())
	what := fmt.Sprintf("record these %d host key(s) in %s", len(lines), k.file)
	err := k.c.ask(what)
	var ee *exitError
	if errors.As(err, &ee) && ee.kind == report.ErrConsentRequired {
		ee.err = fmt.Errorf("%d host key(s) are not in %s and there is no terminal to ask: nothing was written", len(lines), k.file)
		ee.hint = "check the fingerprints above, then run again with --yes (or --host-key-policy accept-new)"
	}
	return err
}

// initInventory is the starter inventory's text, with comments saying
// where each value came from.
func initInventory(g *GlobalOptions, opts *InitOptions, mgr *member.Member, members []*member.Member, v stack.Values, dec stack.TraefikDecision) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# swarmctl inventory written by `swarmctl init --manager %s`.\n", opts.Manager)
	b.WriteString("# Check it, then: swarmctl doctor; swarmctl apply --dry-run. Reference: README.md, \"Inventory\".\n")
	var defaults []string
	if u := firstNonEmpty(g.User, mgr.Target.User); u != "" {
		defaults = append(defaults, "user: "+u)
	}
	if g.SSHKey != "" && !strings.Contains(g.SSHKey, "PRIVATE KEY") {
		abs, err := filepath.Abs(expandHome(g.SSHKey))
		if err != nil {
			return "", err
		}
		defaults = append(defaults, "key: "+abs)
	}
	if kh := g.KnownHosts; kh != "" && !strings.ContainsAny(strings.TrimSpace(kh), " \n") {
		abs, err := filepath.Abs(expandHome(kh))
		if err != nil {
			return "", err
		}
		defaults = append(defaults, "known_hosts: "+abs)
	}
	if g.SSHConfig != "" {
		defaults = append(defaults, "ssh_config: "+g.SSHConfig)
	}
	if g.Bastion != "" {
		defaults = append(defaults, "bastion: "+g.Bastion)
	}
	if g.SudoSet && !g.Sudo {
		defaults = append(defaults, "sudo: false")
	}
	if len(defaults) > 0 {
		b.WriteString("defaults:\n")
		for _, l := range defaults {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("mirror:\n")
	fmt.Fprintf(&b, "  # traefik: %s\n", dec.Reason)
	fmt.Fprintf(&b, "  traefik: %s\n", dec.Mode)
	if v.FQDN != "" {
		fmt.Fprintf(&b, "  fqdn: %s\n", v.FQDN)
	}
	switch {
	case v.URL != "":
		fmt.Fprintf(&b, "  url: %s\n", v.URL)
	case v.FQDN == "" && dec.Mode == stack.TraefikNone:
		b.WriteString("  # HTTP on the published port: the routing mesh answers on every node; an http\n")
		b.WriteString("  # mirror is listed in insecure-registries too. Production: HTTPS (fqdn behind Traefik).\n")
		fmt.Fprintf(&b, "  url: http://%s:%d\n", hostForURL(mgr.Target.Host), v.Publish)
		b.WriteString("  insecure: true\n")
	case v.FQDN == "":
		b.WriteString("  # fqdn: mirror.example.com    # the name Traefik serves the mirror at\n")
	}
	if dec.Mode != stack.TraefikNone {
		for _, kv := range [][2]string{{"network", v.Network}, {"entrypoint", v.Entrypoint}, {"cert_resolver", v.CertResolver}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "  %s: %s    # as the Traefik found uses\n", kv[0], kv[1])
			}
		}
	}
	fmt.Fprintf(&b, "  manager: %s\n", mgr.Name)
	b.WriteString("nodes:\n")
	rest := append([]*member.Member(nil), members[1:]...)
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Role == "manager" && rest[j].Role != "manager" })
	for _, m := range append([]*member.Member{mgr}, rest...) {
		role := m.Role
		if m.Facts != nil && m.Facts.SwarmState == "active" {
			role = map[bool]string{true: "manager", false: "worker"}[m.Facts.SwarmManager]
		}
		if !m.Dialled() {
			fmt.Fprintf(&b, "  # not added: swarm member %s (%s): %v\n", m.Name, m.Target.Host, m.Err)
			continue
		}
		if m.Err != nil {
			fmt.Fprintf(&b, "  # not reachable from here at init (%s): check its address, or use ssh_config\n", oneLine(nodes.Unnamed(m.Name, m.Err).Error()))
		}
		entry := fmt.Sprintf("host: %s, name: %s", m.Target.Host, m.Name)
		if m == mgr && m.Target.Port != 0 && m.Target.Port != 22 {
			entry += fmt.Sprintf(", port: %d", m.Target.Port)
		}
		if role != "" {
			entry += ", role: " + role
		}
		fmt.Fprintf(&b, "  - {%s}\n", entry)
	}
	return b.String(), nil
}

func hostForURL(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:157]) + "..."
	}
	return s
}

// writeNew creates path with data; it never replaces a file.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("exists now: init never overwrites an inventory")
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

func printInit(d *Deps, res *InitResult) {
	tw := tabwriter.NewWriter(d.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tROLE\tHOST KEY")
	managers := 0
	for _, n := range res.Nodes {
		key := n.HostKey
		if n.Fingerprint != "" {
			key += " (" + n.Fingerprint + ")"
		}
		if n.Error != "" {
			key += ": " + oneLine(n.Error)
		}
		if n.Role == "manager" {
			managers++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Address, dash(n.Role), key)
	}
	tw.Flush()
	for _, w := range res.Warnings {
		warn(d, w)
	}
	if t := res.Traefik; t != nil {
		fmt.Fprintf(d.IO.Err, "traefik: %s: %s\n", t.Mode, t.Reason)
	}
	fmt.Fprintf(d.IO.Err, "wrote %s: %d node(s), %d manager(s)\nnext: swarmctl doctor -i %s, then swarmctl apply -i %s --dry-run\n",
		res.Path, len(res.Nodes), managers, res.Path, res.Path)
}
