// Package notice renders the one-time notice (一次性告知书): the single document in which a
// service center tells an applicant every material still missing for a case (DB44/T 2138
// §10.3.3), as a printable A4 PDF.
//
// The PDF embeds its fonts and never relies on the reader's. Chinese text is set in a CJK
// TrueType font and Latin letters and digits in a Latin one, switching per run of text,
// because the CJK font Debian ships (Droid Sans Fallback) has no Latin digits.
package notice

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// Notice is the content of one one-time notice.
type Notice struct {
	Center    string    // the service center, e.g. "天河区政务服务中心"
	CaseNo    string    // e.g. "TH-2026-000123"
	ItemCode  string    // the service item's code, e.g. "440106-FOOD-001"
	ItemName  string    // e.g. "食品经营许可证核发"
	Applicant string    // the masked holder ID, e.g. "4401**********123X"; a clear ID is refused
	Missing   []Missing // every material still to submit, in order; empty means complete
	Staff     string    // the window clerk's display name, e.g. "综合窗口 李娜"
	Date      time.Time // the notice's date, printed in its own location as 2026年11月25日
}

// Missing is one material the applicant still has to submit.
type Missing struct {
	Name         string   // e.g. "无犯罪记录证明"
	Reason       string   // why it must be submitted, e.g. "已于 2026-10-01 过期"
	Requirements []string // how it must be acquired, e.g. "原件核验", "彩色扫描，不低于 200 DPI"
	Optional     bool     // printed as （可选）
}

// ErrInvalid is wrapped by the error PDF returns for a notice it refuses to print.
var ErrInvalid = errors.New("invalid notice")

// Renderer renders notices with one pair of fonts, reading the font files on first use and
// keeping them for later notices. It is safe for concurrent use.
type Renderer struct {
	fonts Fonts
	cache fontCache
}

// NewRenderer returns a Renderer that embeds the given fonts.
func NewRenderer(f Fonts) *Renderer {
	return &Renderer{fonts: f}
}

// defaultRenderer keeps the default fonts in memory for the life of the process, so that
// only the first notice pays for reading them.
var defaultRenderer = NewRenderer(DefaultFonts())

// PDF renders the notice as an A4 PDF with the fonts embedded, using DefaultFonts. A missing
// font file is reported as a *MissingFontError.
func PDF(n Notice) ([]byte, error) {
	return defaultRenderer.PDF(n)
}

// PDF renders the notice as an A4 PDF with r's fonts embedded. A missing font file is
// reported as a *MissingFontError; a notice without center, case number, item name or date,
// a material without a name, or an applicant ID that is not masked, as ErrInvalid.
func (r *Renderer) PDF(n Notice) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	fonts, err := r.cache.get(r.fonts)
	if err != nil {
		return nil, err
	}
	// A pass that draws a character missing from the current cuts grows them and starts
	// again: widths were measured without it. The characters drawn do not depend on the
	// cuts, so a second pass suffices.
	for range 3 {
		cjkCut, latinCut := fonts.cjk.current(), fonts.latin.current()
		pdf := newDocument(n, cjkCut, latinCut)
		if err := pdf.Error(); err != nil {
			return nil, fmt.Errorf("notice: load fonts: %w", err)
		}
		c := &composer{ts: &typesetter{pdf: pdf, cov: newCoverage(fonts), face: none}, n: n}
		c.compose()
		if err := pdf.Error(); err != nil {
			return nil, fmt.Errorf("notice: typeset: %w", err)
		}
		grown := false
		for f, have := range map[face]*cut{cjk: cjkCut, latin: latinCut} {
			if missing := c.missing(f, have); len(missing) > 0 {
				fonts.file(f).extend(missing)
				grown = true
			}
		}
		if grown {
			continue
		}
		c.draw(pdf)
		var buf bytes.Buffer
		if err := pdf.Output(&buf); err != nil {
			return nil, fmt.Errorf("notice: write pdf: %w", err)
		}
		return buf.Bytes(), nil
	}
	return nil, errors.New("notice: font subsets do not cover the notice")
}

// newDocument starts an A4 document with the two font cuts loaded.
func newDocument(n Notice, cjkCut, latinCut *cut) *fpdf.Fpdf {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(marginX, marginTop, marginX)
	pdf.AddUTF8FontFromBytes(cjk.family(), "", cjkCut.data)
	pdf.AddUTF8FontFromBytes(latin.family(), "", latinCut.data)
	pdf.SetTitle("一次性告知书 "+n.CaseNo, true)
	pdf.SetAuthor(n.Center, true)
	pdf.SetCreator("sealvault", true)
	// Dated by the notice, not the clock: a notice printed again carries its own date.
	pdf.SetCreationDate(n.Date)
	pdf.SetModificationDate(n.Date)
	pdf.SetCatalogSort(true)
	return pdf
}

func (n Notice) validate() error {
	for _, f := range []struct{ name, value string }{
		{"center", n.Center},
		{"case number", n.CaseNo},
		{"item name", n.ItemName},
	} {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("notice: %s is empty: %w", f.name, ErrInvalid)
		}
	}
	if n.Date.IsZero() {
		return fmt.Errorf("notice: date is zero: %w", ErrInvalid)
	}
	if isClearID(n.Applicant) {
		// The number itself stays out of the error, which may be logged.
		return fmt.Errorf("notice: applicant ID is not masked: %w", ErrInvalid)
	}
	for i, m := range n.Missing {
		if strings.TrimSpace(m.Name) == "" {
			return fmt.Errorf("notice: material %d has no name: %w", i+1, ErrInvalid)
		}
	}
	return nil
}

// isClearID reports whether s looks like an unmasked mainland resident ID number (15 digits,
// or 17 digits and a check digit or X).
func isClearID(s string) bool {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i, r := range s {
		if r >= '0' && r <= '9' || i == 17 && (r == 'X' || r == 'x') {
			continue
		}
		return false
	}
	return true
}

// chineseDate formats t as 2026年11月25日.
func chineseDate(t time.Time) string {
	return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
}
