package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/swarmctl/swarmctl/internal/suggest"
)

// Error is a mistake in an inventory file, located by file and line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one inventory, in file order: a run
// reports them all at once, not one per run.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "  " + e.Error()
	}
	return fmt.Sprintf("%s: %d problems:\n%s", es[0].File, len(es), strings.Join(lines, "\n"))
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// problems collects an inventory's errors.
type problems struct {
	path string
	errs Errors
}

func (p *problems) add(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{p.path, line, fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	return p.errs
}

// Load reads and validates an inventory file.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Parse(path, data)
}

// topKeys are the inventory's top-level keys.
var topKeys = []string{"defaults", "mirror", "nodes"}

// Parse validates data as an inventory; path is used in error messages.
// Every problem is reported (as Errors), each at its line.
func Parse(path string, data []byte) (*Inventory, error) {
	inv := &Inventory{Path: path}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return inv, nil
		}
		return nil, Errors(yamlErrors(path, err))
	}
	if len(doc.Content) == 0 {
		return inv, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{path, root.Line, "the inventory must be a mapping with keys defaults, mirror, nodes"}
	}
	p := &problems{path: path}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if first, ok := seen[k.Value]; ok {
			p.add(k.Line, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		var target any
		switch k.Value {
		case "defaults":
			target = &inv.Defaults
		case "mirror":
			target = &inv.Mirror
		case "nodes":
			if v.Kind != yaml.SequenceNode {
				if v.Tag != "!!null" {
					p.add(v.Line, "nodes must be a list")
				}
				continue
			}
			for _, item := range v.Content {
				var n Node
				label := nodeLabel(item)
				decodeStrict(p, item, &n, label)
				n.Line = item.Line
				n.Host = CanonicalHost(n.Host)
				inv.Nodes = append(inv.Nodes, n)
			}
			continue
		default:
			p.add(k.Line, "unknown key %q (want defaults, mirror or nodes)%s", k.Value, suggest.DidYouMean(k.Value, topKeys, "%q"))
			continue
		}
		decodeStrict(p, v, target, k.Value)
	}
	inv.Mirror.Source = path
	if len(p.errs) == 0 {
		inv.validate(root, p)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return inv, nil
}

// nodeLabel names a nodes: entry in messages: node "<name>", else node
// "<host>", else "node".
func nodeLabel(item *yaml.Node) string {
	var name, host string
	if item.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(item.Content); i += 2 {
			switch item.Content[i].Value {
			case "name":
				name = item.Content[i+1].Value
			case "host":
				host = item.Content[i+1].Value
			}
		}
	}
	switch {
	case name != "":
		return fmt.Sprintf("node %q", name)
	case host != "":
		return fmt.Sprintf("node %q", host)
	}
	return "node"
}

// decodeStrict decodes n into v, reporting keys v does not have (with the
// nearest known key) and values of the wrong type, each at its line;
// where names the section in messages.
func decodeStrict(p *problems, n *yaml.Node, v any, where string) {
	checkKeys(p, n, reflect.TypeOf(v).Elem(), where)
	if err := n.Decode(v); err != nil {
		p.errs = append(p.errs, yamlErrors(p.path, err)...)
	}
}

func checkKeys(p *problems, n *yaml.Node, t reflect.Type, where string) {
	if t.Kind() != reflect.Struct {
		return
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			p.add(n.Line, "%s: expected a mapping, got %q", where, n.Value)
		}
		return
	}
	known := map[string]bool{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			known[tag] = true
			names = append(names, tag)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			p.add(k.Line, "%s: unknown key %q%s (known: %s)", where, k.Value, suggest.DidYouMean(k.Value, names, "%q"), strings.Join(names, ", "))
		}
	}
}

// yamlErrors turns a yaml.v3 error ("yaml: line 3: ...", or a TypeError
// with one line per problem) into file:line errors.
func yamlErrors(path string, err error) []*Error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var out []*Error
	for _, msg := range msgs {
		out = append(out, yamlError(path, msg))
	}
	return out
}

func yamlError(path, msg string) *Error {
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ":"); i > 0 {
			if line, e := strconv.Atoi(rest[:i]); e == nil {
				return &Error{path, line, strings.TrimSpace(rest[i+1:])}
			}
		}
	}
	return &Error{File: path, Msg: msg}
}

func (inv *Inventory) validate(root *yaml.Node, p *problems) {
	line := func(key string) int {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				return root.Content[i].Line
			}
		}
		return 0
	}
	var defaults *yaml.Node
	var items []*yaml.Node // the nodes: entries, in inv.Nodes order
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "defaults":
			defaults = root.Content[i+1]
		case "nodes":
			items = root.Content[i+1].Content
		}
	}
	if port := inv.Defaults.Port; port < 0 || port > 65535 {
		p.add(keyLine(defaults, "port", line("defaults")), "defaults.port %d is not a TCP port (1-65535)", port)
	}
	seenHost := map[string]int{}
	seenName := map[string]int{}
	for i, n := range inv.Nodes {
		var item *yaml.Node
		if i < len(items) {
			item = items[i]
		}
		label := fmt.Sprintf("node %q", n.DisplayName())
		if strings.TrimSpace(n.Host) == "" {
			if n.Name != "" {
				p.add(n.Line, "%s has no host", label)
			} else {
				p.add(n.Line, "node has no host")
			}
			continue
		}
		if err := ValidateHost(n.Host); err != nil {
			p.add(keyLine(item, "host", n.Line), "%v", err)
			continue
		}
		if n.Port < 0 || n.Port > 65535 {
			p.add(keyLine(item, "port", n.Line), "port %d of %s is not a TCP port (1-65535)", n.Port, label)
		}
		if n.Role != "" && n.Role != "manager" && n.Role != "worker" {
			p.add(keyLine(item, "role", n.Line), "role %q of %s must be manager or worker%s", n.Role, label,
				suggest.DidYouMean(n.Role, []string{"manager", "worker"}, "%q"))
		}
		if n.Name != "" {
			if err := ValidateName(n.Name); err != nil {
				p.add(keyLine(item, "name", n.Line), "%v", err)
			}
		}
		// Compare the port the node is dialled on: "host: a" and "host: a,
		// port: 22" are the same machine.
		port := n.Port
		if port == 0 {
			port = inv.Defaults.Port
		}
		if port == 0 {
			port = 22
		}
		key := n.Host + ":" + strconv.Itoa(port)
		if prev, ok := seenHost[key]; ok {
			p.add(n.Line, "duplicate host %q (first at line %d)", n.Host, prev)
		} else {
			seenHost[key] = n.Line
		}
		name := n.DisplayName()
		if prev, ok := seenName[name]; ok {
			p.add(n.Line, "duplicate node name %q (first at line %d)", name, prev)
		} else {
			seenName[name] = n.Line
		}
	}
}

// keyLine is the line of key in mapping m, else fallback.
func keyLine(m *yaml.Node, key string, fallback int) int {
	if m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i].Line
			}
		}
	}
	return fallback
}

// DisplayName is the node's name, else its host.
func (n Node) DisplayName() string {
	if n.Name != "" {
		return n.Name
	}
	return n.Host
}

// CanonicalHost is h without the brackets of a bracketed IP address
// ("[::1]" is the address ::1, dialled as [::1]:22, not [[::1]]:22).
func CanonicalHost(h string) string {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") && net.ParseIP(h[1:len(h)-1]) != nil {
		return h[1 : len(h)-1]
	}
	return h
}

// ValidateHost accepts an IP address, a DNS name or an ssh_config alias.
func ValidateHost(h string) error {
	if h == "" {
		return errors.New("host is empty")
	}
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("host %q is too long", h)
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("host %q: character %q is not allowed in a host name", h, r)
		}
	}
	if strings.HasPrefix(h, "-") {
		return fmt.Errorf("host %q must not start with '-'", h)
	}
	return nil
}

// ValidateName accepts node names made of letters, digits, '-', '_' and '.'.
func ValidateName(s string) error {
	if s == "" || len(s) > 128 {
		return fmt.Errorf("node name %q must be 1-128 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("node name %q: character %q is not allowed", s, r)
		}
	}
	return nil
}
