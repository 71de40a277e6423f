package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// mirrorsFlag is a repeatable, comma-separated list of mirror URLs. Unlike
// pflag's StringSlice (a CSV reader that keeps only the first line of a
// value), a value with a line break is refused instead of cut short.
type mirrorsFlag struct {
	v       *[]string
	changed bool
}

func (f *mirrorsFlag) Set(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("mirror URL %q contains a line break", s)
	}
	var vals []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			vals = append(vals, p)
		}
	}
	if !f.changed {
		*f.v = vals
	} else {
		*f.v = append(*f.v, vals...)
	}
	f.changed = true
	return nil
}

func (f *mirrorsFlag) Type() string   { return "strings" }
func (f *mirrorsFlag) String() string { return "[" + strings.Join(*f.v, ",") + "]" }

// mirrorsVar defines a --mirror style flag.
func mirrorsVar(fs *pflag.FlagSet, p *[]string, name, usage string) {
	fs.Var(&mirrorsFlag{v: p}, name, usage)
	fs.Lookup(name).DefValue = "" // no "(default [])" in help
}

// listFlag is a repeatable, comma-separated list (--host, --limit) that,
// like mirrorsFlag, refuses a value with a line break instead of keeping
// its first line as pflag's StringSlice did.
type listFlag struct {
	v       *[]string
	name    string
	changed bool
}

func (f *listFlag) Set(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("--%s %q contains a line break", f.name, s)
	}
	var vals []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			vals = append(vals, p)
		}
	}
	if !f.changed {
		*f.v = vals
	} else {
		*f.v = append(*f.v, vals...)
	}
	f.changed = true
	return nil
}

func (f *listFlag) Type() string   { return "strings" }
func (f *listFlag) String() string { return "[" + strings.Join(*f.v, ",") + "]" }

// listVar defines a --host style list flag.
func listVar(fs *pflag.FlagSet, p *[]string, name, usage string) {
	fs.Var(&listFlag{v: p, name: name}, name, usage)
}
