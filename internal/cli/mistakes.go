package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/suggest"
)

// flagChoices are the fixed values of the flags that take one word: the
// messages name them and shell completion offers them.
var flagChoices = map[string][]string{
	"output":          {"text", "json"},
	"host-key-policy": {"strict", "accept-new", "insecure"},
	"apply":           {"auto", "reload", "restart", "none"},
	"traefik":         {"auto", "v1", "v2", "v3", "none"},
	"publish-mode":    {"ingress", "host"},
}

// wants says, in words, what a flag accepts (no Go parser text).
func wants(f *pflag.Flag) string {
	if c, ok := flagChoices[f.Name]; ok {
		return "want " + orList(c)
	}
	switch f.Value.Type() {
	case "bool":
		return "want true or false"
	case "int":
		return "want a whole number, like " + nonZero(f.DefValue, "16")
	case "duration":
		return "want a duration like 30s, 2m or 1h30m"
	case "stringArray", "strings":
		return "want a comma-separated list"
	}
	return "not a valid value"
}

func nonZero(s, alt string) string {
	if s == "" || s == "0" {
		return alt
	}
	return s
}

// orList is "a, b or c".
func orList(ws []string) string {
	if len(ws) < 2 {
		return strings.Join(ws, "")
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " or " + ws[len(ws)-1]
}

// valueProblem is why a flag refused a value: our own flags' words, or,
// for a Go parser's message, what the flag accepts.
func valueProblem(f *pflag.Flag, cause error) string {
	if cause == nil {
		return wants(f)
	}
	msg := cause.Error()
	if strings.Contains(msg, "strconv.") || strings.HasPrefix(msg, "time: ") || strings.Contains(msg, "parse error on line") {
		return wants(f)
	}
	return msg
}

// flagError rewrites pflag's errors for people: an unknown flag gets the
// nearest real one, a bad value what the flag accepts. Exit 2.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	var ie *pflag.InvalidValueError
	var re *pflag.ValueRequiredError
	switch {
	case errors.As(err, &ne):
		name := ne.GetSpecifiedName()
		if sh := ne.GetSpecifiedShortnames(); sh != "" {
			// -x, or a long flag typed with one dash ("-limit"), which
			// reads as a group of shorthands.
			msg := fmt.Sprintf("unknown shorthand flag -%s in -%s", name, sh)
			if c := suggest.Closest(sh, flagNames(cmd)); c != "" && len(sh) > 1 {
				msg += " (did you mean --" + c + "?)"
			}
			return withHint(usageErr("%s", msg), "see '"+cmd.CommandPath()+" --help'")
		}
		return withHint(usageErr("unknown flag --%s for %q%s", name, cmd.CommandPath(), suggest.DidYouMean(name, flagNames(cmd), "--%s")),
			"see '"+cmd.CommandPath()+" --help'")
	case errors.As(err, &ie):
		f := ie.GetFlag()
		return withHint(usageErr("--%s %q: %s", f.Name, ie.GetValue(), valueProblem(f, ie.Unwrap())), "see '"+cmd.CommandPath()+" --help'")
	case errors.As(err, &re):
		f := re.GetFlag()
		return withHint(usageErr("--%s needs a value: %s", f.Name, wants(f)), "see '"+cmd.CommandPath()+" --help'")
	}
	return withHint(usageErr("%v", err), "see '"+cmd.CommandPath()+" --help'")
}

// flagNames are the flags cmd accepts (its own and inherited), not hidden
// ones (deprecated spellings are not suggested).
func flagNames(cmd *cobra.Command) []string {
	var out []string
	seen := map[string]bool{}
	add := func(f *pflag.Flag) {
		if !f.Hidden && f.Deprecated == "" && !seen[f.Name] {
			seen[f.Name] = true
			out = append(out, f.Name)
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	sort.Strings(out)
	return out
}

// subcommandArgs refuses an argument that is not a subcommand, naming the
// nearest one (exit 2): `swarmctl nodes lst`.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return withHint(usageErr("unknown command %q for %q%s", args[0], cmd.CommandPath(), suggest.DidYouMean(args[0], names, "%q")),
		"see '"+cmd.CommandPath()+" --help'")
}

// groupCommand makes a command that only holds subcommands print its help
// when called alone and refuse anything else.
func groupCommand(c *cobra.Command) *cobra.Command {
	c.Args = subcommandArgs
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return c
}
