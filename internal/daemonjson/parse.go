package daemonjson

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The parser is a strict RFC 8259 reader that keeps byte offsets of the
// top-level members, so edits can splice new values into the original bytes
// and leave everything else untouched. It exists (instead of encoding/json
// alone) for two reasons: errors must carry a line and column and say
// what a human did wrong ("trailing comma", "comment"), and new keys must be
// inserted in the file's own layout, which sjson does not do. Existing
// values are still replaced by sjson (merge.go: apply).

const maxDepth = 10000 // as encoding/json

var bom = []byte("\xef\xbb\xbf")

// kind of a JSON value.
type kind byte

const (
	kObject kind = iota + 1
	kArray
	kString
	kNumber
	kBool
	kNull
)

func (k kind) String() string {
	switch k {
	case kObject:
		return "an object"
	case kArray:
		return "an array"
	case kString:
		return "a string"
	case kNumber:
		return "a number"
	case kBool:
		return "a boolean"
	case kNull:
		return "null"
	}
	return "nothing"
}

// value is a parsed value's place in the source; elems is filled for
// arrays that are the value of a top-level member.
type value struct {
	start, end int // src[start:end] is the value's text
	kind       kind
	str        string // unescaped, for strings
	elems      []value
}

type member struct {
	key              string // unescaped
	keyStart, keyEnd int    // the quoted key
	val              value
}

// doc is a parsed daemon.json: src without BOM, the top-level object's
// braces and its members in file order.
type doc struct {
	src             []byte
	open, close     int // offsets of the top-level '{' and '}'
	members         []member
	hadBOM, isEmpty bool // isEmpty: no bytes but whitespace
}

type parser struct {
	src   []byte
	pos   int
	depth int
}

// parse reads a daemon.json. A missing, empty or whitespace-only file gives
// a doc with isEmpty set.
func parse(in []byte) (*doc, error) {
	d := &doc{src: in}
	if bytes.HasPrefix(in, bom) {
		d.src, d.hadBOM = in[len(bom):], true
	}
	if bytes.HasPrefix(in, []byte{0xff, 0xfe}) || bytes.HasPrefix(in, []byte{0xfe, 0xff}) {
		return nil, &SyntaxError{Line: 1, Column: 1, Msg: "the file is UTF-16 encoded; save it as UTF-8"}
	}
	p := &parser{src: d.src}
	p.skipSpace()
	if p.pos == len(p.src) {
		d.isEmpty = true
		return d, nil
	}
	if c := p.src[p.pos]; c != '{' {
		if c == '/' {
			return nil, p.errAt(p.pos, "comments are not allowed in JSON")
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return nil, p.errAt(v.start, "the top level must be an object ({ ... }), found "+v.kind.String())
	}
	d.open = p.pos
	if err := p.object(d); err != nil {
		return nil, err
	}
	d.close = p.pos - 1
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errAt(p.pos, "unexpected "+p.describe(p.pos)+" after the end of the top-level object")
	}
	return d, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// object parses the top-level object into d (nested objects go through
// value and are not recorded).
func (p *parser) object(d *doc) error {
	p.pos++ // '{'
	seen := map[string]int{}
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		keyStart := p.pos
		key, err := p.key()
		if err != nil {
			return err
		}
		if first, dup := seen[key]; dup {
			l, _ := position(p.src, first)
			return p.errAt(keyStart, fmt.Sprintf("duplicate key %s (first at line %d)", strconv.Quote(key), l))
		}
		seen[key] = keyStart
		keyEnd := p.pos
		if err := p.colon(); err != nil {
			return err
		}
		p.skipSpace()
		v, err := p.valueAt(true)
		if err != nil {
			return err
		}
		d.members = append(d.members, member{key: key, keyStart: keyStart, keyEnd: keyEnd, val: v})
		done, err := p.next('}')
		if err != nil || done {
			return err
		}
	}
}

// next consumes the ',' or the closing bracket after a member or element.
func (p *parser) next(closer byte) (bool, error) {
	p.skipSpace()
	switch c := p.peek(); {
	case c == closer:
		p.pos++
		return true, nil
	case c == ',':
		comma := p.pos
		p.pos++
		p.skipSpace()
		if p.peek() == closer {
			return false, p.errAt(comma, fmt.Sprintf("trailing comma before %c", closer))
		}
		if p.pos == len(p.src) {
			return false, p.eof()
		}
		return false, nil
	case p.pos == len(p.src):
		return false, p.eof()
	case c == '/':
		return false, p.errAt(p.pos, "comments are not allowed in JSON")
	default:
		what := "member"
		if closer == ']' {
			what = "element"
		}
		return false, p.errAt(p.pos, fmt.Sprintf("expected , or %c after %s, found %s (missing comma?)", closer, what, p.describe(p.pos)))
	}
}

func (p *parser) key() (string, error) {
	switch c := p.peek(); {
	case p.pos == len(p.src):
		return "", p.eof()
	case c == '"':
		v, err := p.str()
		return v.str, err
	case c == '/':
		return "", p.errAt(p.pos, "comments are not allowed in JSON")
	case c == '\'':
		return "", p.errAt(p.pos, "keys need double quotes, not single quotes")
	case c == '}':
		return "", p.errAt(p.pos, "expected a key, found }")
	default:
		return "", p.errAt(p.pos, "expected a key in double quotes, found "+p.describe(p.pos))
	}
}

func (p *parser) colon() error {
	p.skipSpace()
	switch {
	case p.pos == len(p.src):
		return p.eof()
	case p.src[p.pos] == ':':
		p.pos++
		return nil
	default:
		return p.errAt(p.pos, "expected : after the key, found "+p.describe(p.pos))
	}
}

func (p *parser) value() (value, error) { return p.valueAt(false) }

// valueAt parses one value at p.pos; keepElems records an array's elements.
func (p *parser) valueAt(keepElems bool) (value, error) {
	start := p.pos
	if p.pos == len(p.src) {
		return value{}, p.eof()
	}
	switch c := p.src[p.pos]; {
	case c == '{', c == '[':
		p.depth++
		if p.depth > maxDepth {
			return value{}, p.errAt(start, "nested too deeply")
		}
		defer func() { p.depth-- }()
		if c == '{' {
			return p.nestedObject()
		}
		return p.array(keepElems)
	case c == '"':
		return p.str()
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", kBool)
	case c == 'f':
		return p.literal("false", kBool)
	case c == 'n':
		return p.literal("null", kNull)
	case c == '/':
		return value{}, p.errAt(start, "comments are not allowed in JSON")
	case c == '\'':
		return value{}, p.errAt(start, "strings need double quotes, not single quotes")
	case c == ',':
		return value{}, p.errAt(start, "expected a value, found , (extra comma?)")
	default:
		return value{}, p.errAt(start, "expected a value, found "+p.describe(start))
	}
}

func (p *parser) nestedObject() (value, error) {
	start := p.pos
	p.pos++
	seen := map[string]bool{}
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return value{start: start, end: p.pos, kind: kObject}, nil
	}
	for {
		p.skipSpace()
		keyStart := p.pos
		k, err := p.key()
		if err != nil {
			return value{}, err
		}
		if seen[k] {
			return value{}, p.errAt(keyStart, "duplicate key "+strconv.Quote(k))
		}
		seen[k] = true
		if err := p.colon(); err != nil {
			return value{}, err
		}
		p.skipSpace()
		if _, err := p.value(); err != nil {
			return value{}, err
		}
		done, err := p.next('}')
		if err != nil {
			return value{}, err
		}
		if done {
			return value{start: start, end: p.pos, kind: kObject}, nil
		}
	}
}

func (p *parser) array(keepElems bool) (value, error) {
	v := value{start: p.pos, kind: kArray}
	p.pos++
	p.skipSpace()
	if p.peek() == ']' {
		p.pos++
		v.end = p.pos
		return v, nil
	}
	for {
		p.skipSpace()
		e, err := p.value()
		if err != nil {
			return value{}, err
		}
		if keepElems {
			v.elems = append(v.elems, e)
		}
		done, err := p.next(']')
		if err != nil {
			return value{}, err
		}
		if done {
			v.end = p.pos
			return v, nil
		}
	}
}

func (p *parser) literal(word string, k kind) (value, error) {
	start := p.pos
	if !bytes.HasPrefix(p.src[p.pos:], []byte(word)) {
		if bytes.HasPrefix([]byte(word), p.src[p.pos:]) {
			return value{}, p.eof()
		}
		return value{}, p.errAt(start, "invalid value (expected "+word+"?)")
	}
	p.pos += len(word)
	if p.pos < len(p.src) && isWordByte(p.src[p.pos]) {
		return value{}, p.errAt(start, "invalid value (expected "+word+"?)")
	}
	return value{start: start, end: p.pos, kind: k}, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 0x80 || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func (p *parser) number() (value, error) {
	start := p.pos
	bad := func() (value, error) {
		for p.pos < len(p.src) && (isWordByte(p.src[p.pos]) || strings.IndexByte("+-.", p.src[p.pos]) >= 0) {
			p.pos++
		}
		return value{}, p.errAt(start, "invalid number "+strconv.Quote(string(p.src[start:p.pos])))
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.src) && '0' <= p.src[p.pos] && p.src[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.peek() == '-' {
		p.pos++
	}
	switch {
	case p.peek() == '0':
		p.pos++
	case digits() == 0:
		if p.pos == len(p.src) {
			return value{}, p.eof()
		}
		return bad()
	}
	if p.peek() == '.' {
		p.pos++
		if digits() == 0 {
			return bad()
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if digits() == 0 {
			return bad()
		}
	}
	if p.pos < len(p.src) && (isWordByte(p.src[p.pos]) || p.src[p.pos] == '.') {
		return bad()
	}
	return value{start: start, end: p.pos, kind: kNumber}, nil
}

// str parses a string and unescapes it the way encoding/json does (bad
// surrogates become U+FFFD); invalid UTF-8 is an error, as in dockerd.
func (p *parser) str() (value, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return value{}, p.eof()
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return value{start: start, end: p.pos, kind: kString, str: b.String()}, nil
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return value{}, err
			}
		case c < 0x20:
			if c == '\n' || c == '\r' {
				return value{}, p.errAt(start, "string not closed before the end of the line (missing \"?)")
			}
			return value{}, p.errAt(p.pos, "control character in string (write it as an escape like \\t)")
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.src[p.pos:])
			if r == utf8.RuneError && n == 1 {
				return value{}, p.errAt(p.pos, "invalid UTF-8 (save the file as UTF-8)")
			}
			b.WriteRune(r)
			p.pos += n
		}
	}
}

func (p *parser) escape(b *strings.Builder) error {
	at := p.pos
	if p.pos+1 >= len(p.src) {
		return p.eof()
	}
	c := p.src[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return p.errAt(at, "invalid \\u escape (needs 4 hex digits)")
		}
		if utf16.IsSurrogate(r) {
			if bytes.HasPrefix(p.src[p.pos:], []byte(`\u`)) {
				save := p.pos
				p.pos += 2
				if r2, ok := p.hex4(); ok {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b.WriteRune(d)
						return nil
					}
				}
				p.pos = save
			}
			r = utf8.RuneError
		}
		b.WriteRune(r)
	default:
		return p.errAt(at, fmt.Sprintf("invalid escape \\%s in string", p.describeByte(c)))
	}
	return nil
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.src) {
		return 0, false
	}
	var r rune
	for _, c := range p.src[p.pos : p.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) describe(at int) string {
	if at >= len(p.src) {
		return "the end of the file"
	}
	r, _ := utf8.DecodeRune(p.src[at:])
	switch {
	case r == '\n' || r == '\r':
		return "a line break"
	case r == utf8.RuneError:
		return fmt.Sprintf("byte 0x%02x", p.src[at])
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf("control character %U", r)
	}
	return strconv.QuoteRune(r)
}

func (p *parser) describeByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("(byte 0x%02x)", c)
	}
	return string(c)
}

func (p *parser) eof() error {
	return p.errAt(len(p.src), "unexpected end of file: the JSON is incomplete (missing } or ]?)")
}

func (p *parser) errAt(off int, msg string) error {
	l, c := position(p.src, off)
	return &SyntaxError{Line: l, Column: c, Msg: msg}
}

// position turns a byte offset into a 1-based line and character column.
func position(src []byte, off int) (line, col int) {
	if off > len(src) {
		off = len(src)
	}
	before := src[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[lineStart:])
}
