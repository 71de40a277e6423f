package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every SWARMCTL_* variable the CI examples set is one swarmctl reads: a
// flag's SWARMCTL_<FLAG> or the passphrase. A typo there would be ignored
// silently by the job.
func TestCIExamplesUseRealVariables(t *testing.T) {
	known := map[string]bool{"SWARMCTL_SSH_PASSPHRASE": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { known[EnvName(f.Name)] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	d, _, _ := testDeps(nil)
	walk(NewRootCmd(d))
	files, _ := filepath.Glob("../../examples/ci/*.yml")
	if len(files) < 2 {
		t.Fatalf("examples: %v", files)
	}
	re := regexp.MustCompile(`SWARMCTL_[A-Z_]+`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, v := range re.FindAllString(string(b), -1) {
			seen++
			if !known[v] {
				t.Errorf("%s: %s is not a variable swarmctl reads", filepath.Base(f), v)
			}
		}
		if seen == 0 {
			t.Errorf("%s: no SWARMCTL_ variable", f)
		}
	}
}
