package cli

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/status"
)

// readmeSections splits README.md at its "### " headings.
func readmeSections(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var head string
	var body strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#### ") || strings.HasPrefix(l, "### ") || strings.HasPrefix(l, "## ") {
			if head != "" {
				out[head] = body.String()
			}
			head, body = strings.TrimSpace(strings.TrimLeft(l, "# ")), strings.Builder{}
			continue
		}
		body.WriteString(l + "\n")
	}
	out[head] = body.String()
	return out
}

var flagToken = regexp.MustCompile("`(-[a-z], )?--([a-z][a-z-]*)")

// documentedCommands are the commands README.md documents in a section
// of their own (the others are groups, cobra's help and completion's
// per-shell children).
func documentedCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range allCommands(root) {
		if c == root || c.HasAvailableSubCommands() && c.Name() != "completion" || c.Parent() != nil && c.Parent().Name() == "completion" {
			continue
		}
		out = append(out, c)
	}
	return out
}

// flagsParagraph is the "Flags: ..." paragraph of a section.
func flagsParagraph(section string) (string, bool) {
	i := strings.Index(section, "\nFlags: ")
	if i < 0 && !strings.HasPrefix(section, "Flags: ") {
		return "", false
	}
	p := section[i+1:]
	if j := strings.Index(p, "\n\n"); j >= 0 {
		p = p[:j]
	}
	return p, true
}

// README.md and --help say the same things: every command has a section
// whose Flags: paragraph names exactly the flags its --help lists, and
// the global flags table lists exactly the global flags.
func TestReadmeMatchesHelp(t *testing.T) {
	sections := readmeSections(t)
	d, _, _ := testDeps(nil)
	root := NewRootCmd(d)
	var stack StackFlags
	sfs := pflag.NewFlagSet("stack", pflag.ContinueOnError)
	stack.addFlags(sfs)
	for _, c := range documentedCommands(root) {
		name := "`swarmctl " + commandName(c) + "`"
		sec, ok := sections[name]
		if !ok {
			t.Errorf("README.md has no section %q", name)
			continue
		}
		want := map[string]bool{}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !f.Hidden {
				want[f.Name] = true
			}
		})
		para, ok := flagsParagraph(sec)
		if !ok {
			if len(want) > 0 {
				t.Errorf("%s: no Flags: paragraph; --help lists %v", name, keys(want))
			}
			continue
		}
		got := map[string]bool{}
		for _, m := range flagToken.FindAllStringSubmatch(para, -1) {
			got[m[2]] = true
		}
		if strings.Contains(para, "the stack flags") {
			sfs.VisitAll(func(f *pflag.Flag) { got[f.Name] = true })
		}
		if !sameSet(got, want) {
			t.Errorf("%s: README names %v, --help lists %v", name, keys(got), keys(want))
		}
	}

	table := map[string]bool{}
	for _, l := range strings.Split(sections["Global flags"], "\n") {
		if m := regexp.MustCompile("^\\| `(-[a-z], )?--([a-z-]+)").FindStringSubmatch(l); m != nil {
			table[m[2]] = true
		}
	}
	want := map[string]bool{}
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) { want[f.Name] = true })
	if !sameSet(table, want) {
		t.Errorf("README's global flags %v, swarmctl --help %v", keys(table), keys(want))
	}
}

// README.md documents every command's JSON document: the header, then
// exactly the fields the command prints.
func TestReadmeDocumentsEveryJSONDocument(t *testing.T) {
	sec := readmeSections(t)["JSON output"]
	header := jsonFields(reflect.TypeOf(report.Header{}))
	if !strings.Contains(sec, "`{"+strings.Join(header, ", ")+"}`") {
		// The header line names the fields in order, without their inner shape.
		line := regexp.MustCompile("`\\{schema_version[^`]*\\}`").FindString(sec)
		if got := topLevel(strings.Trim(line, "`")); strings.Join(got, ",") != strings.Join(header, ",") {
			t.Errorf("README's header %v, report.Header %v", got, header)
		}
	}
	docs := map[string]any{
		"nodes list": NodesListResult{}, "nodes configure": NodesConfigureResult{}, "mirror status": status.Report{},
		"mirror install": MirrorInstallResult{}, "mirror render": MirrorRenderResult{}, "mirror uninstall": MirrorUninstallResult{},
		"apply": ApplyResult{}, "init": InitResult{}, "doctor": DoctorResult{}, "version": VersionResult{},
		"mirror warm": MirrorWarmResult{}, "mirror prove": MirrorProveResult{},
	}
	d, _, _ := testDeps(nil)
	for _, c := range documentedCommands(NewRootCmd(d)) {
		if _, ok := docs[commandName(c)]; !ok && c.Name() != "completion" {
			t.Errorf("no JSON document listed in this test for %q", commandName(c))
		}
	}
	for name, doc := range docs {
		re := regexp.MustCompile("(?s)- `" + regexp.QuoteMeta(name) + "`: header \\+ `(\\{.*?\\})`")
		m := re.FindStringSubmatch(sec)
		if m == nil {
			t.Errorf("README.md does not document %q's JSON (- `%s`: header + `{...}`)", name, name)
			continue
		}
		got := map[string]bool{}
		for _, f := range topLevel(m[1]) {
			got[f] = true
		}
		want := map[string]bool{}
		for _, f := range jsonFields(reflect.TypeOf(doc)) {
			want[f] = true
		}
		for _, h := range header {
			delete(want, h)
		}
		if !sameSet(got, want) {
			t.Errorf("%s: README names %v, the document has %v", name, keys(got), keys(want))
		}
	}
}

// jsonFields are a struct's JSON names, embedded structs inlined.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// topLevel names the fields of "{a, b: {x, y}, c: [{z}], d (note)}".
func topLevel(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	var out []string
	depth, start := 0, 0
	flush := func(part string) {
		part = strings.TrimSpace(part)
		if m := regexp.MustCompile(`^[a-z_]+`).FindString(part); m != "" {
			out = append(out, m)
		}
	}
	for i, r := range s {
		switch r {
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		case ',':
			if depth == 0 {
				flush(s[start:i])
				start = i + 1
			}
		}
	}
	flush(s[start:])
	return out
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
