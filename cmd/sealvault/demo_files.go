package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/go-pdf/fpdf"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"sealvault/internal/identity"
	"sealvault/reuse/notice"
	"sealvault/vault"
	"sealvault/vault/pages"
)

// The demo's applicant and the files a person trying the workbench needs: the applicant's
// ID card is on file (so the instant case's plan offers it for reuse), and demo/ under the data
// directory holds a scanned application form and the licence to seal.

// demoApplicant is the demo applicant's resident ID-card number (a test number with a valid
// check digit, as the README's walkthroughs use).
const demoApplicant = "11010519491231002X"

// demoFiles are the files written for the workbench trial, under the data directory.
type demoFiles struct {
	Dir, Form, Licence string
}

// seedDemoFiles records the demo applicant's ID card (front and back, 300 DPI colour, as
// the demo catalog requires) as captured by the demo window clerk, once: the same pages again
// return the material already recorded. It writes demo/form.jpg and demo/licence.pdf.
func seedDemoFiles(ctx context.Context, in *vault.Ingester, pool *pgxpool.Pool, dataDir string, log *slog.Logger) (demoFiles, error) {
	f := demoFiles{Dir: filepath.Join(dataDir, "demo")}
	face, err := demoFace()
	if err != nil {
		return f, err
	}
	// Serialise concurrent first starts (two processes would record the card twice): the
	// lock is held on a connection of its own while the ingest works through the pool.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return f, fmt.Errorf("demo files: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('sealvault.demo.files'))`); err != nil {
		return f, fmt.Errorf("demo files: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('sealvault.demo.files'))`)
	clerk, err := identity.UserByUsername(ctx, pool, "window")
	if err != nil {
		return f, fmt.Errorf("demo files: %w", err)
	}
	front := demoScan(face, 1012, 638, 300, color.RGBA{0xe8, 0xf0, 0xf8, 0xff}, []string{
		"居民身份证（演示样本）", "姓名  张三", "性别  男    民族  汉", "出生  1949 年 12 月 31 日", "公民身份号码  1101**********002X"})
	back := demoScan(face, 1012, 638, 300, color.RGBA{0xf4, 0xee, 0xe0, 0xff}, []string{
		"中华人民共和国", "居民身份证", "签发机关  演示市公安局演示分局", "有效期限  2020.01.01-2040.01.01"})
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return f, fmt.Errorf("demo files: %w", err)
	}
	var spooled []*vault.Spooled
	defer func() {
		for _, s := range spooled {
			s.Remove()
		}
	}()
	for i, data := range [][]byte{front, back} {
		s, err := vault.Spool(in.WorkDir, fmt.Sprintf("id-%d.jpg", i+1), bytes.NewReader(data), int64(len(data))+1)
		if err != nil {
			return f, fmt.Errorf("demo files: %w", err)
		}
		spooled = append(spooled, s)
	}
	m, _, err := in.Ingest(ctx, vault.IngestRequest{
		Info: vault.MaterialInfo{HolderKind: vault.HolderIDCard, HolderNumber: demoApplicant, TypeCode: "ID-CARD",
			Title: "居民身份证", Source: "scan", OriginalVerified: true, ValidUntil: "2040-01-01"},
		Pages: spooled,
		By:    vault.Capturer{UserID: clerk.ID, DepartmentID: clerk.DepartmentID, Roles: []string{string(identity.RoleWindow)}, RequestID: "demo"},
	})
	if err != nil {
		return f, fmt.Errorf("demo files: the demo applicant's ID card: %w", err)
	}
	form := demoScan(face, 1654, 2339, 200, color.RGBA{0xff, 0xff, 0xfd, 0xff}, []string{
		"个体工商户注销登记申请书", "", "经营者姓名：张三（演示）", "个体工商户名称：天河区演示便利店",
		"统一社会信用代码：92440106MA5DEMO00X", "注销原因：经营者申请注销", "", "经营者签字：张三", "2026 年 12 月 5 日"})
	f.Form = filepath.Join(f.Dir, "form.jpg")
	if err := os.WriteFile(f.Form, form, 0o640); err != nil {
		return f, fmt.Errorf("demo files: %w", err)
	}
	lic, err := demoLicence()
	if err != nil {
		return f, err
	}
	f.Licence = filepath.Join(f.Dir, "licence.pdf")
	if err := os.WriteFile(f.Licence, lic, 0o640); err != nil {
		return f, fmt.Errorf("demo files: %w", err)
	}
	log.Info("demo files", "id_card", m.ID, "form", f.Form, "licence", f.Licence)
	return f, nil
}

// demoFaces are the notice's fonts at a size for 300 DPI scans: Chinese, and Latin for
// the letters and digits the Chinese font lacks.
type demoFaces struct{ cjk, latin font.Face }

func demoFace() (demoFaces, error) {
	var out demoFaces
	for i, path := range []string{notice.DefaultCJKFont, notice.DefaultLatinFont} {
		data, err := os.ReadFile(path)
		if err != nil {
			return out, fmt.Errorf("demo files: font: %w", err)
		}
		ft, err := opentype.Parse(data)
		if err != nil {
			return out, fmt.Errorf("demo files: font %s: %w", path, err)
		}
		face, err := opentype.NewFace(ft, &opentype.FaceOptions{Size: 40, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return out, err
		}
		if i == 0 {
			out.cjk = face
		} else {
			out.latin = face
		}
	}
	return out, nil
}

// demoLatin reports whether r is drawn in the Latin font.
func demoLatin(r rune) bool { return r < 0x2E80 }

// demoScan draws lines of text on a card or sheet of w × h pixels and encodes it as a JPEG
// stating dpi, as a scanner writes it.
func demoScan(face demoFaces, w, h, dpi int, bg color.Color, lines []string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	border := color.RGBA{0x8a, 0x9b, 0xb0, 0xff}
	for x := 10; x < w-10; x++ {
		for _, y := range []int{10, 11, h - 12, h - 11} {
			img.Set(x, y, border)
		}
	}
	for y := 10; y < h-10; y++ {
		for _, x := range []int{10, 11, w - 12, w - 11} {
			img.Set(x, y, border)
		}
	}
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{0x20, 0x20, 0x28, 0xff})}
	step := face.cjk.Metrics().Height.Ceil() * 3 / 2
	for i, l := range lines {
		d.Dot = fixed.P(60, 90+i*step)
		for _, r := range l {
			if d.Face = face.cjk; demoLatin(r) {
				d.Face = face.latin
			}
			d.DrawString(string(r))
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 88})
	return pages.WithJPEGDensity(b.Bytes(), dpi)
}

// demoLicence is the result document of the demo's instant case: an A4 notice of
// deregistration with room for the seal at the lower right, fonts embedded.
func demoLicence() ([]byte, error) {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCompression(true)
	p.SetCellMargin(0)
	for name, path := range map[string]string{"cjk": notice.DefaultCJKFont, "latin": notice.DefaultLatinFont} {
		ttf, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("demo files: font: %w", err)
		}
		p.AddUTF8FontFromBytes(name, "", ttf)
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("demo files: licence font: %w", err)
	}
	p.SetTitle("个体工商户注销登记通知书（演示）", true)
	p.AddPage()
	p.SetY(40)
	demoLine(p, "C", 20, 14, "个体工商户注销登记通知书")
	demoLine(p, "C", 12, 10, "（演示文件）穗天市监个注字〔2026〕第 0001 号")
	p.Ln(12)
	for _, l := range []string{
		"天河区演示便利店（经营者：张三）：",
		"    经审查，你提交的个体工商户注销登记申请，申请材料齐全，",
		"符合法定形式，我局决定准予注销登记。",
		"    统一社会信用代码：92440106MA5DEMO00X",
	} {
		demoLine(p, "L", 14, 10, l)
	}
	p.SetY(230)
	demoLine(p, "R", 14, 10, "天河区市场监督管理局")
	demoLine(p, "R", 14, 10, "2026 年 12 月 5 日")
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		return nil, fmt.Errorf("demo files: licence: %w", err)
	}
	return b.Bytes(), nil
}

// demoLine writes one line of mixed Chinese and Latin text, aligned L, C or R, switching
// fonts per run (the Chinese font has no Latin digits).
func demoLine(p *fpdf.Fpdf, align string, size, h float64, text string) {
	type run struct {
		font, text string
	}
	var runs []run
	for _, r := range text {
		f := "cjk"
		if demoLatin(r) {
			f = "latin"
		}
		if n := len(runs); n > 0 && runs[n-1].font == f {
			runs[n-1].text += string(r)
		} else {
			runs = append(runs, run{f, string(r)})
		}
	}
	width := 0.0
	for _, r := range runs {
		p.SetFont(r.font, "", size)
		width += p.GetStringWidth(r.text)
	}
	left, _, right, _ := p.GetMargins()
	pw, _ := p.GetPageSize()
	switch align {
	case "C":
		p.SetX(left + (pw-left-right-width)/2)
	case "R":
		p.SetX(pw - right - width)
	default:
		p.SetX(left)
	}
	for _, r := range runs {
		p.SetFont(r.font, "", size)
		p.CellFormat(p.GetStringWidth(r.text), h, r.text, "", 0, "L", false, 0, "")
	}
	p.Ln(h)
}
