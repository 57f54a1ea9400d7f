package notice

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"
)

// ptToMM converts a font size in points to millimetres, the document's unit.
const ptToMM = 25.4 / 72

// lineHeight is the distance between baselines for text of size pt, in mm.
func lineHeight(size float64) float64 { return size * ptToMM * 1.5 }

// baseline is where text of size pt sits in a line whose top is at top: the line's middle
// plus half a cap height, so the glyphs look vertically centred.
func baseline(top, size float64) float64 {
	return top + lineHeight(size)/2 + size*ptToMM*0.36
}

// run is text set in one face, with its width in mm.
type run struct {
	face face
	text string
	w    float64
}

// line is one typeset line: runs drawn left to right without gaps.
type line struct {
	runs []run
	w    float64
}

// pline is a line placed at an offset from the left edge of its column.
type pline struct {
	dx float64
	l  line
}

// Characters that must not begin a line (closing punctuation) or end one (opening
// punctuation), after the simple kinsoku rules common in Chinese typesetting.
const (
	noStartChars = "，。、；：？！）」』》〉】〕］｝”’…‰%％,.;:?!)]}"
	noEndChars   = "（「『《〈【〔［｛“‘([{"
)

// token is the unit of line breaking: a single CJK character, a Latin word (kept whole
// unless it is wider than a line) or a space.
type token struct {
	text    string
	runes   int // number of characters in text
	runs    []run
	w       float64
	space   bool
	noStart bool
	noEnd   bool
}

// typesetter measures text against the fonts loaded into one fpdf document. It must run
// before the document's first page, since selecting a font on a page writes to it.
type typesetter struct {
	pdf  *fpdf.Fpdf
	cov  *coverage
	face face
	size float64
}

func (t *typesetter) width(f face, size float64, s string) float64 {
	if f != t.face || size != t.size {
		t.pdf.SetFont(f.family(), "", size)
		t.face, t.size = f, size
	}
	return t.pdf.GetStringWidth(s)
}

// missingGlyph stands in for a character neither font can show, as is customary for rare
// characters in Chinese print; it is in the Latin font.
const missingGlyph = '□'

// runsOf splits s into runs by face. Characters neither font has print as missingGlyph,
// control characters and unusual spaces as a plain space.
func (t *typesetter) runsOf(s string, size float64) []run {
	var runs []run
	var text strings.Builder
	cur := none
	for _, r := range s {
		if unicode.IsSpace(r) && r != '\u3000' || unicode.IsControl(r) {
			r = ' '
		}
		f, ok := t.cov.faceOf(r)
		if !ok {
			r = missingGlyph
			if f, ok = t.cov.faceOf(r); !ok {
				r, f = '?', latin
			}
		}
		if f != cur && text.Len() > 0 {
			runs = append(runs, run{face: cur, text: text.String()})
			text.Reset()
		}
		cur = f
		text.WriteRune(r)
	}
	if text.Len() > 0 {
		runs = append(runs, run{face: cur, text: text.String()})
	}
	for i := range runs {
		runs[i].w = t.width(runs[i].face, size, runs[i].text)
	}
	return runs
}

// line typesets s as one unbroken line.
func (t *typesetter) line(s string, size float64) line {
	var l line
	for _, r := range t.runsOf(s, size) {
		l = l.add(r)
	}
	return l
}

func (l line) add(r run) line {
	if n := len(l.runs); n > 0 && l.runs[n-1].face == r.face {
		l.runs[n-1].text += r.text
		l.runs[n-1].w += r.w
	} else {
		l.runs = append(l.runs, r)
	}
	l.w += r.w
	return l
}

// breaksAnywhere reports whether a line may break on either side of r, as between any two
// Chinese characters.
func (t *typesetter) breaksAnywhere(r rune) bool {
	f, _ := t.cov.faceOf(r)
	return r >= 0x2E80 || f == cjk
}

func (t *typesetter) tokenize(s string, size, maxW float64) []token {
	var toks []token
	word := -1 // start of the pending Latin word in s
	flush := func(end int) {
		if word < 0 {
			return
		}
		w := s[word:end]
		word = -1
		tok := t.token(w, size)
		if tok.w <= maxW {
			toks = append(toks, tok)
			return
		}
		// A word wider than the column (a long code or URL) breaks between any characters.
		toks = append(toks, t.chars(w, size)...)
	}
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			flush(i)
			tok := t.token(" ", size)
			tok.space = true
			toks = append(toks, tok)
		case t.breaksAnywhere(r):
			flush(i)
			toks = append(toks, t.token(string(r), size))
		default:
			if word < 0 {
				word = i
			}
		}
	}
	flush(len(s))
	return toks
}

func (t *typesetter) token(s string, size float64) token {
	tok := token{text: s, runes: utf8.RuneCountInString(s), runs: t.runsOf(s, size)}
	for _, r := range tok.runs {
		tok.w += r.w
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	tok.noStart = strings.ContainsRune(noStartChars, first)
	tok.noEnd = strings.ContainsRune(noEndChars, last)
	return tok
}

// chars splits a word into one token per character.
func (t *typesetter) chars(w string, size float64) []token {
	var toks []token
	for _, r := range w {
		toks = append(toks, t.token(string(r), size))
	}
	return toks
}

// wrap breaks s into lines no wider than maxW; the first line of each paragraph (s is split
// at newlines) is indented by indent. A line may break between any two CJK characters and at
// spaces, but not before closing or after opening punctuation: the character before such a
// break moves down with it.
func (t *typesetter) wrap(s string, size, maxW, indent float64) []pline {
	var out []pline
	for _, para := range strings.Split(s, "\n") {
		toks := t.tokenize(para, size, maxW-indent)
		before := len(out)
		start, x, dx := 0, 0.0, indent
		emit := func(end int) {
			var l line
			for _, tok := range toks[start:end] {
				for _, r := range tok.runs {
					l = l.add(r)
				}
			}
			// Trailing spaces take no room at the end of a line.
			for n := len(l.runs); n > 0; n = len(l.runs) {
				last := &l.runs[n-1]
				trimmed := strings.TrimRight(last.text, " ")
				if trimmed == last.text {
					break
				}
				if trimmed == "" {
					l.w -= last.w
					l.runs = l.runs[:n-1]
					continue
				}
				w := t.width(last.face, size, trimmed)
				l.w -= last.w - w
				last.text, last.w = trimmed, w
			}
			out = append(out, pline{dx: dx, l: l})
			start, x, dx = end, 0, 0
		}
		for i := 0; i < len(toks); i++ {
			tok := toks[i]
			if tok.space && i == start {
				start++ // no space at the start of a line
				continue
			}
			if i == start || x+tok.w <= maxW-dx {
				x += tok.w
				continue
			}
			forbidden := func(b int) bool { return toks[b].noStart || toks[b-1].noEnd }
			b := i
			for b > start+1 && forbidden(b) {
				b--
			}
			if forbidden(b) {
				// Only a whole-line Latin word next to the punctuation is left: break inside
				// the word rather than strand the punctuation, and set the line again.
				if j := b; toks[j].runes > 1 || toks[j-1].runes > 1 {
					if toks[j].runes <= 1 {
						j--
					}
					toks = slices.Concat(toks[:j], t.chars(toks[j].text, size), toks[j+1:])
					i, x = start-1, 0
					continue
				}
			}
			emit(b)
			i = b - 1
		}
		if start < len(toks) || len(out) == before {
			emit(len(toks))
		}
	}
	return out
}
