package cli

import (
	"github.com/spf13/pflag"
)

// aliasOf marks a deprecated spelling (its annotation names the flag it
// stands for).
const aliasOf = "swarmctl-alias-of"

// deprecatedAlias adds old as a deprecated spelling of the flag name,
// sharing its value: scripts keep working for one release, help does not
// show it, a warning on stderr names the new spelling (deprecationWarnings),
// and SWARMCTL_<OLD> still works (with the same warning; the new name's
// variable wins). pflag's own deprecation notice is not used: cobra prints
// it on stdout, where it would spoil a JSON document.
func deprecatedAlias(fs *pflag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	fs.AddFlag(&pflag.Flag{Name: old, Usage: f.Usage, Value: f.Value, DefValue: f.DefValue, NoOptDefVal: f.NoOptDefVal,
		Hidden: true, Annotations: map[string][]string{aliasOf: {name}}})
}

// deprecationWarnings names the deprecated spellings used on the command
// line.
func deprecationWarnings(fs *pflag.FlagSet) []string {
	var out []string
	fs.Visit(func(f *pflag.Flag) {
		if t := aliasTarget(f); t != "" {
			out = append(out, "--"+f.Name+" is deprecated, use --"+t+" instead (the old spelling goes in the next release)")
		}
	})
	return out
}

// aliasTarget is the flag a deprecated spelling stands for ("" when f is
// not one).
func aliasTarget(f *pflag.Flag) string {
	if t := f.Annotations[aliasOf]; len(t) > 0 {
		return t[0]
	}
	return ""
}
