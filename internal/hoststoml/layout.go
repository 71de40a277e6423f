package hoststoml

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"
)

// MarkerTable starts the comment line swarmctl puts directly above each
// [host."..."] table it owns; MarkerFile starts the first line of a file
// swarmctl created. Only the prefixes are matched, so the wording after
// them may change between releases.
const (
	MarkerTable = "# swarmctl-managed"
	MarkerFile  = "# swarmctl-created"
)

// layout is where things are in a hosts.toml, by line: the top-level
// expressions go-toml's parser found and the sections they make (the root
// keys, then one section per table header with the whole-line comments
// directly above it). Edits splice whole lines, so every byte of a section
// swarmctl does not own is copied as it was.
type layout struct {
	src      []byte
	lines    []span // each line with its line end
	items    []item
	sections []section
	comment  []bool // line holds only a comment
	eol      string
}

type span struct{ start, end int }

type item struct {
	kind        unstable.Kind // Comment, KeyValue, Table or ArrayTable
	first, last int           // line indexes
	off         int           // byte offset where it starts
	key         []string      // full key: table prefix + dotted key, or the header
	text        string        // a comment's text
}

type section struct {
	start, end int // lines [start, end)
	header     int // index in items; -1 for the root section
	key        []string
	marked     bool // MarkerTable directly above a [host."..."] header
}

func splitLines(b []byte) []span {
	var ls []span
	for start := 0; start < len(b); {
		i := bytes.IndexByte(b[start:], '\n')
		end := len(b)
		if i >= 0 {
			end = start + i + 1
		}
		ls = append(ls, span{start, end})
		start = end
	}
	return ls
}

// lineOf returns the index of the line holding byte offset off.
func lineOf(ls []span, off int) int {
	return sort.Search(len(ls), func(i int) bool { return ls[i].end > off })
}

// position turns a byte offset into a 1-based line and column; the column
// counts characters, not bytes.
func position(b []byte, ls []span, off int) Position {
	if off > len(b) {
		off = len(b)
	}
	i := lineOf(ls, off)
	if i >= len(ls) {
		if len(ls) == 0 {
			return Position{Line: 1, Column: 1}
		}
		last := ls[len(ls)-1]
		if last.end > 0 && b[last.end-1] == '\n' {
			return Position{Line: len(ls) + 1, Column: 1}
		}
		i = len(ls) - 1
	}
	return Position{Line: i + 1, Column: utf8.RuneCount(b[ls[i].start:off]) + 1}
}

// newLayout parses b (already known to decode) into items and sections.
func newLayout(b []byte) (*layout, error) {
	l := &layout{src: b, lines: splitLines(b), eol: "\n"}
	if i := bytes.IndexByte(b, '\n'); i > 0 && b[i-1] == '\r' {
		l.eol = "\r\n"
	}
	l.comment = make([]bool, len(l.lines))
	p := unstable.Parser{KeepComments: true}
	p.Reset(b)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		it := item{kind: e.Kind}
		switch e.Kind {
		case unstable.Comment:
			it.off = int(e.Raw.Offset)
			it.text = string(e.Data)
			it.first = lineOf(l.lines, it.off)
			it.last = it.first
			l.comment[it.first] = true
		case unstable.KeyValue:
			it.off = int(e.Raw.Offset)
			it.first = lineOf(l.lines, it.off)
			it.last = lineOf(l.lines, int(e.Raw.Offset+e.Raw.Length)-1)
			it.key = append(append([]string(nil), table...), keyParts(e)...)
		case unstable.Table, unstable.ArrayTable:
			it.key = keyParts(e)
			it.off = int(e.Child().Raw.Offset)
			it.first = lineOf(l.lines, it.off)
			it.last = it.first
			table = it.key
		default:
			continue
		}
		l.items = append(l.items, it)
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	l.sections = l.split()
	return l, nil
}

func keyParts(e *unstable.Node) []string {
	var parts []string
	for it := e.Key(); it.Next(); {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

// split cuts the lines into sections. A table's section starts at the
// whole-line comments directly above its header (no blank line between)
// and ends where the next section starts.
func (l *layout) split() []section {
	var secs []section
	prevHeader := -1
	for i, it := range l.items {
		if it.kind != unstable.Table && it.kind != unstable.ArrayTable {
			continue
		}
		start := it.first
		for start-1 > prevHeader && l.comment[start-1] {
			start--
		}
		s := section{start: start, header: i, key: it.key}
		if it.kind == unstable.Table && isHostKey(it.key) {
			for ln := start; ln < it.first; ln++ {
				if l.isMarker(ln, MarkerTable) {
					s.marked = true
				}
			}
		}
		secs = append(secs, s)
		prevHeader = it.first
	}
	root := section{start: 0, end: len(l.lines), header: -1}
	if len(secs) > 0 {
		root.end = secs[0].start
	}
	for i := range secs {
		if i+1 < len(secs) {
			secs[i].end = secs[i+1].start
		} else {
			secs[i].end = len(l.lines)
		}
	}
	return append([]section{root}, secs...)
}

// isHostKey is a [host."<x>"] header (not a sub-table of one).
func isHostKey(key []string) bool { return len(key) == 2 && key[0] == "host" }

func (l *layout) line(i int) []byte { return l.src[l.lines[i].start:l.lines[i].end] }

func (l *layout) blank(i int) bool { return len(bytes.TrimSpace(l.line(i))) == 0 }

func (l *layout) isMarker(i int, marker string) bool {
	return l.comment[i] && strings.HasPrefix(string(bytes.TrimSpace(l.line(i))), marker)
}

// created says whether the file's first line is swarmctl's MarkerFile.
func (l *layout) created() bool { return len(l.lines) > 0 && l.isMarker(0, MarkerFile) }

func (l *layout) pos(off int) Position { return position(l.src, l.lines, off) }
