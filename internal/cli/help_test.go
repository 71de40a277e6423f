package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// allCommands walks the tree (without cobra's help command).
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if sub.Name() != "help" && !strings.HasPrefix(sub.Name(), "__") {
			out = append(out, allCommands(sub)...)
		}
	}
	return out
}

// Every command's help has examples.
func TestEveryCommandHasExamples(t *testing.T) {
	d, _, _ := testDeps(nil)
	for _, c := range allCommands(NewRootCmd(d)) {
		if !c.HasExample() {
			t.Errorf("%q has no examples", c.CommandPath())
		}
		for _, l := range strings.Split(c.Example, "\n") {
			if l != "" && !strings.HasPrefix(l, "  ") {
				t.Errorf("%q: example line not indented: %q", c.CommandPath(), l)
			}
		}
	}
}

// Flag descriptions are short (details live in the README): at most 80
// characters as written, before the "(mirror.x)" and "(env X)" notes the
// code appends.
func TestFlagDescriptionsAreShort(t *testing.T) {
	d, _, _ := testDeps(nil)
	notes := regexp.MustCompile(`(; mirror\.[a-z_]+\)| \(mirror\.[a-z_]+\)| \(env SWARMCTL_[A-Z_]+\))`)
	longest := 0
	for _, c := range allCommands(NewRootCmd(d)) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			u := notes.ReplaceAllString(f.Usage, "")
			longest = max(longest, len(u))
			if len(u) > 80 {
				t.Errorf("%s --%s: %d characters: %q", c.CommandPath(), f.Name, len(u), u)
			}
		})
	}
	t.Logf("longest flag description: %d characters", longest)
}

// version's help shows only the output flags; completion's none; other
// commands list the global flags on one line, not in full.
func TestGlobalFlagsShownOnce(t *testing.T) {
	help := func(args ...string) string {
		d, out, _ := testDeps(nil)
		Run(context.Background(), d, append(args, "--help"))
		return out.String()
	}
	v := help("version")
	if strings.Contains(v, "--ssh-key") || !strings.Contains(v, "-o/--output") {
		t.Errorf("version --help:\n%s", v)
	}
	if c := help("completion", "bash"); strings.Contains(c, "--ssh-key") || strings.Contains(c, "Global flags") {
		t.Errorf("completion bash --help:\n%s", c)
	}
	if n := strings.Count(help(), "--ssh-key"); n != 1 {
		t.Errorf("root help names --ssh-key %d times", n)
	}
}
