package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
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

// Load reads and validates an inventory file.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Parse(path, data)
}

// Parse validates data as an inventory; path is used in error messages.
func Parse(path string, data []byte) (*Inventory, error) {
	inv := &Inventory{Path: path}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return inv, nil
		}
		return nil, yamlError(path, err)
	}
	if len(doc.Content) == 0 {
		return inv, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{path, root.Line, "the inventory must be a mapping with keys defaults, mirror, nodes"}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if first, ok := seen[k.Value]; ok {
			return nil, &Error{path, k.Line, fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first)}
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
				return nil, &Error{path, v.Line, "nodes must be a list"}
			}
			for _, item := range v.Content {
				var n Node
				if err := decodeStrict(path, item, &n); err != nil {
					return nil, err
				}
				n.Line = item.Line
				n.Host = CanonicalHost(n.Host)
				inv.Nodes = append(inv.Nodes, n)
			}
			continue
		default:
			return nil, &Error{path, k.Line, fmt.Sprintf("unknown key %q (want defaults, mirror or nodes)", k.Value)}
		}
		if err := decodeStrict(path, v, target); err != nil {
			return nil, err
		}
	}
	if err := inv.validate(root); err != nil {
		return nil, err
	}
	return inv, nil
}

// decodeStrict decodes n into v, refusing keys v does not have.
func decodeStrict(path string, n *yaml.Node, v any) error {
	if err := checkKeys(path, n, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		return yamlError(path, err)
	}
	return nil
}

func checkKeys(path string, n *yaml.Node, t reflect.Type) error {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		return &Error{path, n.Line, fmt.Sprintf("expected a mapping, got %q", n.Value)}
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
		k := n.Content[i]
		if !known[k.Value] {
			return &Error{path, k.Line, fmt.Sprintf("unknown key %q (known: %s)", k.Value, strings.Join(names, ", "))}
		}
	}
	return nil
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into a file:line error.
func yamlError(path string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
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

func (inv *Inventory) validate(root *yaml.Node) error {
	path := inv.Path
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
	if p := inv.Defaults.Port; p < 0 || p > 65535 {
		return &Error{path, keyLine(defaults, "port", line("defaults")), fmt.Sprintf("defaults.port %d is not a TCP port (1-65535)", p)}
	}
	seenHost := map[string]int{}
	seenName := map[string]int{}
	for i, n := range inv.Nodes {
		if strings.TrimSpace(n.Host) == "" {
			return &Error{path, n.Line, "node has no host"}
		}
		if err := ValidateHost(n.Host); err != nil {
			return &Error{path, n.Line, err.Error()}
		}
		if n.Port < 0 || n.Port > 65535 {
			var item *yaml.Node
			if i < len(items) {
				item = items[i]
			}
			return &Error{path, keyLine(item, "port", n.Line), fmt.Sprintf("port %d of node %q is not a TCP port (1-65535)", n.Port, n.Host)}
		}
		if n.Role != "" && n.Role != "manager" && n.Role != "worker" {
			return &Error{path, n.Line, fmt.Sprintf("role %q of node %q must be manager or worker", n.Role, n.Host)}
		}
		if n.Name != "" {
			if err := ValidateName(n.Name); err != nil {
				return &Error{path, n.Line, err.Error()}
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
			return &Error{path, n.Line, fmt.Sprintf("duplicate host %q (first at line %d)", n.Host, prev)}
		}
		seenHost[key] = n.Line
		name := inv.Nodes[i].DisplayName()
		if prev, ok := seenName[name]; ok {
			return &Error{path, n.Line, fmt.Sprintf("duplicate node name %q (first at line %d)", name, prev)}
		}
		seenName[name] = n.Line
	}
	return nil
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
