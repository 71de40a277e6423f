// Package fleet is the layer between the commands and the engines: it
// turns options (inventory, --host, --limit, SSH settings) into the nodes a
// command works on, and owns everything done to the fleet as a whole:
//
//   - selection: the inventory's nodes and --host, filtered by --limit,
//     each a member.Member with the SSH settings' precedence applied
//     (node entry > flags > inventory defaults > ssh_config);
//   - dialling with bounded parallelism (Options.Parallel), and gathering
//     each member's facts on the same connection (Connect);
//   - choosing and asking a manager (PickManager, ManagerToAsk,
//     AskManager, ConnectManager, OtherManagers);
//   - discovery: swarm members a manager reports that the inventory and
//     --host lack (Discover), never dialling a name or address swarmctl
//     would not accept from a user.
//
// The one node type is member.Member: the engines (configure, status,
// stack) work on members and never import this package; the commands fill
// Options from flags and the environment, and this package never imports
// them. Design: the engines stay testable with fake hosts, and the rules
// of "which nodes, reached how" live in one place instead of beside each
// command.
package fleet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/suggest"
)

// Options select the nodes and say how to reach them. The commands fill
// them from flags and SWARMCTL_ variables.
type Options struct {
	// Inventory is the inventory file. A missing file is fine unless
	// InventorySet (named by the user): nodes then come from Hosts (or
	// discovery).
	Inventory    string
	InventorySet bool
	// Hosts are ad-hoc nodes, [user@]host[:port].
	Hosts []string
	// Limit keeps only nodes with these names, hosts or roles.
	Limit []string
	// User is the SSH user for nodes that set none.
	User string
	// SSHKey is a key file, or the key itself (a CI secret): PEM text, or
	// base64 of it. SSHKeyName is how the user gave it ("--ssh-key",
	// "SWARMCTL_SSH_KEY"), for the message that refuses it.
	SSHKey     string
	SSHKeyName string
	// KnownHosts is a known_hosts file, or known_hosts lines themselves
	// (text, or base64 of it).
	KnownHosts    string
	SSHConfig     string
	HostKeyPolicy string
	Bastion       string
	// Sudo runs privileged steps through sudo -n; SudoSet (given by the
	// user) makes it beat the inventory's defaults.sudo.
	Sudo    bool
	SudoSet bool
	// Parallel bounds the nodes dialled (and worked on) at once.
	Parallel       int
	ConnectTimeout time.Duration
	// SSHPassphrase unlocks encrypted keys ("" = Env.Prompt, if any).
	SSHPassphrase string
	// Discover: swarm members a manager reports may join the selection,
	// so a --limit entry that names no inventory node may still name one
	// of them; CheckLimit then runs after discovery, not in Open.
	Discover bool
	// RecordsHostKeys: the command records confirmed host keys (init), so
	// a known_hosts file that does not exist yet is fine.
	RecordsHostKeys bool
	// Names says how the user gave an option, for messages: "--ssh-key"
	// or "SWARMCTL_SSH_KEY" (keys: ssh-key, ssh-config, known-hosts,
	// limit); default "--<key>".
	Names map[string]string
}

// name is how the user gave option key.
func (o Options) name(key string) string {
	if n := o.Names[key]; n != "" {
		return n
	}
	return "--" + key
}

// Env is what the fleet needs from outside; tests hand in fakes.
type Env struct {
	// Dial connects to one target (nodes.Dial for real).
	Dial func(ctx context.Context, t nodes.Target, o nodes.DialOptions) (nodes.Host, error)
	// Stderr receives the dialer's warnings (host keys).
	Stderr io.Writer
	// Log, when set, receives every remote command line (-v).
	Log func(format string, args ...any)
	// Prompt asks for an encrypted key's passphrase; nil: no prompt.
	Prompt func(keyFile string) ([]byte, error)
	// Progress and Warn print a progress line or a warning (stderr).
	Progress func(msg string)
	Warn     func(msg string)
}

// InputError is a mistake in the options or the inventory, found before
// any node was touched. Hint says what to do about it ("" = the message
// says it).
type InputError struct {
	Err  error
	Hint string
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// Fleet is an opened selection: the inventory, the selected nodes and the
// settings to dial them with.
type Fleet struct {
	o        Options
	env      Env
	inv      *inventory.Inventory
	selected []*member.Member
	dialOpt  nodes.DialOptions
	cleanup  func()

	// candidates are the nodes --limit chooses from (inventory, then
	// --host); swarm the members discovery saw (for CheckLimit).
	candidates []*member.Member
	swarm      []member.SwarmNode
	// keySource names where each key file came from, for messages.
	keySource map[string]string
}

// Open loads the inventory, selects the nodes and prepares dialling. It
// refuses a selection that reaches one SSH server twice. Close it when
// done.
func Open(o Options, env Env) (*Fleet, error) {
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if env.Progress == nil {
		env.Progress = func(string) {}
	}
	if env.Warn == nil {
		env.Warn = func(string) {}
	}
	f := &Fleet{o: o, env: env, cleanup: func() {}, keySource: map[string]string{}}
	inv, err := f.loadInventory()
	if err != nil {
		return nil, err
	}
	f.inv = inv
	if f.selected, err = f.selectNodes(); err != nil {
		return nil, err
	}
	if !o.Discover {
		if err := f.CheckLimit(); err != nil {
			return nil, err
		}
	}
	if err := f.checkLocalFiles(); err != nil {
		return nil, err
	}
	if f.dialOpt, f.cleanup, err = f.dialOptions(); err != nil {
		return nil, err
	}
	if err := checkOneServerEach(f.selected, f.dialOpt); err != nil {
		f.cleanup()
		return nil, err
	}
	return f, nil
}

// Close removes what Open made (a private known_hosts copy).
func (f *Fleet) Close() { f.cleanup() }

// Inventory is the loaded inventory (empty when there is none).
func (f *Fleet) Inventory() *inventory.Inventory { return f.inv }

// Parallel is how many nodes are worked on at once.
func (f *Fleet) Parallel() int { return f.o.Parallel }

// Selected returns the selected nodes as new, unconnected members, in
// inventory order then --host order.
func (f *Fleet) Selected() []*member.Member { return fresh(f.selected) }

func fresh(ms []*member.Member) []*member.Member {
	out := make([]*member.Member, len(ms))
	for i, m := range ms {
		c := *m
		out[i] = &c
	}
	return out
}

// OtherManagers are the inventory's nodes with role: manager that --limit
// left out (none without --limit), as new members. They may answer the
// swarm's questions (configure's observers, discovery) but are never
// changed.
func (f *Fleet) OtherManagers() []*member.Member {
	if len(f.o.Limit) == 0 {
		return nil
	}
	sel := map[string]bool{}
	for _, m := range f.selected {
		sel[m.Name] = true
	}
	var out []*member.Member
	for _, in := range f.inv.Nodes {
		if m := f.member(in); m.Role == "manager" && !sel[m.Name] {
			out = append(out, m)
		}
	}
	return out
}

// loadInventory reads the inventory. A missing default file is fine when
// nodes come from --host (or discovery); a missing named file is an error.
func (f *Fleet) loadInventory() (*inventory.Inventory, error) { return LoadInventory(f.o) }

// LoadInventory reads only the inventory o names (for a command that
// touches no node). A missing file is fine unless o.InventorySet.
func LoadInventory(o Options) (*inventory.Inventory, error) {
	_, err := os.Stat(o.Inventory)
	if errors.Is(err, fs.ErrNotExist) && !o.InventorySet {
		return &inventory.Inventory{}, nil
	}
	inv, err := inventory.Load(o.Inventory)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return inv, nil
}

// selectNodes turns the inventory and --host into the nodes to work on,
// filtered by --limit.
func (f *Fleet) selectNodes() ([]*member.Member, error) {
	var out []*member.Member
	for _, n := range f.inv.Nodes {
		out = append(out, f.member(n))
	}
	for _, h := range f.o.Hosts {
		n, err := ParseHost(h)
		if err != nil {
			return nil, inputErr("--host %q: %v", h, err)
		}
		out = append(out, f.member(n))
	}
	f.candidates = out
	if len(f.o.Limit) > 0 {
		var kept []*member.Member
		for _, m := range out {
			if f.limitKeeps(m) {
				kept = append(kept, m)
			}
		}
		out = kept
	}
	return out, nil
}

// limitKeeps says whether a --limit entry names m: its name, host or
// inventory role.
func (f *Fleet) limitKeeps(m *member.Member) bool {
	for _, l := range f.o.Limit {
		if l = strings.TrimSpace(l); l != "" && (l == m.Name || l == m.Target.Host || (m.Role != "" && l == m.Role)) {
			return true
		}
	}
	return false
}

// CheckLimit refuses --limit entries that name nothing: no inventory or
// --host node by name, host or role, and (after Discover) no swarm member
// by hostname, address or role. An entry silently dropped would leave a
// node the user meant unconfigured. The error lists the valid names and
// the nearest one. Commands with discovery call it after Discover, before
// changing anything; Open calls it otherwise.
func (f *Fleet) CheckLimit() error {
	var bad []string
	var names []string
	for _, m := range f.candidates {
		names = append(names, m.Name)
	}
	for _, s := range f.swarm {
		names = append(names, s.Hostname)
	}
	for _, l := range f.o.Limit {
		l = strings.TrimSpace(l)
		if l == "" || f.limitNamesAny(l) {
			continue
		}
		bad = append(bad, fmt.Sprintf("%q%s", l, suggest.DidYouMean(l, append(names, "manager", "worker"), "%q")))
	}
	if len(bad) == 0 {
		return nil
	}
	valid := "no nodes"
	if len(names) > 0 {
		valid = "node names: " + strings.Join(dedupe(names), ", ")
	}
	what := "the inventory or --host"
	if f.swarm != nil {
		what += " or the swarm"
	}
	return &InputError{
		Err:  fmt.Errorf("%s %s: no node in %s has this name, host or role", f.o.name("limit"), strings.Join(bad, ", "), what),
		Hint: valid + "; roles: manager, worker",
	}
}

// limitNamesAny says whether entry l names a candidate or a swarm member.
func (f *Fleet) limitNamesAny(l string) bool {
	for _, m := range f.candidates {
		if l == m.Name || l == m.Target.Host || (m.Role != "" && l == m.Role) {
			return true
		}
	}
	for _, s := range f.swarm {
		if l == s.Hostname || l == s.Addr || l == s.Role {
			return true
		}
	}
	return false
}

func dedupe(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// checkLocalFiles refuses local files named explicitly that cannot be
// used, before anything is dialled (exit 2, not every node "unreachable"):
// key files (--ssh-key, the inventory's defaults.key and key:), an
// ssh_config given by flag or inventory, and, under the strict policy, a
// known_hosts file given by flag or inventory. All at once.
func (f *Fleet) checkLocalFiles() error {
	var errs []string
	seen := map[string]bool{}
	for _, m := range f.selected {
		for _, k := range m.Target.KeyFiles {
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := readable(k); err != nil {
				errs = append(errs, fmt.Sprintf("%s: key file %s", f.keySource[k], err))
			}
		}
	}
	switch flag, inv := f.o.SSHConfig, f.inv.Defaults.SSHConfig; {
	case flag == "none":
	case flag != "":
		if err := readable(expandHome(flag)); err != nil {
			errs = append(errs, fmt.Sprintf("%s: ssh_config %s", f.o.name("ssh-config"), err))
		}
	case inv != "" && inv != "none":
		if err := readable(f.inv.Resolve(expandHome(inv))); err != nil {
			errs = append(errs, fmt.Sprintf("%s: defaults.ssh_config: %s", f.inv.Path, err))
		}
	}
	if (f.o.HostKeyPolicy == "" || f.o.HostKeyPolicy == nodes.HostKeyStrict) && !f.o.RecordsHostKeys {
		kh, from := f.o.KnownHosts, f.o.name("known-hosts")
		if kh == "" && f.inv.Defaults.KnownHosts != "" {
			kh, from = f.inv.Resolve(expandHome(f.inv.Defaults.KnownHosts)), f.inv.Path+": defaults.known_hosts"
		}
		// known_hosts lines (text or base64: a CI secret) are not a path.
		if kh != "" && !strings.ContainsAny(strings.TrimSpace(kh), " \n") && knownHostsBase64(kh) == "" {
			if err := readable(expandHome(kh)); err != nil {
				errs = append(errs, fmt.Sprintf("%s: known_hosts %s (with --host-key-policy accept-new it is created)", from, err))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &InputError{Err: errors.New(strings.Join(errs, "\n")), Hint: "nothing was dialled; fix the paths above"}
}

// readable is nil when p is a file swarmctl can read, else why not in
// words ("/x: no such file").
func readable(p string) error {
	fh, err := os.Open(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file", p)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: not readable (permission denied)", p)
	case err != nil:
		return fmt.Errorf("%s: %v", p, err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.IsDir() {
		return fmt.Errorf("%s: is a directory", p)
	}
	return nil
}

// member applies precedence: node entry > flags > inventory defaults.
// ssh_config values are applied later by the dialer, below all of these.
func (f *Fleet) member(n inventory.Node) *member.Member {
	d := f.inv.Defaults
	t := nodes.Target{Name: n.DisplayName(), Host: n.Host, Port: n.Port, User: n.User, Sudo: f.o.Sudo}
	if t.User == "" {
		t.User = firstNonEmpty(f.o.User, d.User)
	}
	if t.Port == 0 {
		t.Port = d.Port
	}
	if n.Sudo != nil {
		t.Sudo = *n.Sudo
	} else if d.Sudo != nil && !f.o.SudoSet {
		t.Sudo = *d.Sudo
	}
	key, from := n.Key, fmt.Sprintf("%s:%d: node %q key", f.inv.Path, n.Line, n.DisplayName())
	if key == "" {
		if _, file, _ := f.sshKey(); file != "" {
			key, from = file, f.o.name("ssh-key")
		}
	}
	if key == "" {
		key, from = d.Key, f.inv.Path+": defaults.key"
	}
	if key != "" {
		p := f.inv.Resolve(expandHome(key))
		if from == f.o.name("ssh-key") {
			// A flag is relative to where the user stands.
			p = expandHome(key)
		}
		t.KeyFiles = []string{p}
		if f.keySource != nil && f.keySource[p] == "" {
			f.keySource[p] = from
		}
	}
	return member.New(t.Name, t, n.Role, f.dial)
}

// dial connects to one target with the run's settings.
func (f *Fleet) dial(ctx context.Context, t nodes.Target) (nodes.Host, error) {
	return f.env.Dial(ctx, t, f.dialOpt)
}

// ParseHost parses [user@]host[:port] (IPv6 as [addr]:port), as --host
// and --manager take it.
func ParseHost(s string) (inventory.Node, error) {
	var n inventory.Node
	if at := strings.LastIndex(s, "@"); at >= 0 {
		n.User, s = s[:at], s[at+1:]
		if n.User == "" || strings.ContainsAny(n.User, " \t\n'\"$;`\\@") {
			return n, fmt.Errorf("bad user %q", n.User)
		}
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host = inventory.CanonicalHost(s)
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

// dialOptions builds the transport options from the options and the
// inventory's defaults.
func (f *Fleet) dialOptions() (nodes.DialOptions, func(), error) {
	inv := f.inv
	o := nodes.DialOptions{
		HostKeyPolicy:  f.o.HostKeyPolicy,
		SSHConfigPath:  expandHome(f.o.SSHConfig),
		ConnectTimeout: f.o.ConnectTimeout,
		Bastion:        firstNonEmpty(f.o.Bastion, inv.Defaults.Bastion),
		Warn:           f.env.Stderr,
		Log:            f.env.Log,
	}
	if o.SSHConfigPath == "" && inv.Defaults.SSHConfig != "" {
		o.SSHConfigPath = inv.Resolve(expandHome(inv.Defaults.SSHConfig))
	}
	cleanup := func() {}
	pem, _, ok := f.sshKey()
	if !ok {
		// Describe the value, never quote it: it may be a damaged key.
		return o, cleanup, inputErr("%s: not a readable file and not a private key (PEM or base64)", firstNonEmpty(f.o.SSHKeyName, "--ssh-key"))
	}
	o.KeyPEM = pem
	kh := f.o.KnownHosts
	lines := ""
	switch {
	case kh == "":
	case strings.Contains(strings.TrimSpace(kh), "\n"):
		lines = strings.TrimSpace(kh)
	case isFile(expandHome(kh)):
		// A file, even one whose path holds a space.
	case strings.Contains(strings.TrimSpace(kh), " "):
		lines = strings.TrimSpace(kh)
	default:
		lines = knownHostsBase64(kh)
	}
	switch {
	case lines != "":
		// The value holds known_hosts lines (a CI secret): use a private copy.
		tmp, err := os.CreateTemp("", "swarmctl-known_hosts-*")
		if err != nil {
			return o, cleanup, err
		}
		_, err = tmp.WriteString(lines + "\n")
		tmp.Close()
		if err != nil {
			return o, cleanup, err
		}
		cleanup = func() { os.Remove(tmp.Name()) }
		o.KnownHostsFiles = []string{tmp.Name()}
	case kh != "":
		o.KnownHostsFiles = []string{expandHome(kh)}
	case inv.Defaults.KnownHosts != "":
		o.KnownHostsFiles = []string{inv.Resolve(expandHome(inv.Defaults.KnownHosts))}
	}
	if pp := f.o.SSHPassphrase; pp != "" {
		o.Passphrase = func(string) ([]byte, error) { return []byte(pp), nil }
	} else if f.env.Prompt != nil {
		o.Passphrase = f.env.Prompt
	}
	return o, cleanup, nil
}

// checkOneServerEach refuses a selection that reaches one SSH server twice
// (two aliases with the same ssh_config HostName and Port, or --host
// repeating an inventory node): that machine would be changed by two
// sessions at once. A node whose ssh_config cannot be read is left to the
// dial, which reports it on that node.
func checkOneServerEach(sel []*member.Member, o nodes.DialOptions) error {
	seen := map[string]string{}
	for _, m := range sel {
		ep, err := nodes.Endpoint(o, m.Target)
		if err != nil {
			continue
		}
		prev, ok := seen[ep]
		switch {
		case !ok:
			seen[ep] = m.Name
		case prev == m.Name:
			return inputErr("node %q is selected twice (%s): give it once, in the inventory or with --host", m.Name, ep)
		default:
			return inputErr("nodes %q and %q reach the same SSH server (%s): list each machine once", prev, m.Name, ep)
		}
	}
	return nil
}

// sshKey says what Options.SSHKey holds: the key itself (PEM text, or
// base64 of it), or the name of a key file. ok is false when it is
// neither; the value must then never be printed.
func (f *Fleet) sshKey() (pem []byte, file string, ok bool) {
	if f.o.SSHKey == "" {
		return nil, "", true
	}
	if k, isKey := nodes.KeyMaterial(f.o.SSHKey); isKey {
		return k, "", true
	}
	p := expandHome(f.o.SSHKey)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		// A flag is relative to where the user stands, not to the
		// inventory (whose own key: values are).
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return nil, p, true
	}
	return nil, "", false
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// knownHostsBase64 returns the known_hosts lines s holds base64-encoded
// ("" when s is not that, e.g. a file name).
func knownHostsBase64(s string) string {
	compact := strings.Join(strings.Fields(s), "")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(compact)
		if err != nil {
			continue
		}
		if lines := strings.TrimSpace(string(b)); lines != "" {
			if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(lines)); err == nil {
				return lines
			}
		}
	}
	return ""
}

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
