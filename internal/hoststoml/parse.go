package hoststoml

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Position is a 1-based line and column (in characters) in hosts.toml.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error is a hosts.toml swarmctl cannot read or edit safely, with where. The
// engine would ignore such a file as a whole (see the package doc), so it
// is never edited. Name is "hosts.toml" unless the caller sets a path.
type Error struct {
	Name string
	Position
	Msg string
}

func (e *Error) Error() string {
	name := e.Name
	if name == "" {
		name = "hosts.toml"
	}
	if e.Line == 0 {
		return name + ": " + e.Msg
	}
	return fmt.Sprintf("%s: line %d, column %d: %s", name, e.Line, e.Column, e.Msg)
}

// ProblemKind classifies something in a valid hosts.toml that dockerd
// would not do what the file seems to say.
type ProblemKind string

const (
	// UnknownKey is a key containerd does not know: it is ignored.
	UnknownKey ProblemKind = "unknown-key"
	// HostNotTried is a host dockerd never tries: defined by dotted keys or
	// an inline table instead of a [host."..."] header, or with no host in
	// its URL.
	HostNotTried ProblemKind = "host-not-tried"
	// HostTriedTwice is a host whose [host."x".sub] table is not right after
	// [host."x"]: containerd lists it twice.
	HostTriedTwice ProblemKind = "host-tried-twice"
	// OwnedSubTable is a [host."x".header] (or other sub-table) of a table
	// swarmctl owns: it cannot be kept apart from it.
	OwnedSubTable ProblemKind = "owned-sub-table"
)

// Problem is a finding in a hosts.toml that decodes. Apply refuses a file
// with any; Remove refuses only OwnedSubTable and reports the others.
type Problem struct {
	Position
	Kind ProblemKind `json:"kind"`
	Key  string      `json:"key"` // dotted path, e.g. host."https://m".capabilties
	Msg  string      `json:"message"`
}

func (p Problem) err(name string) *Error { return &Error{Name: name, Position: p.Position, Msg: p.Msg} }

// File is what dockerd reads from a hosts.toml.
type File struct {
	// Server is the top-level server line; nil when there is none (then
	// dockerd uses the registry itself, see Endpoints).
	Server *Server `json:"server,omitempty"`
	// Hosts in the order dockerd tries them, before the server.
	Hosts []Host `json:"hosts"`
	// Root holds the per-host keys written at top level (they apply to the
	// server); its Key is empty.
	Root Host `json:"root"`
	// Created: the first line is swarmctl's MarkerFile.
	Created  bool      `json:"created"`
	Problems []Problem `json:"problems,omitempty"`

	layout *layout
}

// Server is the top-level server key.
type Server struct {
	URL      string   `json:"url"`
	Endpoint Endpoint `json:"endpoint"`
	Position
}

// Host is a [host."<Key>"] table (or the top-level keys, for File.Root).
type Host struct {
	Key          string   `json:"key"`
	Endpoint     Endpoint `json:"endpoint"`
	Capabilities []string `json:"capabilities,omitempty"` // nil: containerd's default, all
	CA           []string `json:"ca,omitempty"`
	OverridePath bool     `json:"override_path,omitempty"`
	SkipVerify   *bool    `json:"skip_verify,omitempty"`
	DialTimeout  string   `json:"dial_timeout,omitempty"`
	Owned        bool     `json:"owned"` // marked with MarkerTable
	Position
}

// hostFields and fileFields are containerd's hosts.toml schema (same keys,
// same Go types, so go-toml accepts and refuses exactly what the engine's
// decoder does).
type hostFields struct {
	Capabilities []string       `toml:"capabilities"`
	CACert       any            `toml:"ca"`
	Client       any            `toml:"client"`
	SkipVerify   *bool          `toml:"skip_verify"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
	DialTimeout  string         `toml:"dial_timeout"`
}

type fileFields struct {
	hostFields
	Server string                `toml:"server"`
	Host   map[string]hostFields `toml:"host"`
}

// Parse reads a hosts.toml. Errors (*Error) name the line and column: not
// TOML, a duplicate key or table, a value of the wrong type, an unknown
// capability, a URL or duration containerd cannot parse: everything that
// makes containerd drop the whole file. Things that only make it ignore a
// part (unknown keys, hosts it never tries) are File.Problems. An empty
// input is a valid file with nothing in it.
func Parse(b []byte) (*File, error) {
	ls := splitLines(b)
	var ff fileFields
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	var unknown []toml.DecodeError
	if err := dec.Decode(&ff); err != nil {
		var strict *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case errors.As(err, &strict):
			unknown = strict.Errors
		case errors.As(err, &de):
			return nil, decodeErr(b, ls, de)
		default:
			return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		}
	}
	l, err := newLayout(b)
	if err != nil {
		return nil, &Error{Msg: "cannot be read: " + err.Error()}
	}
	f := &File{layout: l, Created: l.created()}
	keys := l.index()
	at := func(path ...string) Position { return keys.pos(l, path) }

	for i := range unknown {
		line, col := unknown[i].Position()
		path := []string(unknown[i].Key())
		f.Problems = append(f.Problems, Problem{
			Position: fixColumn(b, ls, line, col), Kind: UnknownKey, Key: dotted(path),
			Msg: fmt.Sprintf("unknown key %s: dockerd ignores it (known: server, capabilities, ca, client, skip_verify, header, override_path, dial_timeout, [host.\"<url>\"])", dotted(path)),
		})
	}

	root, err := hostOf("", ff.hostFields, ff.hostFields.OverridePath, nil, at)
	if err != nil {
		return nil, err
	}
	f.Root = root
	if _, present := keys[pathKey([]string{"server"})]; present {
		ep, err := endpointOf(ff.Server, ff.OverridePath)
		if err != nil {
			return nil, &Error{Position: at("server"), Msg: "server: " + err.Error() + "; dockerd ignores this whole file"}
		}
		f.Server = &Server{URL: ff.Server, Endpoint: ep, Position: at("server")}
	}

	// The order dockerd tries hosts in: [host.X...] table headers in file
	// order, X counted again when it comes back after another host
	// (containerd getSortedHosts).
	var order []string
	marked := map[string]bool{}
	for _, s := range l.sections[1:] {
		it := l.items[s.header]
		if it.kind != unstable.Table || len(it.key) < 2 || it.key[0] != "host" {
			continue
		}
		if s.marked {
			marked[it.key[1]] = true
		}
		if len(order) == 0 || order[len(order)-1] != it.key[1] {
			order = append(order, it.key[1])
		}
	}
	seen := map[string]bool{}
	for _, k := range order {
		cfg, ok := ff.Host[k]
		if !ok {
			// Only [host.X.sub] headers: X is still tried, with defaults.
			cfg = hostFields{}
		}
		h, err := hostOf(k, cfg, cfg.OverridePath, marked, at)
		if err != nil {
			return nil, err
		}
		if seen[k] {
			f.Problems = append(f.Problems, Problem{Position: h.Position, Kind: HostTriedTwice, Key: dotted([]string{"host", k}),
				Msg: fmt.Sprintf("[host.%s] comes back after another host: dockerd tries it twice; keep its sub-tables right after it", quote(k))})
		}
		seen[k] = true
		if h.Endpoint.Host == "" {
			f.Problems = append(f.Problems, Problem{Position: h.Position, Kind: HostNotTried, Key: dotted([]string{"host", k}),
				Msg: fmt.Sprintf("[host.%s] gives dockerd no host to contact (write the scheme, e.g. https://%s)", quote(k), k)})
		}
		f.Hosts = append(f.Hosts, h)
	}
	for _, k := range sortedKeys(ff.Host) {
		if !seen[k] {
			f.Problems = append(f.Problems, Problem{Position: at("host", k), Kind: HostNotTried, Key: dotted([]string{"host", k}),
				Msg: fmt.Sprintf("host %s is not defined by a [host.%s] table header: dockerd never tries it", quote(k), quote(k))})
		}
	}
	for _, s := range l.sections[1:] {
		if len(s.key) > 2 && s.key[0] == "host" && marked[s.key[1]] {
			f.Problems = append(f.Problems, Problem{Position: l.pos(l.items[s.header].off), Kind: OwnedSubTable, Key: dotted(s.key),
				Msg: fmt.Sprintf("[%s] extends a table swarmctl manages; swarmctl cannot keep it apart: move its keys into a host of your own or delete it", dotted(s.key))})
		}
	}
	slices.SortStableFunc(f.Problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return f, nil
}

// hostOf checks one host's keys the way containerd's parseHostConfig does
// and returns it; errors are the ones that make containerd drop the file.
func hostOf(key string, c hostFields, override bool, marked map[string]bool, at func(...string) Position) (Host, error) {
	prefix := []string{}
	if key != "" {
		prefix = []string{"host", key}
	}
	where := func(k string) Position { return at(append(slices.Clone(prefix), k)...) }
	fail := func(k, format string, args ...any) (Host, error) {
		name := dotted(append(slices.Clone(prefix), k))
		return Host{}, &Error{Position: where(k), Msg: name + ": " + fmt.Sprintf(format, args...) + "; dockerd ignores this whole file"}
	}
	h := Host{Key: key, Capabilities: c.Capabilities, OverridePath: c.OverridePath, SkipVerify: c.SkipVerify, DialTimeout: c.DialTimeout, Owned: marked[key]}
	if key != "" {
		h.Position = at(prefix...)
		ep, err := endpointOf(key, override)
		if err != nil {
			return Host{}, &Error{Position: h.Position, Msg: fmt.Sprintf("[host.%s]: %v; dockerd ignores this whole file", quote(key), err)}
		}
		h.Endpoint = ep
	}
	for _, cp := range c.Capabilities {
		switch strings.ToLower(cp) {
		case "pull", "resolve", "push", "referrers":
		default:
			return fail("capabilities", "unknown capability %q (pull, resolve, push, referrers)", cp)
		}
	}
	switch ca := c.CACert.(type) {
	case nil:
	case string:
		h.CA = []string{ca}
	case []any:
		for _, v := range ca {
			s, ok := v.(string)
			if !ok {
				return fail("ca", "%v is not a string", v)
			}
			h.CA = append(h.CA, s)
		}
	default:
		return fail("ca", "must be a string or a list of strings")
	}
	switch cl := c.Client.(type) {
	case nil, string:
	case []any:
		for _, v := range cl {
			switch p := v.(type) {
			case string:
			case []any:
				if len(p) != 2 || !allStrings(p) {
					return fail("client", "%v is not a [cert, key] pair of strings", p)
				}
			default:
				return fail("client", "%v is not a file or a [cert, key] pair", v)
			}
		}
	default:
		return fail("client", "must be a file, a list of files or of [cert, key] pairs")
	}
	for k, v := range c.Header {
		switch v := v.(type) {
		case string:
		case []any:
			if !allStrings(v) {
				return fail("header", "%s must be a string or a list of strings", k)
			}
		default:
			return fail("header", "%s must be a string or a list of strings", k)
		}
	}
	if c.DialTimeout != "" {
		if _, err := time.ParseDuration(c.DialTimeout); err != nil {
			return fail("dial_timeout", "%v", err)
		}
	}
	return h, nil
}

func allStrings(vs []any) bool {
	for _, v := range vs {
		if _, ok := v.(string); !ok {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// dotted writes a key path as TOML would: bare parts plain, others quoted.
func dotted(path []string) string {
	var sb strings.Builder
	for i, p := range path {
		if i > 0 {
			sb.WriteByte('.')
		}
		if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
			sb.WriteString(p)
		} else {
			sb.WriteString(quote(p))
		}
	}
	return sb.String()
}

// decodeErr turns go-toml's error into ours, column in characters.
func decodeErr(b []byte, ls []span, de *toml.DecodeError) *Error {
	line, col := de.Position()
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	if kind, ok := strings.CutPrefix(msg, "cannot decode TOML "); ok {
		// go-toml names our Go types; say it in the file's terms.
		kind, _, _ = strings.Cut(kind, " ")
		msg = "a TOML " + kind + " is the wrong type of value here"
	}
	if k := de.Key(); len(k) > 0 && !strings.Contains(msg, k[len(k)-1]) {
		msg = dotted(k) + ": " + msg
	}
	pos := fixColumn(b, ls, line, col)
	if line >= 1 && line <= len(ls) && col >= 1 {
		// go-toml names the first byte of a multi-byte character as if
		// it were one (U+00C3 'Ã' for ü): name the character itself.
		if off := ls[line-1].start + col - 1; off < len(b) && b[off] >= utf8.RuneSelf {
			if r, _ := utf8.DecodeRune(b[off:]); r != utf8.RuneError {
				msg = badRune.ReplaceAllString(msg, fmt.Sprintf("%U %q", r, r))
			}
		}
	}
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) && line == 1 {
		msg += " (the file starts with a UTF-8 byte order mark, which dockerd's TOML parser does not accept)"
	}
	return &Error{Position: pos, Msg: msg + "; dockerd ignores this whole file"}
}

var badRune = regexp.MustCompile(`U\+00[89A-F][0-9A-F] '.'`)

// fixColumn converts go-toml's byte column into a character column.
func fixColumn(b []byte, ls []span, line, col int) Position {
	if line < 1 || line > len(ls) || col < 1 {
		return Position{Line: line, Column: col}
	}
	off := min(ls[line-1].start+col-1, ls[line-1].end)
	return position(b, ls, off)
}

// keyIndex maps a key path to the offset where it is first written: a
// key/value's key, a table header, or the first key/value under a path.
type keyIndex map[string]int

func pathKey(path []string) string { return strings.Join(path, "\x00") }

func (l *layout) index() keyIndex {
	ix := keyIndex{}
	for _, it := range l.items {
		if it.kind == unstable.Comment {
			continue
		}
		for n := 1; n <= len(it.key); n++ {
			k := pathKey(it.key[:n])
			if _, ok := ix[k]; !ok {
				ix[k] = it.off
			}
		}
	}
	return ix
}

// pos finds the longest written prefix of path.
func (ix keyIndex) pos(l *layout, path []string) Position {
	for n := len(path); n > 0; n-- {
		if off, ok := ix[pathKey(path[:n])]; ok {
			return l.pos(off)
		}
	}
	return Position{}
}
