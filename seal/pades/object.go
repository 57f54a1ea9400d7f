package pades

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The PDF object model used by the reader and the update writer. It is deliberately small:
// objects are parsed on demand, numbers keep their original text so that rewritten
// dictionaries say exactly what the original said, and strings remember where they lie in
// the file so that a signature's /Contents can be matched against its /ByteRange.
type (
	// object is one of: nil (null), bool, number, name, *pdfString, array, dict, ref, *stream.
	object any
	// number is a numeric token as written in the file.
	number string
	// name is a name object without its leading slash, with #xx escapes resolved.
	name  string
	array []object
	dict  []entry
	entry struct {
		key string
		val object
	}
	ref struct{ num, gen int }
	// pdfString is a string object; start and end delimit its token in the file (the
	// parentheses or angle brackets included), or are -1 when it was not read from the file.
	pdfString struct {
		b          []byte
		hex        bool
		start, end int
	}
	// stream is a stream object. A stream the update writes has its raw (encoded) content
	// in data and at -1; stream num read from a file has its content at offset at, read
	// when it is decoded.
	stream struct {
		dict dict
		data []byte
		at   int64
		num  int
	}
)

var errSyntax = errors.New("syntax error")

func (d dict) get(key string) object {
	for _, e := range d {
		if e.key == key {
			return e.val
		}
	}
	return nil
}

// with returns d with key set to val, replacing an existing entry or appending one. It does
// not modify d's backing array.
func (d dict) with(key string, val object) dict {
	out := make(dict, 0, len(d)+1)
	found := false
	for _, e := range d {
		if e.key == key {
			e.val = val
			found = true
		}
		out = append(out, e)
	}
	if !found {
		out = append(out, entry{key, val})
	}
	return out
}

func (n number) int() (int64, bool) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	return v, err == nil
}

func (n number) float() (float64, bool) {
	v, err := strconv.ParseFloat(string(n), 64)
	return v, err == nil
}

// lexer reads tokens and objects from a byte slice; pos is an offset into data, and data
// starts at offset base of the file. short records that the lexer ran into the end of data,
// so that a reader of a window of the file knows to read a larger one.
type lexer struct {
	data  []byte
	pos   int
	base  int
	short bool
}

// atEnd notes a failure at the end of the data, where a larger window may succeed.
func (l *lexer) atEnd() {
	if l.pos >= len(l.data)-1 {
		l.short = true
	}
}

func isWhite(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skipSpace skips white space and comments.
func (l *lexer) skipSpace() {
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case isWhite(c):
			l.pos++
		case c == '%':
			for l.pos < len(l.data) && l.data[l.pos] != '\n' && l.data[l.pos] != '\r' {
				l.pos++
			}
		default:
			return
		}
	}
	l.short = true
}

// regular returns the run of regular characters at the current position.
func (l *lexer) regular() []byte {
	start := l.pos
	for l.pos < len(l.data) && !isWhite(l.data[l.pos]) && !isDelim(l.data[l.pos]) {
		l.pos++
	}
	if l.pos == len(l.data) {
		l.short = true
	}
	return l.data[start:l.pos]
}

// keyword reads the next regular token, such as obj, stream or R.
func (l *lexer) keyword() string {
	l.skipSpace()
	return string(l.regular())
}

// object parses the next object. Indirect references (n g R) are recognised by look-ahead.
func (l *lexer) object(depth int) (object, error) {
	if depth > 64 {
		return nil, fmt.Errorf("objects nested too deeply at offset %d", l.base+l.pos)
	}
	l.skipSpace()
	if l.pos >= len(l.data) {
		l.short = true
		return nil, fmt.Errorf("%w: unexpected end of data", errSyntax)
	}
	switch c := l.data[l.pos]; {
	case c == '/':
		l.pos++
		return l.name()
	case c == '(':
		return l.literalString()
	case c == '<' && l.pos+1 < len(l.data) && l.data[l.pos+1] == '<':
		l.pos += 2
		return l.dictBody(depth)
	case c == '<':
		return l.hexString()
	case c == '[':
		l.pos++
		return l.arrayBody(depth)
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return l.numberOrRef(), nil
	case isDelim(c):
		return nil, fmt.Errorf("%w: unexpected %q at offset %d", errSyntax, c, l.base+l.pos)
	}
	start := l.pos
	switch kw := string(l.regular()); kw {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	default:
		l.atEnd()
		return nil, fmt.Errorf("%w: unexpected %q at offset %d", errSyntax, kw, l.base+start)
	}
}

func (l *lexer) numberOrRef() object {
	tok := number(l.regular())
	num, ok := tok.int()
	if !ok || num < 0 {
		return tok
	}
	save := l.pos
	l.skipSpace()
	gen, ok := number(l.regular()).int()
	if ok && gen >= 0 {
		l.skipSpace()
		if l.pos < len(l.data) && l.data[l.pos] == 'R' && (l.pos+1 == len(l.data) || isWhite(l.data[l.pos+1]) || isDelim(l.data[l.pos+1])) {
			l.pos++
			return ref{int(num), int(gen)}
		}
	}
	l.pos = save
	return tok
}

func (l *lexer) name() (object, error) {
	raw := l.regular()
	if bytes.IndexByte(raw, '#') < 0 {
		return name(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) {
			if v, err := strconv.ParseUint(string(raw[i+1:i+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 2
				continue
			}
		}
		out = append(out, raw[i])
	}
	return name(out), nil
}

func (l *lexer) arrayBody(depth int) (object, error) {
	var a array
	for {
		l.skipSpace()
		if l.pos >= len(l.data) {
			l.short = true
			return nil, fmt.Errorf("%w: unterminated array", errSyntax)
		}
		if l.data[l.pos] == ']' {
			l.pos++
			return a, nil
		}
		o, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, o)
	}
}

func (l *lexer) dictBody(depth int) (object, error) {
	var d dict
	for {
		l.skipSpace()
		if l.pos+1 < len(l.data) && l.data[l.pos] == '>' && l.data[l.pos+1] == '>' {
			l.pos += 2
			return d, nil
		}
		if l.pos >= len(l.data) || l.data[l.pos] != '/' {
			l.atEnd()
			return nil, fmt.Errorf("%w: dictionary key expected at offset %d", errSyntax, l.base+l.pos)
		}
		l.pos++
		k, _ := l.name()
		v, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		d = append(d, entry{string(k.(name)), v})
	}
}

func (l *lexer) hexString() (object, error) {
	start := l.pos
	end := bytes.IndexByte(l.data[start:], '>')
	if end < 0 {
		l.short = true
		return nil, fmt.Errorf("%w: unterminated hex string at offset %d", errSyntax, l.base+start)
	}
	body := l.data[start+1 : start+end]
	l.pos = start + end + 1
	out := make([]byte, 0, len(body)/2)
	var hi byte
	half := false
	for _, c := range body {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		case isWhite(c):
			continue
		default:
			return nil, fmt.Errorf("%w: bad hex string at offset %d", errSyntax, l.base+start)
		}
		if half {
			out = append(out, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		out = append(out, hi<<4)
	}
	return &pdfString{b: out, hex: true, start: l.base + start, end: l.base + l.pos}, nil
}

func (l *lexer) literalString() (object, error) {
	start := l.pos
	l.pos++
	var out []byte
	nest := 0
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		switch c {
		case '(':
			nest++
		case ')':
			if nest == 0 {
				return &pdfString{b: out, start: l.base + start, end: l.base + l.pos}, nil
			}
			nest--
		case '\\':
			if c, ok := l.escape(); ok {
				out = append(out, c)
			}
			continue
		case '\r':
			// An end-of-line in a string is a single \n.
			if l.pos < len(l.data) && l.data[l.pos] == '\n' {
				l.pos++
			}
			c = '\n'
		}
		out = append(out, c)
	}
	l.short = true
	return nil, fmt.Errorf("%w: unterminated string at offset %d", errSyntax, l.base+start)
}

// escape decodes the escape after a backslash; ok is false for a line continuation.
func (l *lexer) escape() (c byte, ok bool) {
	if l.pos >= len(l.data) {
		return '\\', true
	}
	c = l.data[l.pos]
	l.pos++
	switch c {
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case '\r':
		if l.pos < len(l.data) && l.data[l.pos] == '\n' {
			l.pos++
		}
		return 0, false
	case '\n':
		return 0, false
	}
	if c >= '0' && c <= '7' {
		v := int(c - '0')
		for i := 0; i < 2 && l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '7'; i++ {
			v = v*8 + int(l.data[l.pos]-'0')
			l.pos++
		}
		return byte(v), true
	}
	return c, true
}

// writeObject appends the PDF syntax of o to b.
func writeObject(b []byte, o object) []byte {
	switch v := o.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case number:
		return append(b, v...)
	case name:
		return appendName(b, string(v))
	case *pdfString:
		return appendString(b, v.b)
	case ref:
		b = strconv.AppendInt(b, int64(v.num), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(v.gen), 10)
		return append(b, " R"...)
	case array:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ' ')
			}
			b = writeObject(b, e)
		}
		return append(b, ']')
	case dict:
		b = append(b, "<<"...)
		for _, e := range v {
			b = appendName(b, e.key)
			b = append(b, ' ')
			b = writeObject(b, e.val)
		}
		return append(b, ">>"...)
	}
	// Streams are never written as direct objects; the update writer handles them.
	panic(fmt.Sprintf("pades: cannot write %T as a direct object", o))
}

func appendName(b []byte, n string) []byte {
	const hexdigits = "0123456789ABCDEF"
	b = append(b, '/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < '!' || c > '~' || c == '#' || isDelim(c) {
			b = append(b, '#', hexdigits[c>>4], hexdigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendString writes s as a literal string when it is printable ASCII and as a hex string
// otherwise, so that no raw binary ends up in the file.
func appendString(b []byte, s []byte) []byte {
	for _, c := range s {
		if c < ' ' || c > '~' {
			return appendHexString(b, s)
		}
	}
	b = append(b, '(')
	for _, c := range s {
		if c == '(' || c == ')' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, ')')
}

func appendHexString(b []byte, s []byte) []byte {
	const hexdigits = "0123456789ABCDEF"
	b = append(b, '<')
	for _, c := range s {
		b = append(b, hexdigits[c>>4], hexdigits[c&15])
	}
	return append(b, '>')
}
