// Package sealimage draws seal images (印模) from a seal's data: the round or oval seal of a
// unit, with its name along the upper arc, a five-pointed star, the seal's name across and its
// code along the lower arc, and the square name seal of a legal representative. Images are red
// on transparent PNGs, anti-aliased, at least 600 pixels across.
//
// Characters are drawn from a CJK OpenType font (Debian's fonts-noto-cjk); every character is
// looked up before anything is drawn, and one the font lacks is a *MissingCharError, never a
// box.
package sealimage

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/image/font/sfnt"
)

// DefaultFont is the font seals are drawn with: Noto Serif CJK Bold, from Debian's
// fonts-noto-cjk (a serif face, as filed seals use 宋体-like faces).
const DefaultFont = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"

// Font is a CJK font to draw seal text with. It is safe for concurrent use.
type Font struct {
	f    *sfnt.Font
	file *os.File
	name string
}

// OpenFont opens an OpenType font or collection (.ttc, .otc), choosing in a collection the
// Simplified Chinese face (its family name ends in "SC"), else the first. The file stays open
// until Close.
func OpenFont(path string) (*Font, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sealimage: font: %w", err)
	}
	f, err := pick(file)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("sealimage: font %s: %w", path, err)
	}
	var b sfnt.Buffer
	name, _ := f.Name(&b, sfnt.NameIDFull)
	return &Font{f: f, file: file, name: name}, nil
}

func pick(file *os.File) (*sfnt.Font, error) {
	c, err := sfnt.ParseCollectionReaderAt(file)
	if err != nil {
		return nil, err
	}
	if c.NumFonts() == 0 {
		return nil, errors.New("no fonts in the file")
	}
	var b sfnt.Buffer
	for i := range c.NumFonts() {
		f, err := c.Font(i)
		if err != nil {
			return nil, err
		}
		fam, err := f.Name(&b, sfnt.NameIDFamily)
		if err == nil && strings.HasSuffix(strings.TrimSpace(fam), " SC") {
			return f, nil
		}
	}
	return c.Font(0)
}

// Name is the font's full name, e.g. "Noto Serif CJK SC Bold".
func (f *Font) Name() string { return f.name }

// Close closes the font file.
func (f *Font) Close() error { return f.file.Close() }

// MissingCharError is a character of a seal's text that the font does not have.
type MissingCharError struct {
	Field string // the field the text came from: "unit", "title", "code", "name"
	Char  rune
	Font  string
}

func (e *MissingCharError) Error() string {
	return fmt.Sprintf("sealimage: the font %s has no character %q (U+%04X) in %s", e.Font, e.Char, e.Char, e.Field)
}

// check returns the glyph of every character of text, or a *MissingCharError for the first
// the font lacks.
func (f *Font) check(b *sfnt.Buffer, field, text string) ([]sfnt.GlyphIndex, error) {
	var out []sfnt.GlyphIndex
	for _, r := range text {
		g, err := f.f.GlyphIndex(b, r)
		if err != nil {
			return nil, fmt.Errorf("sealimage: glyph %q: %w", r, err)
		}
		if g == 0 {
			return nil, &MissingCharError{Field: field, Char: r, Font: f.name}
		}
		out = append(out, g)
	}
	return out, nil
}
