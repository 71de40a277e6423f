package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/swarmctl/swarmctl/internal/inventory"
)

// completionCommand sets up cobra's `completion` command (examples, no
// global flags in its help) and the dynamic completion of flag values:
// --limit, --host and --manager from the inventory, the fixed choices of
// -o, --host-key-policy, --apply, --traefik and --publish-mode.
func completionCommand(root *cobra.Command, d *Deps) {
	cp := completer{d}
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Annotations = map[string]string{globalsAnnotation: globalsNone}
		c.Example = `  source <(swarmctl completion bash)
  swarmctl completion zsh > "${fpath[1]}/_swarmctl"
  swarmctl completion fish > ~/.config/fish/completions/swarmctl.fish`
		for _, sh := range c.Commands() {
			sh.Example = "  swarmctl completion " + sh.Name() + " --help"
		}
	}
	for _, c := range allCommandsOf(root) {
		cp.register(c)
	}
}

func allCommandsOf(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, allCommandsOf(sub)...)
	}
	return out
}

// completer completes flag values from the inventory.
type completer struct{ d *Deps }

// register adds value completion to the flags c defines.
func (cp completer) register(c *cobra.Command) {
	fs := c.LocalNonPersistentFlags()
	if c == c.Root() {
		fs = c.PersistentFlags()
	}
	for name, choices := range flagChoices {
		if fs.Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, fixed(choices))
		}
	}
	if fs.Lookup("limit") != nil {
		_ = c.RegisterFlagCompletionFunc("limit", cp.limit)
	}
	if fs.Lookup("host") != nil {
		_ = c.RegisterFlagCompletionFunc("host", cp.hosts)
	}
	if fs.Lookup("manager") != nil {
		_ = c.RegisterFlagCompletionFunc("manager", cp.managers)
	}
	for _, dir := range []string{"out-dir", "templates"} {
		if fs.Lookup(dir) != nil {
			_ = c.MarkFlagDirname(dir)
		}
	}
}

func fixed(choices []string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return choices, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionInventory is the inventory the command line names (-i, else
// SWARMCTL_INVENTORY, else swarmctl.yaml), nil when it cannot be read:
// completion never prints an error.
func (cp completer) inventory(cmd *cobra.Command) *inventory.Inventory {
	path := defaultInventory
	if f := cmd.Flag("inventory"); f != nil && f.Changed {
		path = f.Value.String()
	} else if f != nil {
		if v := cp.d.Getenv(EnvName("inventory")); v != "" {
			path = v
		}
	}
	inv, err := inventory.Load(expandHome(path))
	if err != nil {
		return nil
	}
	return inv
}

// completeLimit offers node names, hosts and the roles, after the entries
// already typed (--limit m1,<TAB>).
func (cp completer) limit(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	done, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	typed := map[string]bool{}
	for _, t := range strings.Split(done, ",") {
		typed[t] = true
	}
	var out []string
	add := func(s, desc string) {
		if s != "" && !typed[s] && strings.HasPrefix(s, last) {
			out = append(out, done+s+"\t"+desc)
		}
	}
	add("manager", "role")
	add("worker", "role")
	if inv := cp.inventory(cmd); inv != nil {
		for _, n := range inv.Nodes {
			add(n.DisplayName(), nodeDesc(n))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeHosts offers the inventory's hosts.
func (cp completer) hosts(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	if inv := cp.inventory(cmd); inv != nil {
		for _, n := range inv.Nodes {
			if strings.HasPrefix(n.Host, toComplete) {
				out = append(out, n.Host+"\t"+n.DisplayName())
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeManagers offers the inventory's nodes, managers first.
func (cp completer) managers(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var managers, others []string
	if inv := cp.inventory(cmd); inv != nil {
		for _, n := range inv.Nodes {
			if !strings.HasPrefix(n.DisplayName(), toComplete) {
				continue
			}
			if n.Role == "manager" {
				managers = append(managers, n.DisplayName()+"\t"+nodeDesc(n))
			} else {
				others = append(others, n.DisplayName()+"\t"+nodeDesc(n))
			}
		}
	}
	return append(managers, others...), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

func nodeDesc(n inventory.Node) string {
	if n.Role != "" {
		return n.Role + " " + n.Host
	}
	return n.Host
}
