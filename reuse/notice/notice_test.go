package notice

import (
	"errors"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

func sample() Notice {
	return Notice{
		Center:    "天河区政务服务中心",
		CaseNo:    "TH-2026-000123",
		ItemCode:  "440106-FOOD-001",
		ItemName:  "食品经营许可证核发",
		Applicant: "4401**********123X",
		Staff:     "综合窗口 李娜",
		Date:      time.Date(2026, 11, 25, 9, 30, 0, 0, time.FixedZone("CST", 8*3600)),
		Missing: []Missing{
			{Name: "无犯罪记录证明", Reason: "已于 2026-10-01 过期", Requirements: []string{"原件核验", "彩色扫描，不低于 200 DPI", "最多 2 页", "接受 PDF、JPEG"}},
			{Name: "营业执照副本", Reason: "未留存", Requirements: []string{"原件核验"}, Optional: true},
			{Name: "健康证明", Reason: "超过 90 天", Requirements: []string{"由具备资质的医疗机构出具，须加盖公章，姓名、证件号码与申请人一致，体检项目包括（但不限于）肠道传染病检查。"}},
		},
	}
}

// render writes the notice's PDF to a temporary file and returns its path.
func render(t *testing.T, n Notice) string {
	t.Helper()
	b, err := PDF(n)
	if err != nil {
		t.Fatalf("PDF: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notice.pdf")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// poppler runs one of poppler-utils' tools; a missing tool fails the test.
func poppler(t *testing.T, tool string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found, install the Debian package poppler-utils: %v", tool, err)
	}
	out, err := exec.CommandContext(t.Context(), path, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %v: %v\n%s", tool, args, err, stderr)
	}
	return string(out)
}

func pageText(t *testing.T, pdf string, page int) string {
	t.Helper()
	p := strconv.Itoa(page)
	return poppler(t, "pdftotext", "-layout", "-f", p, "-l", p, pdf, "-")
}

func pageCount(t *testing.T, pdf string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindStringSubmatch(poppler(t, "pdfinfo", pdf))
	if m == nil {
		t.Fatalf("pdfinfo %s: no page count", pdf)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// flat removes all white space, joining lines that wrapped within a paragraph.
func flat(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// footer matches the page number line; pdftotext may drop the spaces around the digits.
func footer(page, total int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`第\s*%d\s*页\s*/\s*共\s*%d\s*页`, page, total))
}

func TestPDFText(t *testing.T) {
	n := sample()
	pdf := render(t, n)
	if got := pageCount(t, pdf); got != 1 {
		t.Fatalf("pages = %d, want 1", got)
	}
	text := poppler(t, "pdftotext", "-layout", pdf, "-")
	want := []string{
		"一次性告知书", n.Center, n.CaseNo, n.ItemName, n.ItemCode, n.Applicant,
		"综合窗口 李娜", "2026年11月25日", "200 DPI", "最多 2 页", "PDF、JPEG", "（可选）", "申请人签收：____",
	}
	for _, m := range n.Missing {
		want = append(want, m.Name, m.Reason)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q", w)
		}
	}
	if !strings.Contains(flat(text), "经核查，尚需提交以下材料：") {
		t.Errorf("text lacks the introduction")
	}
	if !footer(1, 1).MatchString(text) {
		t.Errorf("text lacks the page footer 第 1 页 / 共 1 页")
	}
	if strings.Contains(text, "材料齐全") {
		t.Errorf("a notice with missing materials says they are complete")
	}
	if t.Failed() {
		t.Logf("pdftotext:\n%s", text)
	}
}

func TestPDFImage(t *testing.T) {
	pdf := render(t, sample())
	prefix := filepath.Join(t.TempDir(), "page")
	poppler(t, "pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", pdf, prefix)
	f, err := os.Open(prefix + "-1.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if ratio := float64(h) / float64(w); ratio < 1.40 || ratio > 1.43 {
		t.Errorf("page is %dx%d px, ratio %.3f, want A4's 1.414", w, h, ratio)
	}
	// Count dark pixels per band; the title band (15-30 mm from the top) is also checked for
	// being centred.
	px := func(mm float64) int { return int(mm / 25.4 * 60) }
	var upper, title, titleX int
	for y := b.Min.Y; y < b.Min.Y+h/3; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if (r+g+bl)/3 >= 0x8000 {
				continue
			}
			upper++
			if dy := y - b.Min.Y; dy >= px(15) && dy < px(30) {
				title++
				titleX += x - b.Min.X
			}
		}
	}
	if upper < 500 {
		t.Errorf("upper third has %d dark pixels, want text", upper)
	}
	if title == 0 {
		t.Fatalf("no title in the title band")
	}
	if mid := float64(titleX) / float64(title) / float64(w); mid < 0.47 || mid > 0.53 {
		t.Errorf("title centre at %.2f of the page width, want 0.5", mid)
	}
}

func TestPDFManyMaterials(t *testing.T) {
	n := sample()
	n.Missing = nil
	for i := range 25 {
		n.Missing = append(n.Missing, Missing{
			Name:         fmt.Sprintf("证明材料%02d号", i+1),
			Reason:       "已于 2026-10-01 过期，须重新开具",
			Requirements: []string{"原件核验", "彩色扫描，不低于 200 DPI", "由出具单位加盖公章，复印件须注明“与原件一致”并由申请人签名确认"},
		})
	}
	pdf := render(t, n)
	pages := pageCount(t, pdf)
	if pages < 2 {
		t.Fatalf("25 materials fit on %d page, want at least 2", pages)
	}
	var all strings.Builder
	for p := 1; p <= pages; p++ {
		text := pageText(t, pdf, p)
		all.WriteString(text)
		if !footer(p, pages).MatchString(text) {
			t.Errorf("page %d lacks 第 %d 页 / 共 %d 页", p, p, pages)
		}
		if p > 1 && !strings.Contains(text, n.CaseNo) {
			t.Errorf("continuation page %d does not name the case", p)
		}
		if p < pages && !strings.Contains(text, "材料名称") {
			t.Errorf("page %d lacks the table header", p)
		}
	}
	for i, m := range n.Missing {
		if c := strings.Count(all.String(), m.Name); c != 1 {
			t.Errorf("material %d %q appears %d times, want once", i+1, m.Name, c)
		}
	}
	if last := pageText(t, pdf, pages); !strings.Contains(last, "申请人签收") || !strings.Contains(last, "2026年11月25日") {
		t.Errorf("last page lacks the signature block:\n%s", last)
	}
}

func TestPDFComplete(t *testing.T) {
	n := sample()
	n.Missing = nil
	text := poppler(t, "pdftotext", "-layout", render(t, n), "-")
	for _, w := range []string{"经核查，材料齐全，无需补充。", n.ItemName, n.CaseNo, "申请人签收"} {
		if !strings.Contains(flat(text), w) {
			t.Errorf("text lacks %q", w)
		}
	}
	for _, w := range []string{"尚需提交", "材料名称"} {
		if strings.Contains(text, w) {
			t.Errorf("complete notice contains %q", w)
		}
	}
}

func TestPDFFontsEmbedded(t *testing.T) {
	out := poppler(t, "pdffonts", render(t, sample()))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 { // header, rule, two fonts
		t.Fatalf("pdffonts lists fewer than 2 fonts:\n%s", out)
	}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		// name type... encoding emb sub uni object ID
		if len(f) < 7 || f[len(f)-5] != "yes" {
			t.Errorf("font not embedded: %s", l)
		}
	}
}

func TestPDFUnprintable(t *testing.T) {
	n := sample()
	// An emoji, and a character beyond the Basic Multilingual Plane, which fpdf cannot embed.
	n.Missing[0].Name = "鑫淼😀犇𠀀证明"
	text := poppler(t, "pdftotext", "-layout", render(t, n), "-")
	if !strings.Contains(text, "鑫淼□犇□证明") {
		t.Errorf("text lacks the name with placeholders 鑫淼□犇□证明:\n%s", text)
	}
}

// TestPDFConcurrent renders notices whose characters are new to the font cuts at the same
// time, so that the cuts grow concurrently.
func TestPDFConcurrent(t *testing.T) {
	names := []string{"龘靐齉爨", "麤鱻骉驫", "垚壵掱猋", "瞐毳孨皛", "赑屃饕餮", "魑魅魍魉"}
	pdfs := make([][]byte, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			n := sample()
			n.Missing[2].Name = name
			pdfs[i], errs[i] = PDF(n)
		})
	}
	wg.Wait()
	for i, name := range names {
		if errs[i] != nil {
			t.Fatalf("%s: %v", name, errs[i])
		}
		path := filepath.Join(t.TempDir(), "notice.pdf")
		if err := os.WriteFile(path, pdfs[i], 0o600); err != nil {
			t.Fatal(err)
		}
		if text := poppler(t, "pdftotext", "-layout", path, "-"); !strings.Contains(text, name) {
			t.Errorf("notice %d lacks %q", i, name)
		}
	}
}

func TestPDFRefusesInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Notice)
	}{
		{"clear 18-digit ID", func(n *Notice) { n.Applicant = "44010619900101123X" }},
		{"clear 15-digit ID", func(n *Notice) { n.Applicant = "440106900101123" }},
		{"no case number", func(n *Notice) { n.CaseNo = " " }},
		{"no center", func(n *Notice) { n.Center = "" }},
		{"no item name", func(n *Notice) { n.ItemName = "" }},
		{"no date", func(n *Notice) { n.Date = time.Time{} }},
		{"unnamed material", func(n *Notice) { n.Missing[1].Name = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := sample()
			tt.change(&n)
			_, err := PDF(n)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), "19900101") || strings.Contains(err.Error(), "900101123") {
				t.Errorf("error reveals the ID number: %v", err)
			}
		})
	}
}

func TestMissingFont(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.ttf")
	_, err := NewRenderer(Fonts{CJK: missing, Latin: DefaultLatinFont}).PDF(sample())
	mf, ok := errors.AsType[*MissingFontError](err)
	if !ok {
		t.Fatalf("err = %v, want *MissingFontError", err)
	}
	if mf.Path != missing || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("err = %v, want it to name %s and wrap fs.ErrNotExist", err, missing)
	}

	// A default path names the Debian package that installs it.
	_, err = readFont(missing, missing, "fonts-example")
	if err == nil || !strings.Contains(err.Error(), "fonts-example") {
		t.Errorf("err = %v, want it to name the package", err)
	}

	ttc := filepath.Join(t.TempDir(), "collection.ttc")
	if err := os.WriteFile(ttc, []byte("ttcf\x00\x01\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = NewRenderer(Fonts{CJK: ttc, Latin: DefaultLatinFont}).PDF(sample())
	if err == nil || !strings.Contains(err.Error(), ".ttc") {
		t.Errorf("err = %v, want a refusal of the collection", err)
	}
}

func newTypesetter(t *testing.T) *typesetter {
	t.Helper()
	fonts, err := defaultRenderer.cache.get(DefaultFonts())
	if err != nil {
		t.Fatal(err)
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(cjk.family(), "", fonts.cjk.data)
	pdf.AddUTF8FontFromBytes(latin.family(), "", fonts.latin.data)
	if err := pdf.Error(); err != nil {
		t.Fatal(err)
	}
	return &typesetter{pdf: pdf, cov: newCoverage(fonts), face: none}
}

// TestEveryGlyphCovered checks that no character is drawn in a font that lacks it, which
// would print as an empty box: digits and Latin letters in the CJK font, for one.
func TestEveryGlyphCovered(t *testing.T) {
	n := sample()
	n.Missing = append(n.Missing, Missing{Name: "Form W-8BEN（英文版）", Reason: "№ 42 — “missing”", Requirements: []string{"≤ 2 MB；α/β 版均可"}})
	ts := newTypesetter(t)
	c := &composer{ts: ts, n: n}
	c.compose()
	digits := 0
	for p, pg := range c.pages {
		for _, o := range pg.ops {
			for _, r := range o.l.runs {
				f := ts.cov.fonts.latin
				if r.face == cjk {
					f = ts.cov.fonts.cjk
				}
				for _, ch := range r.text {
					if !ts.cov.has(f, ch) {
						t.Errorf("page %d: %q is set in the %s font, which lacks it", p+1, ch, r.face.family())
					}
					if ch >= '0' && ch <= '9' {
						digits++
					}
				}
			}
		}
	}
	if digits < 20 {
		t.Errorf("only %d digits drawn, the notice's numbers are missing", digits)
	}
}

func TestWrap(t *testing.T) {
	ts := newTypesetter(t)

	const text = "由具备资质的医疗机构出具，须加盖公章；姓名、证件号码与申请人一致（含港澳台居民居住证），" +
		"彩色扫描不低于 200 DPI，接受 PDF、JPEG 格式，文件名形如「TH-2026-000123」。"
	for width := 20.0; width <= 80; width += 0.5 {
		lines := ts.wrap(text, tableSize, width, 0)
		var joined strings.Builder
		for i, pl := range lines {
			var s strings.Builder
			for _, r := range pl.l.runs {
				s.WriteString(r.text)
			}
			ls := s.String()
			joined.WriteString(ls)
			if pl.l.w > width+1e-6 {
				t.Errorf("width %.1f: line %d %q is %.2f mm wide", width, i, ls, pl.l.w)
			}
			if i > 0 && strings.ContainsAny(ls[:len(string([]rune(ls)[0]))], noStartChars) {
				t.Errorf("width %.1f: line %d %q starts with closing punctuation", width, i, ls)
			}
			if r := []rune(ls); i < len(lines)-1 && strings.ContainsRune(noEndChars, r[len(r)-1]) {
				t.Errorf("width %.1f: line %d %q ends with opening punctuation", width, i, ls)
			}
			for _, word := range []string{"DPI", "PDF", "JPEG"} {
				for k := 1; k < len(word); k++ {
					if strings.HasSuffix(ls, " "+word[:k]) || strings.HasSuffix(ls, "、"+word[:k]) {
						t.Errorf("width %.1f: line %d %q splits %s", width, i, ls, word)
					}
				}
			}
		}
		// Only the spaces where a line broke disappear.
		if got, want := strings.ReplaceAll(joined.String(), " ", ""), strings.ReplaceAll(text, " ", ""); got != want {
			t.Fatalf("width %.1f: lines read %q, want %q", width, got, want)
		}
	}
}

func BenchmarkPDF(b *testing.B) {
	n := sample()
	if _, err := PDF(n); err != nil { // the first call reads the fonts
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := PDF(n); err != nil {
			b.Fatal(err)
		}
	}
}
