package daemonjson

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/sjson"
)

// The keys swarmctl owns, in the order it adds them.
const (
	keyExperimental = "experimental"
	keyMirrors      = "registry-mirrors"
	keyInsecure     = "insecure-registries"
)

// Merge returns current with s applied. current may be nil (no file),
// empty or whitespace: the result is then a new two-space-indented object
// ending in a newline. Otherwise only the values of "experimental",
// "registry-mirrors" and "insecure-registries" are replaced, or those keys
// appended after the last member, in the file's own indentation, line
// endings and array style; every other byte stays as it was.
//
// Mirrors: s.Mirrors come first, in the given order, followed by the
// file's other mirrors; an entry equal to one of ours after NormalizeMirror
// is not duplicated and keeps its spelling. With s.Insecure each mirror's
// MirrorHost is appended to "insecure-registries" if missing. With
// s.Remove they are taken out instead, leaving [] rather than deleting the
// key (a reload ignores a missing key). "experimental" is set only when
// s.Experimental is non-nil.
//
// A UTF-8 byte order mark is accepted; a file that changes is written
// without it (dockerd before 23.0 refuses a file that starts with one).
// When nothing changes Result.Bytes is current itself, BOM and all.
//
// Invalid JSON, a top level that is not an object, a duplicate or
// case-variant top-level key, or a value of the wrong type under one of the
// keys above give a *SyntaxError; an invalid mirror gives a *MirrorError.
// Merging its own output again changes nothing.
func Merge(current []byte, s Settings) (Result, error) {
	ours, err := validMirrors(s.Mirrors)
	if err != nil {
		return Result{}, err
	}
	d, err := parse(current)
	if err != nil {
		return Result{}, err
	}
	own, err := ownMembers(d)
	if err != nil {
		return Result{}, err
	}
	m := &merger{d: d, own: own, l: detectLayout(d)}
	if s.Experimental != nil {
		m.setExperimental(*s.Experimental)
	}
	if len(ours) > 0 {
		hosts := make([]string, 0, len(ours))
		for _, o := range ours {
			hosts = appendNew(hosts, MirrorHost(o), normInsecure)
		}
		if s.Remove {
			m.remove(keyMirrors, ours, NormalizeMirror)
			if s.Insecure {
				m.remove(keyInsecure, hosts, normInsecure)
			}
		} else {
			m.addMirrors(ours)
			if s.Insecure {
				m.addInsecure(hosts)
			}
		}
	}
	if len(m.changes) == 0 {
		return Result{Bytes: current}, nil
	}
	reloadOnly := true
	for _, c := range m.changes {
		if c.Key == keyExperimental {
			reloadOnly = false
		}
	}
	return Result{Bytes: m.apply(), Changes: m.changes, Changed: true, ReloadOnly: reloadOnly}, nil
}

// ReadMirrors returns the "registry-mirrors" of a daemon.json as written
// (nil when the file or key is missing). Errors as for Merge.
func ReadMirrors(current []byte) ([]string, error) {
	d, err := parse(current)
	if err != nil {
		return nil, err
	}
	own, err := ownMembers(d)
	if err != nil || own[keyMirrors] == nil {
		return nil, err
	}
	out := []string{}
	for _, e := range own[keyMirrors].val.elems {
		out = append(out, e.str)
	}
	return out, nil
}

// ReadExperimental returns the value of "experimental" and whether the key
// is present. Errors as for Merge.
func ReadExperimental(current []byte) (value, present bool, err error) {
	d, err := parse(current)
	if err != nil {
		return false, false, err
	}
	own, err := ownMembers(d)
	if err != nil || own[keyExperimental] == nil {
		return false, false, err
	}
	v := own[keyExperimental].val
	return string(d.src[v.start:v.end]) == "true", true, nil
}

// validMirrors validates and normalises the wanted mirrors, dropping
// repeats.
func validMirrors(raw []string) ([]string, error) {
	var out []string
	for _, r := range raw {
		n, err := ValidateMirror(r)
		if err != nil {
			return nil, err
		}
		out = appendNew(out, n, NormalizeMirror)
	}
	return out, nil
}

// appendNew appends s unless list has an entry with the same norm.
func appendNew(list []string, s string, norm func(string) string) []string {
	for _, e := range list {
		if norm(e) == norm(s) {
			return list
		}
	}
	return append(list, s)
}

// ownMembers finds the members swarmctl owns and checks their types. A key
// that differs from one of them only in case is refused: encoding/json
// matches keys case-insensitively, so dockerd would read it as ours.
func ownMembers(d *doc) (map[string]*member, error) {
	own := map[string]*member{}
	for i := range d.members {
		m := &d.members[i]
		for _, k := range []string{keyExperimental, keyMirrors, keyInsecure} {
			if !strings.EqualFold(m.key, k) {
				continue
			}
			if m.key != k || own[k] != nil {
				l, c := position(d.src, m.keyStart)
				return nil, &SyntaxError{Line: l, Column: c, Key: k, Msg: fmt.Sprintf(
					"key %s: dockerd reads it as %s too; keep a single %s", strconv.Quote(m.key), strconv.Quote(k), strconv.Quote(k))}
			}
			if err := checkType(d, k, m.val); err != nil {
				return nil, err
			}
			own[k] = m
		}
	}
	return own, nil
}

func checkType(d *doc, key string, v value) error {
	bad := func(at value, want string) error {
		l, c := position(d.src, at.start)
		return &SyntaxError{Line: l, Column: c, Key: key, Msg: fmt.Sprintf("%s must be %s, found %s", strconv.Quote(key), want, at.kind)}
	}
	if key == keyExperimental {
		if v.kind != kBool {
			return bad(v, "true or false")
		}
		return nil
	}
	if v.kind != kArray {
		return bad(v, "an array of strings")
	}
	for _, e := range v.elems {
		if e.kind != kString {
			return bad(e, "an array of strings")
		}
	}
	return nil
}

// edit replaces an existing member's value (key set) or inserts new
// members at a position (key empty).
type edit struct {
	key        string
	start, end int
	text       string
}

type merger struct {
	d       *doc
	own     map[string]*member
	l       layout
	edits   []edit
	adds    []string // "key": value members to append, in order
	changes []Change
}

func (m *merger) setExperimental(want bool) {
	text := strconv.FormatBool(want)
	cur := m.own[keyExperimental]
	if cur == nil {
		m.add(keyExperimental, text)
		m.changes = append(m.changes, Change{Key: keyExperimental, Action: "set", Value: text})
		return
	}
	old := string(m.d.src[cur.val.start:cur.val.end])
	if old == text {
		return
	}
	m.edits = append(m.edits, edit{keyExperimental, cur.val.start, cur.val.end, text})
	m.changes = append(m.changes, Change{Key: keyExperimental, Action: "set", Value: text, Old: old})
}

// addMirrors puts ours first, then the file's other mirrors. An entry
// equal to one of ours keeps its spelling if dockerd accepts it; repeats
// of it are dropped.
func (m *merger) addMirrors(ours []string) {
	cur := m.own[keyMirrors]
	var elems []value
	if cur != nil {
		elems = cur.val.elems
	}
	used := make([]bool, len(elems))
	var list, added, dropped []string
	for _, o := range ours {
		kept := false
		for i, e := range elems {
			if used[i] || NormalizeMirror(e.str) != o {
				continue
			}
			used[i] = true
			if n, err := ValidateMirror(e.str); kept || err != nil || n != o {
				// A repeat, or a spelling dockerd would refuse: ours replaces it.
				dropped = append(dropped, e.str)
				continue
			}
			list = append(list, m.raw(e))
			kept = true
		}
		if !kept {
			list = append(list, quote(o))
			added = append(added, o)
		}
	}
	for i, e := range elems {
		if !used[i] {
			list = append(list, m.raw(e))
		}
	}
	m.changeArray(keyMirrors, list, added, dropped)
}

// addInsecure appends the hosts missing from "insecure-registries".
func (m *merger) addInsecure(hosts []string) {
	cur := m.own[keyInsecure]
	var list, added []string
	if cur != nil {
		for _, e := range cur.val.elems {
			list = append(list, m.raw(e))
		}
	}
next:
	for _, h := range hosts {
		if cur != nil {
			for _, e := range cur.val.elems {
				if normInsecure(e.str) == h {
					continue next
				}
			}
		}
		list = append(list, quote(h))
		added = append(added, h)
	}
	m.changeArray(keyInsecure, list, added, nil)
}

// remove takes the entries equal (after norm) to one of drop out of key.
// A missing key stays missing.
func (m *merger) remove(key string, drop []string, norm func(string) string) {
	cur := m.own[key]
	if cur == nil {
		return
	}
	want := map[string]bool{}
	for _, d := range drop {
		want[norm(d)] = true
	}
	var list, dropped []string
	for _, e := range cur.val.elems {
		if want[norm(e.str)] {
			dropped = append(dropped, e.str)
		} else {
			list = append(list, m.raw(e))
		}
	}
	m.changeArray(key, list, nil, dropped)
}

// changeArray makes list (encoded elements) the value of key, recording
// what was added and removed, or a "set" when only the order changed.
func (m *merger) changeArray(key string, list, added, dropped []string) {
	cur := m.own[key]
	if cur == nil {
		if len(list) == 0 {
			return
		}
		m.add(key, m.l.styleFor(m.d.src, nil, m.l.indent, len(list)).render(list, m.l.nl))
		m.changes = append(m.changes, Change{Key: key, Action: "set", Value: compact(list)})
		return
	}
	old := make([]string, len(cur.val.elems))
	for i, e := range cur.val.elems {
		old[i] = m.raw(e)
	}
	if slices.Equal(old, list) {
		return
	}
	keyIndent, ok := lineIndent(m.d.src, cur.keyStart)
	if !ok {
		keyIndent = m.l.indent
	}
	st := m.l.styleFor(m.d.src, &cur.val, keyIndent, len(list))
	m.edits = append(m.edits, edit{key, cur.val.start, cur.val.end, st.render(list, m.l.nl)})
	for _, a := range added {
		m.changes = append(m.changes, Change{Key: key, Action: "add", Value: quote(a)})
	}
	for _, r := range dropped {
		m.changes = append(m.changes, Change{Key: key, Action: "remove", Value: quote(r)})
	}
	if len(added) == 0 && len(dropped) == 0 {
		m.changes = append(m.changes, Change{Key: key, Action: "set", Value: compact(list), Old: compact(old)})
	}
}

// raw is an element's text as written in the file.
func (m *merger) raw(v value) string { return string(m.d.src[v.start:v.end]) }

// add queues a new member; they are appended after the last member.
func (m *merger) add(key, val string) {
	m.adds = append(m.adds, quote(key)+m.l.colon+val)
}

// apply returns the edited file (without a byte order mark).
func (m *merger) apply() []byte {
	d, l := m.d, m.l
	edits := append([]edit(nil), m.edits...)
	if len(m.adds) > 0 {
		switch {
		case d.isEmpty:
			// Keep nothing of a blank file but its line ending style.
			nl := "\n"
			if strings.Contains(string(d.src), "\r\n") {
				nl = "\r\n"
			}
			text := "{" + nl + "  " + strings.Join(m.adds, ","+nl+"  ") + nl + "}" + nl
			edits = append(edits, edit{"", 0, len(d.src), text})
		case len(d.members) == 0:
			text := "{" + l.nl + l.unit() + strings.Join(m.adds, ","+l.nl+l.unit()) + l.nl + "}"
			if d.close+1 == len(d.src) {
				text += l.nl
			}
			edits = append(edits, edit{"", d.open, d.close + 1, text})
		case l.multiline:
			at := d.members[len(d.members)-1].val.end
			edits = append(edits, edit{"", at, at, "," + l.nl + l.indent + strings.Join(m.adds, ","+l.nl+l.indent)})
		default:
			at := d.members[len(d.members)-1].val.end
			edits = append(edits, edit{"", at, at, l.memberSep + strings.Join(m.adds, l.memberSep)})
		}
	}
	// New members are spliced in first, in the file's layout (sjson would
	// append them minified). They go after the last member's value, so the
	// byte ranges of the values replaced below stay valid.
	out := append([]byte(nil), d.src...)
	var replace []edit
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	for _, e := range edits {
		if e.key != "" && m.plainKey(e.key) {
			replace = append(replace, e)
			continue
		}
		out = append(out[:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	// Existing values are replaced in place by sjson: only the value's
	// bytes change, every other byte of the file stays as it was.
	for _, e := range replace {
		next, err := sjson.SetRawBytes(out, e.key, []byte(e.text))
		if err != nil {
			// Not expected for our fixed keys; fall back to the splice.
			next = append(out[:e.start], append([]byte(e.text), out[e.end:]...)...)
		}
		out = next
	}
	return out
}

// plainKey reports whether key is written in the file without escapes,
// so sjson's path lookup finds exactly the member the parser found.
func (m *merger) plainKey(key string) bool {
	cur := m.own[key]
	return cur != nil && string(m.d.src[cur.keyStart:cur.keyEnd]) == `"`+key+`"`
}

// compact is a list of encoded strings as one-line JSON, for Change.
func compact(list []string) string { return "[" + strings.Join(list, ",") + "]" }
