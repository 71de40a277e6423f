package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/templates"
)

// StackFlags are the flags that set the mirror settings: one per field of
// inventory.Mirror with a flag tag, made from the declaration (addFlags),
// plus --templates. Each defaults to the inventory's mirror: key of the
// same name; a flag the user gives (or its SWARMCTL_ variable) wins.
type StackFlags struct {
	Templates string

	// given holds the values of the flags the user gave, set names them.
	given inventory.Mirror
	set   map[string]bool
}

func (f *StackFlags) addFlags(fs *pflag.FlagSet) {
	f.set = map[string]bool{}
	defaults := reflect.ValueOf(stack.DefaultValues().Mirror)
	given := reflect.ValueOf(&f.given).Elem()
	for _, mf := range inventory.MirrorFields() {
		if mf.Flag == "" {
			continue
		}
		field := given.Field(mf.Index)
		def := defaults.Field(mf.Index)
		switch field.Kind() {
		case reflect.Int:
			field.Set(def) // numbers show their default in --help
		case reflect.Pointer:
			field.Set(reflect.New(field.Type().Elem()))
			field.Elem().Set(def.Elem())
		}
		usage := strings.ReplaceAll(mf.Usage, "{default}", fmt.Sprint(def.Interface()))
		if strings.HasSuffix(usage, ")") {
			usage = strings.TrimSuffix(usage, ")") + "; mirror." + mf.Key + ")"
		} else {
			usage += " (mirror." + mf.Key + ")"
		}
		fl := fs.VarPF(&mirrorFlag{name: mf.Flag, field: field, set: f.set}, mf.Flag, "", usage)
		if field.Kind() == reflect.Pointer {
			fl.NoOptDefVal = "true"
		}
		if field.Kind() == reflect.String && def.String() != "" {
			fl.DefValue = def.String() // help shows the default (the field stays unset)
		}
	}
	fs.StringVar(&f.Templates, "templates", "", "`directory` with replacement stack and registry config templates")
}

// mirrorFlag is one generated flag: Set writes the value into its field of
// StackFlags.given and records that the user gave it.
type mirrorFlag struct {
	name  string
	field reflect.Value
	set   map[string]bool
}

func (m *mirrorFlag) Set(s string) error {
	switch m.field.Kind() {
	case reflect.String:
		m.field.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		m.field.SetInt(int64(n))
	case reflect.Pointer: // *bool
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		m.field.Elem().SetBool(b)
	case reflect.Slice: // repeatable
		if !m.set[m.name] {
			m.field.Set(reflect.MakeSlice(m.field.Type(), 0, 1))
		}
		var elem any = s
		if m.field.Type().Elem() == reflect.TypeOf(inventory.Registry{}) {
			r, err := inventory.ParseRegistryFlag(s)
			if err != nil {
				return err
			}
			elem = r
		}
		m.field.Set(reflect.Append(m.field, reflect.ValueOf(elem)))
	}
	m.set[m.name] = true
	return nil
}

func (m *mirrorFlag) Type() string {
	switch m.field.Kind() {
	case reflect.Int:
		return "int"
	case reflect.Pointer:
		return "bool"
	case reflect.Slice:
		return "stringArray"
	}
	return "string"
}

func (m *mirrorFlag) String() string {
	switch m.field.Kind() {
	case reflect.Pointer:
		return fmt.Sprint(m.field.Elem().Interface())
	case reflect.Slice:
		if m.field.Len() == 0 {
			return ""
		}
		var items []string
		for i := 0; i < m.field.Len(); i++ {
			switch e := m.field.Index(i).Interface().(type) {
			case inventory.Registry:
				items = append(items, e.Registry)
			default:
				items = append(items, fmt.Sprint(e))
			}
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	return fmt.Sprint(m.field.Interface())
}

// IsBoolFlag lets a bool flag be given without a value.
func (m *mirrorFlag) IsBoolFlag() bool { return m.field.Kind() == reflect.Pointer }

// mirrorSection is the inventory's mirror section with the flags the user
// gave laid over it, paths resolved against the inventory's directory.
func (f *StackFlags) mirrorSection(inv *inventory.Inventory) (inventory.Mirror, error) {
	m := inventoryMirror(inv)
	invRegs := m.Registries
	// A setting a flag gives is not at any line of the inventory.
	m.Lines = map[string]int{}
	for k, l := range inv.Mirror.Lines {
		if !f.set[inventory.MirrorFlag(k)] {
			m.Lines[k] = l
		}
	}
	if f.set["publish"] && (f.given.Publish < 0 || f.given.Publish > 65535) {
		return m, usageErr("--publish %d: want a port 1-65535, or 0 to not publish", f.given.Publish)
	}
	if f.set["replicas"] && f.given.Replicas < 1 {
		return m, usageErr("--replicas %d: want at least 1", f.given.Replicas)
	}
	dst, src := reflect.ValueOf(&m).Elem(), reflect.ValueOf(f.given)
	for _, mf := range inventory.MirrorFields() {
		if mf.Flag != "" && f.set[mf.Flag] {
			dst.Field(mf.Index).Set(src.Field(mf.Index))
		}
	}
	m.Constraints = append([]string(nil), m.Constraints...)
	m.ReplicaNodes = append([]string(nil), m.ReplicaNodes...)
	m.CAFile, m.TLSCert, m.TLSKey = expandHome(m.CAFile), expandHome(m.TLSCert), expandHome(m.TLSKey)
	if f.set["registry"] {
		regs, err := inventory.OverlayRegistries(invRegs, f.given.Registries)
		if err != nil {
			return m, usageErr("%v", err)
		}
		m.Registries = regs
	}
	if m.DeleteEnabled != nil {
		d := *m.DeleteEnabled
		m.DeleteEnabled = &d
	}
	if f.set["publish"] {
		m.PublishSet = true
	}
	// A password source given on the command line replaces the inventory's.
	if f.set["upstream-password-file"] || f.set["upstream-password-env"] {
		m.UpstreamPasswordFile = expandHome(f.given.UpstreamPasswordFile)
		m.UpstreamPasswordEnv = f.given.UpstreamPasswordEnv
	}
	return m, nil
}

// inventoryMirror is the inventory's mirror section with its file paths
// resolved against the inventory's directory (~ expanded) and its slices
// copied.
func inventoryMirror(inv *inventory.Inventory) inventory.Mirror {
	m := inv.Mirror
	m.UpstreamPasswordFile = inv.Resolve(expandHome(m.UpstreamPasswordFile))
	m.CAFile = inv.Resolve(expandHome(m.CAFile))
	m.TLSCert = inv.Resolve(expandHome(m.TLSCert))
	m.TLSKey = inv.Resolve(expandHome(m.TLSKey))
	m.Registries = append([]inventory.Registry(nil), m.Registries...)
	for i := range m.Registries {
		m.Registries[i].PasswordFile = inv.Resolve(expandHome(m.Registries[i].PasswordFile))
	}
	m.Constraints = append([]string(nil), m.Constraints...)
	m.ReplicaNodes = append([]string(nil), m.ReplicaNodes...)
	return m
}

// RegistryFlag is --registry for the commands without the stack flags
// (nodes configure, mirror status): the same flag, help and overlay as
// the stack flags' --registry.
type RegistryFlag struct {
	regs []inventory.Registry
	set  bool
}

func (r *RegistryFlag) addFlag(fs *pflag.FlagSet) {
	usage := ""
	for _, mf := range inventory.MirrorFields() {
		if mf.Key == "registries" {
			usage = mf.Usage + " (mirror.registries)"
		}
	}
	fs.Var(r, "registry", usage)
}

func (r *RegistryFlag) Set(s string) error {
	reg, err := inventory.ParseRegistryFlag(s)
	if err != nil {
		return err
	}
	r.regs, r.set = append(r.regs, reg), true
	return nil
}

func (r *RegistryFlag) Type() string { return "stringArray" }

func (r *RegistryFlag) String() string {
	var names []string
	for _, reg := range r.regs {
		names = append(names, reg.Registry)
	}
	if len(names) == 0 {
		return ""
	}
	return "[" + strings.Join(names, ",") + "]"
}

// mirrorValues is the inventory's mirror section with --registry laid
// over it, resolved (passwords, CA and certificate files read), defaulted
// and validated: what stack.Values.Endpoints needs. Problems are usage
// errors (exit 2) listing each with its file:line.
func (r *RegistryFlag) mirrorValues(inv *inventory.Inventory) (stack.Values, error) {
	m := inventoryMirror(inv)
	if r.set {
		regs, err := inventory.OverlayRegistries(m.Registries, r.regs)
		if err != nil {
			return stack.Values{}, usageErr("%v", err)
		}
		m.Registries = regs
	}
	v, err := stack.Resolve(m, inv.Nodes)
	if err != nil {
		return v, usageErr("%s", listErrors(stack.Redact(err.Error(), secretsOf(v))))
	}
	return v, nil
}

// templatesFS is the bundled templates, or --templates DIR.
func (f *StackFlags) templatesFS() (fs.FS, error) {
	if f.Templates == "" {
		return templates.FS, nil
	}
	st, err := os.Stat(f.Templates)
	if err != nil {
		return nil, usageErr("--templates: %v", err)
	}
	if !st.IsDir() {
		return nil, usageErr("--templates %s: not a directory", f.Templates)
	}
	return os.DirFS(f.Templates), nil
}

// preparedStack is the stack's values from the inventory and the flags,
// validated, with the templates to render them with. With traefik auto it
// is rendered only once a manager said which Traefik runs (resolve).
type preparedStack struct {
	v   stack.Values
	tfs fs.FS
	// warnings to show once (an explicitly chosen Traefik v1).
	warnings []string
}

// v1EOL is said once when Traefik v1 is chosen explicitly.
const v1EOL = "Traefik v1 is end of life (since 2021-12-31): its labels are kept for the recipe's setups; Traefik v2/v3 take mirror.traefik: v3 (or auto)"

// prepare resolves and validates the stack's values. Any problem is a
// usage error (exit 2): nothing has been touched yet.
func (f *StackFlags) prepare(inv *inventory.Inventory) (preparedStack, error) {
	m, err := f.mirrorSection(inv)
	if err != nil {
		return preparedStack{}, err
	}
	v, err := stack.FromInventory(m, inv.Nodes)
	if err != nil {
		return preparedStack{}, usageErr("%s", listErrors(err.Error()))
	}
	tfs, err := f.templatesFS()
	if err != nil {
		return preparedStack{}, err
	}
	p := preparedStack{v: v, tfs: tfs}
	check := v
	check.Defaults()
	if err := check.Validate(); err != nil {
		return p, usageErr("%s", listErrors(stack.Redact(err.Error(), secretsOf(v))))
	}
	if check.Traefik != stack.TraefikAuto {
		if _, err := p.render(v); err != nil { // template errors, before any node
			return p, err
		}
	}
	if v.Traefik == stack.TraefikV1 {
		p.warnings = append(p.warnings, v1EOL)
	}
	return p, nil
}

// auto reports whether the Traefik labels are decided through a manager.
func (p preparedStack) auto() bool {
	return p.v.Traefik == "" || p.v.Traefik == stack.TraefikAuto
}

// render renders v (Traefik resolved) with the prepared templates.
func (p preparedStack) render(v stack.Values) (stack.Rendered, error) {
	r, err := stack.Render(p.tfs, v)
	if err != nil {
		return stack.Rendered{}, usageErr("%s", listErrors(stack.Redact(err.Error(), secretsOf(v))))
	}
	return r, nil
}

// resolve decides traefik auto through the manager h (stack.ResolveTraefik:
// the deployed stack's labels, else the Traefik the swarm runs) and
// renders. The decision is nil when Traefik was not auto.
func (p preparedStack) resolve(ctx context.Context, h nodes.Host) (stack.Rendered, *stack.TraefikDecision, error) {
	v := p.v
	if p.auto() {
		v.Traefik = stack.TraefikAuto
	}
	v, d, err := stack.ResolveTraefik(ctx, h, v)
	if err != nil {
		return stack.Rendered{}, nil, err
	}
	r, err := p.render(v)
	return r, d, err
}

// local resolves traefik auto without asking the swarm (mirror render
// touches no node): no labels when a port is published, as when no
// Traefik runs; v3 labels when nothing is, as Traefik is then the only
// way in. The note says so.
func (p preparedStack) local() (stack.Rendered, string, error) {
	v := p.v
	note := ""
	if p.auto() {
		v.Traefik = stack.TraefikNone
		note = "traefik is auto, decided at install time through a manager; render asks no node, so it shows the files as when no Traefik runs (no labels, port published); pass --traefik v3 to see labels"
		if v.Publish == 0 {
			v.Traefik = stack.TraefikV3
			note = "traefik is auto, decided at install time through a manager; render asks no node, and with nothing published it shows Traefik v3 labels; pass --traefik to choose"
		}
	}
	r, err := p.render(v)
	return r, note, err
}

// render is prepare, then local: the files as mirror render shows them.
func (f *StackFlags) render(inv *inventory.Inventory) (stack.Rendered, error) {
	p, err := f.prepare(inv)
	if err != nil {
		return stack.Rendered{}, err
	}
	r, _, err := p.local()
	return r, err
}

// values resolves and validates only what removing a stack needs: its name
// and paths (no FQDN, no password).
func (f *StackFlags) values(inv *inventory.Inventory) (stack.Values, error) {
	m, err := f.mirrorSection(inv)
	if err != nil {
		return stack.Values{}, err
	}
	// Neither credentials nor certificates are read to remove a stack.
	m.UpstreamPasswordFile, m.UpstreamPasswordEnv, m.UpstreamUsername = "", "", ""
	m.CAFile, m.TLSCert, m.TLSKey = "", "", ""
	for i := range m.Registries {
		m.Registries[i].PasswordFile, m.Registries[i].PasswordEnv, m.Registries[i].Username = "", "", ""
	}
	v, err := stack.FromInventory(m, inv.Nodes)
	if err != nil {
		return stack.Values{}, usageErr("%v", err)
	}
	v.Defaults()
	var msgs []string
	for _, e := range unjoin(v.Validate()) {
		var fe *stack.FieldError
		if errors.As(e, &fe) {
			switch {
			case fe.Field == "stack", fe.Field == "stack_file", fe.Field == "config_file", fe.Field == "data_dir",
				fe.Field == "replica_nodes", strings.HasPrefix(fe.Field, "registries"):
				msgs = append(msgs, fe.Error())
			}
		}
	}
	if len(msgs) > 0 {
		return v, usageErr("%s", listErrors(strings.Join(msgs, "\n")))
	}
	return v, nil
}

// secretsOf lists every upstream password of v.
func secretsOf(v stack.Values) []string {
	var out []string
	if v.UpstreamPassword != "" {
		out = append(out, v.UpstreamPassword)
	}
	for _, p := range v.Passwords {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// listErrors formats several problems (one per line) under one heading.
func listErrors(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	if len(lines) == 1 {
		return "invalid mirror settings: " + lines[0]
	}
	return fmt.Sprintf("invalid mirror settings (%d problems):\n  %s", len(lines), strings.Join(lines, "\n  "))
}
