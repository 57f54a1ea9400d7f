package pades

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// textString encodes s as a PDF text string: printable ASCII as it is, anything else as
// UTF-16BE with a byte order mark. The writer puts the latter in a hex string, so the
// UTF-16 bytes never meet the delimiters of a literal string.
func textString(s string) *pdfString {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			ascii = false
			break
		}
	}
	if ascii {
		return &pdfString{b: []byte(s), start: -1, end: -1}
	}
	b := make([]byte, 2, 2+2*len(s))
	b[0], b[1] = 0xfe, 0xff
	for _, u := range utf16.Encode([]rune(strings.ToValidUTF8(s, "\uFFFD"))) {
		b = append(b, byte(u>>8), byte(u))
	}
	return &pdfString{b: b, hex: true, start: -1, end: -1}
}

// decodeText decodes a PDF text string: UTF-16BE or UTF-8 with a byte order mark, or
// PDFDocEncoding.
func decodeText(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff:
		u := make([]uint16, 0, (len(b)-2)/2)
		for i := 2; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return string(utf16.Decode(u))
	case len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf && utf8.Valid(b[3:]):
		return string(b[3:])
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(pdfDocRune(c))
	}
	return sb.String()
}

// PDFDocEncoding's bytes 0x80–0x9F and 0x18–0x1F (ISO 32000-1, annex D.2).
const (
	pdfDocHigh = "•†‡…—–ƒ⁄‹›−‰„“”‘’‚™ﬁﬂŁŒŠŸŽıłœšž\uFFFD"
	pdfDocLow  = "˘ˇˆ˙˝˛˚˜"
)

func pdfDocRune(c byte) rune {
	switch {
	case c >= 0x18 && c <= 0x1f:
		return []rune(pdfDocLow)[c-0x18]
	case c >= 0x80 && c <= 0x9f:
		return []rune(pdfDocHigh)[c-0x80]
	case c == 0xa0:
		return '€'
	case c == 0x7f || c == 0xad:
		return '\uFFFD'
	}
	return rune(c)
}

// pdfDate formats t as a PDF date string, D:YYYYMMDDHHmmSS followed by the zone.
func pdfDate(t time.Time) string {
	s := t.Format("D:20060102150405")
	_, off := t.Zone()
	if off == 0 {
		return s + "Z"
	}
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%s%c%02d'%02d'", s, sign, off/3600, off%3600/60)
}

// parseDate parses a PDF date string. Missing trailing fields take their defaults; a missing
// zone is read as UTC.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimPrefix(s, "D:")
	fields := []struct{ n, min, max, def int }{
		{4, 0, 9999, 0}, {2, 1, 12, 1}, {2, 1, 31, 1}, {2, 0, 23, 0}, {2, 0, 59, 0}, {2, 0, 59, 0},
	}
	var v [6]int
	p := 0
	for i, f := range fields {
		v[i] = f.def
		if p+f.n > len(s) || !digits(s[p:p+f.n]) {
			if i == 0 {
				return time.Time{}, fmt.Errorf("bad date %q", s)
			}
			break
		}
		v[i], _ = strconv.Atoi(s[p : p+f.n])
		if v[i] < f.min || v[i] > f.max {
			return time.Time{}, fmt.Errorf("bad date %q", s)
		}
		p += f.n
	}
	loc := time.UTC
	if p < len(s) && (s[p] == '+' || s[p] == '-') {
		zone := strings.NewReplacer("'", "").Replace(s[p+1:])
		hh, mm := 0, 0
		if len(zone) >= 2 && digits(zone[:2]) {
			hh, _ = strconv.Atoi(zone[:2])
		}
		if len(zone) >= 4 && digits(zone[2:4]) {
			mm, _ = strconv.Atoi(zone[2:4])
		}
		off := hh*3600 + mm*60
		if s[p] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	return time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, loc), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
