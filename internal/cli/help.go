package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Which global flags a command uses: all of them (the default), only the
// output ones (version), or none (completion). The usage text lists the
// global flags in full once, on `swarmctl --help`; a subcommand names the
// ones it uses on one line.
const (
	globalsAnnotation = "swarmctl-globals"
	globalsOutput     = "output"
	globalsNone       = "none"
)

// outputGlobals are the global flags about output.
var outputGlobals = map[string]bool{"output": true, "output-file": true, "no-color": true}

// usage prints c's usage: how to call it, examples, subcommands, its own
// flags, the global flags it uses (in full only on the root), exit codes.
func usage(c *cobra.Command) error {
	w := c.OutOrStderr()
	fmt.Fprint(w, "Usage:")
	if !c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\n  %s", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\n  %s [command]", c.CommandPath())
	}
	fmt.Fprintln(w)
	if c.HasExample() {
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintln(w, "\nCommands:")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-*s %s\n", c.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if !c.HasParent() {
		fmt.Fprintf(w, "\nGlobal flags (every command; each also SWARMCTL_<FLAG>):\n%s", flagUsages(c.LocalFlags()))
	} else {
		if u := flagUsages(c.LocalFlags()); u != "" {
			fmt.Fprintf(w, "\nFlags:\n%s", u)
		}
		if g := globalsUsed(c); len(g) > 0 && !c.HasAvailableSubCommands() {
			fmt.Fprintf(w, "\nGlobal flags (details: %s --help):\n%s\n", c.Root().Name(), wrap(strings.Join(g, " "), 76, "  "))
		}
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nUse \"%s [command] --help\" for more about a command.\n", c.CommandPath())
	}
	if (!c.HasParent() || !c.HasAvailableSubCommands()) && c.Annotations[globalsAnnotation] == "" {
		fmt.Fprintf(w, "\n%s\n", exitCodesHelp)
	}
	return nil
}

// globalsUsed names the global flags c uses, as "-i/--inventory".
func globalsUsed(c *cobra.Command) []string {
	mode := ""
	for p := c; p != nil; p = p.Parent() {
		if m := p.Annotations[globalsAnnotation]; m != "" {
			mode = m
			break
		}
	}
	if mode == globalsNone {
		return nil
	}
	var out []string
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" || (mode == globalsOutput && !outputGlobals[f.Name]) {
			return
		}
		if f.Shorthand != "" {
			out = append(out, "-"+f.Shorthand+"/--"+f.Name)
		} else {
			out = append(out, "--"+f.Name)
		}
	})
	return out
}

// flagUsages is pflag's table without the help flag.
func flagUsages(fs *pflag.FlagSet) string {
	shown := pflag.NewFlagSet("", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			shown.AddFlag(f)
		}
	})
	return shown.FlagUsagesWrapped(0)
}

// wrap breaks words into lines of at most width, each with indent.
func wrap(s string, width int, indent string) string {
	var lines []string
	line := indent
	for _, word := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}

// setUsage installs the usage printer on root (inherited by every
// command).
func setUsage(root *cobra.Command) {
	root.SetUsageFunc(usage)
	root.SetHelpTemplate(`{{with (or .Long .Short)}}{{. | trimTrailingWhitespaces}}

{{end}}{{if or .Runnable .HasSubCommands}}{{.UsageString}}{{end}}`)
}
