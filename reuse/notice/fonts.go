package notice

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/sfnt"
)

// Where Debian installs the two fonts a notice embeds, and the packages that ship them.
const (
	// DefaultCJKFont covers Chinese characters and CJK punctuation, but not Latin digits.
	DefaultCJKFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
	// DefaultCJKPackage is the Debian package that installs DefaultCJKFont.
	DefaultCJKPackage = "fonts-droid-fallback"
	// DefaultLatinFont covers Latin letters, digits and common symbols.
	DefaultLatinFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
	// DefaultLatinPackage is the Debian package that installs DefaultLatinFont.
	DefaultLatinPackage = "fonts-dejavu-core"
)

// Fonts names the two TrueType files (.ttf, not .ttc or .otf) a notice embeds. Text is split
// into runs by script: Latin letters, digits and symbols are set in Latin, everything else
// (Chinese characters, full-width punctuation) in CJK.
type Fonts struct {
	CJK   string
	Latin string
}

// DefaultFonts returns the Debian font paths DefaultCJKFont and DefaultLatinFont.
func DefaultFonts() Fonts {
	return Fonts{CJK: DefaultCJKFont, Latin: DefaultLatinFont}
}

// MissingFontError reports a font file that cannot be read. Package names the Debian package
// that installs the file when it is one of the default paths.
type MissingFontError struct {
	Path    string
	Package string
	Err     error
}

func (e *MissingFontError) Error() string {
	if e.Package != "" {
		return fmt.Sprintf("notice: font %s: %v (install the Debian package %s)", e.Path, e.Err, e.Package)
	}
	return fmt.Sprintf("notice: font %s: %v", e.Path, e.Err)
}

// Unwrap returns the underlying error, typically fs.ErrNotExist.
func (e *MissingFontError) Unwrap() error { return e.Err }

// face is one of the two embedded fonts.
type face int

const (
	none face = iota - 1 // covered by neither font
	latin
	cjk
)

// family is the fpdf font family name of f.
func (f face) family() string {
	if f == cjk {
		return "cjk"
	}
	return "latin"
}

// fontFile is one loaded font: the whole file, its parsed form for coverage checks, and a
// cut of it holding only the characters notices have needed so far.
//
// fpdf parses every font it is given, cmap and all, for every document; for the 4 MB CJK
// font that alone takes tens of milliseconds. A cut of a few hundred characters parses in
// well under a millisecond, and grows only when a notice brings a character it lacks (at
// worst to the whole font, as slow as no cut at all).
type fontFile struct {
	data []byte
	sfnt *sfnt.Font

	mu  sync.Mutex
	cut *cut
}

// cut is an immutable subset of a font.
type cut struct {
	data  []byte
	runes map[rune]bool
}

// current returns the cut as it is now.
func (f *fontFile) current() *cut {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cut
}

// extend replaces the cut with one that also holds runes.
func (f *fontFile) extend(runes []rune) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := &cut{runes: make(map[rune]bool, len(f.cut.runes)+len(runes))}
	for r := range f.cut.runes {
		next.runes[r] = true
	}
	for _, r := range runes {
		next.runes[r] = true
	}
	if len(next.runes) == len(f.cut.runes) {
		return
	}
	all := make([]rune, 0, len(next.runes))
	for r := range next.runes {
		all = append(all, r)
	}
	slices.Sort(all)
	next.data = fpdf.UTF8CutFont(f.data, string(all))
	f.cut = next
}

// loadedFonts holds both fonts, read once per Renderer.
type loadedFonts struct {
	cjk, latin *fontFile
}

func (l *loadedFonts) file(f face) *fontFile {
	if f == cjk {
		return l.cjk
	}
	return l.latin
}

// fontCache reads the font files once; a failed read is retried on the next call, so
// installing a missing package does not require a restart.
type fontCache struct {
	mu     sync.Mutex
	loaded *loadedFonts
}

func (c *fontCache) get(f Fonts) (*loadedFonts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded != nil {
		return c.loaded, nil
	}
	cj, err := readFont(f.CJK, DefaultCJKFont, DefaultCJKPackage)
	if err != nil {
		return nil, err
	}
	la, err := readFont(f.Latin, DefaultLatinFont, DefaultLatinPackage)
	if err != nil {
		return nil, err
	}
	c.loaded = &loadedFonts{cjk: cj, latin: la}
	return c.loaded, nil
}

func readFont(path, defaultPath, pkg string) (*fontFile, error) {
	if path != defaultPath {
		pkg = ""
	}
	if path == "" {
		return nil, &MissingFontError{Path: `""`, Err: fs.ErrNotExist}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &MissingFontError{Path: path, Package: pkg, Err: err}
	}
	// fpdf loads only single TrueType fonts; it would fail later with a vaguer message.
	switch {
	case bytes.HasPrefix(data, []byte("ttcf")):
		return nil, fmt.Errorf("notice: font %s: a TrueType collection (.ttc) cannot be embedded, use a single .ttf", path)
	case bytes.HasPrefix(data, []byte("OTTO")):
		return nil, fmt.Errorf("notice: font %s: a CFF OpenType font cannot be embedded, use a TrueType .ttf", path)
	}
	parsed, err := sfnt.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("notice: font %s: %w", path, err)
	}
	f := &fontFile{data: data, sfnt: parsed, cut: &cut{}}
	// Every notice uses digits and ASCII punctuation, if only in its page numbers.
	var ascii []rune
	for r := rune(' '); r <= '~'; r++ {
		ascii = append(ascii, r)
	}
	f.extend(ascii)
	return f, nil
}

// coverage decides which face sets each rune. It is used by one document at a time.
type coverage struct {
	fonts *loadedFonts
	buf   sfnt.Buffer
	memo  map[rune]face
}

func newCoverage(f *loadedFonts) *coverage {
	return &coverage{fonts: f, memo: make(map[rune]face)}
}

func (c *coverage) has(f *fontFile, r rune) bool {
	g, err := f.sfnt.GlyphIndex(&c.buf, r)
	return err == nil && g != 0
}

// faceOf prefers the Latin font below the CJK blocks (U+2E80) so digits and letters keep
// their Latin shapes, and the CJK font above them; a rune missing from the preferred font
// falls back to the other one. It reports false for a rune neither font has, or one beyond
// the Basic Multilingual Plane, which fpdf cannot embed.
func (c *coverage) faceOf(r rune) (face, bool) {
	if f, ok := c.memo[r]; ok {
		return f, f != none
	}
	f := none
	inLatin := r <= 0xFFFF && c.has(c.fonts.latin, r)
	inCJK := r <= 0xFFFF && c.has(c.fonts.cjk, r)
	switch {
	case inLatin && (r < 0x2E80 || !inCJK):
		f = latin
	case inCJK:
		f = cjk
	}
	c.memo[r] = f
	return f, f != none
}
