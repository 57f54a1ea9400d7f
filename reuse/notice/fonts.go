package notice

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

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
	latin face = iota
	cjk
)

// family is the fpdf font family name of f.
func (f face) family() string {
	if f == cjk {
		return "cjk"
	}
	return "latin"
}

// fontFile is one loaded font: its bytes for fpdf and its parsed form for coverage checks.
type fontFile struct {
	data []byte
	sfnt *sfnt.Font
}

// loadedFonts holds both fonts' bytes, read once per Renderer.
type loadedFonts struct {
	cjk, latin fontFile
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

func readFont(path, defaultPath, pkg string) (fontFile, error) {
	if path != defaultPath {
		pkg = ""
	}
	if path == "" {
		return fontFile{}, &MissingFontError{Path: `""`, Err: fs.ErrNotExist}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fontFile{}, &MissingFontError{Path: path, Package: pkg, Err: err}
	}
	// fpdf loads only single TrueType fonts; it would fail later with a vaguer message.
	switch {
	case bytes.HasPrefix(data, []byte("ttcf")):
		return fontFile{}, fmt.Errorf("notice: font %s: a TrueType collection (.ttc) cannot be embedded, use a single .ttf", path)
	case bytes.HasPrefix(data, []byte("OTTO")):
		return fontFile{}, fmt.Errorf("notice: font %s: a CFF OpenType font cannot be embedded, use a TrueType .ttf", path)
	}
	parsed, err := sfnt.Parse(data)
	if err != nil {
		return fontFile{}, fmt.Errorf("notice: font %s: %w", path, err)
	}
	return fontFile{data: data, sfnt: parsed}, nil
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

func (c *coverage) has(f fontFile, r rune) bool {
	g, err := f.sfnt.GlyphIndex(&c.buf, r)
	return err == nil && g != 0
}

// faceOf prefers the Latin font below the CJK blocks (U+2E80) so digits and letters keep
// their Latin shapes, and the CJK font above them; a rune missing from the preferred font
// falls back to the other one.
func (c *coverage) faceOf(r rune) face {
	if f, ok := c.memo[r]; ok {
		return f
	}
	f := cjk
	if r < 0x2E80 {
		f = latin
	}
	if f == latin && !c.has(c.fonts.latin, r) && c.has(c.fonts.cjk, r) {
		f = cjk
	} else if f == cjk && !c.has(c.fonts.cjk, r) && c.has(c.fonts.latin, r) {
		f = latin
	}
	c.memo[r] = f
	return f
}
