package pages

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// threePages are an A4 sheet scanned at 200 DPI (PNG), a 600×400 photo at 150 DPI (JPEG)
// and a 300×500 TIFF as x/image/tiff writes it (72 DPI), with the page sizes in points
// each should get.
func threePages(t *testing.T) ([]Page, []types.Dim) {
	t.Helper()
	return []Page{
			mustInspect(t, "a4.png", withPHYs(encodePNG(t, sheet(1654, 2339)), 7874, 1)),
			mustInspect(t, "photo.jpg", withJFIF(encodeJPEG(t, colourSheet(600, 400)), 1, 150)),
			mustInspect(t, "slip.tif", encodeTIFF(t, colourSheet(300, 500))),
		}, []types.Dim{
			{Width: 1654 * 72 / 200.0, Height: 2339 * 72 / 200.0}, // 595.4 × 842.0, A4
			{Width: 600 * 72 / 150.0, Height: 400 * 72 / 150.0},
			{Width: 300, Height: 500},
		}
}

func assemble(t *testing.T, pages []Page) []byte {
	t.Helper()
	pdf, err := Assemble(pages)
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return pdf
}

func TestAssemble(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*testing.T) ([]Page, []types.Dim){"mixed": threePages, "JPEG scans": threeScans} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pages, want := set(t)
			checkAssembled(t, pages, want)
		})
	}
}

func checkAssembled(t *testing.T, pages []Page, want []types.Dim) {
	t.Helper()
	pdf := assemble(t, pages)

	for _, mode := range []int{model.ValidationRelaxed, model.ValidationStrict} {
		conf := PDFConfig()
		conf.ValidationMode = mode
		if err := api.Validate(bytes.NewReader(pdf), conf); err != nil {
			t.Errorf("pdfcpu validate (%s): %v", conf.ValidationModeString(), err)
		}
	}

	dims, err := api.PageDims(bytes.NewReader(pdf), PDFConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(dims) != len(want) {
		t.Fatalf("%d pages, want %d", len(dims), len(want))
	}
	for i := range want {
		if !near(dims[i], want[i]) {
			t.Errorf("page %d (%s) is %.1f × %.1f pt, want %.1f × %.1f", i+1, pages[i].Name, dims[i].Width, dims[i].Height, want[i].Width, want[i].Height)
		}
	}

	for _, p := range pages {
		if p.Format == "jpeg" && !bytes.Contains(pdf, p.Data) {
			t.Errorf("the JPEG %s was re-encoded; want its bytes embedded as they are", p.Name)
		}
	}
}

func near(a, b types.Dim) bool {
	return math.Abs(a.Width-b.Width) < 0.5 && math.Abs(a.Height-b.Height) < 0.5
}

// threeScans are what a scanner gives: an A4 sheet in grey at 150 DPI, a colour slip at 300
// DPI and a colour page that records no resolution, all JPEGs, which Assemble writes without
// pdfcpu.
func threeScans(t *testing.T) ([]Page, []types.Dim) {
	t.Helper()
	return []Page{
			mustInspect(t, "a4.jpg", withJFIF(encodeJPEG(t, sheet(1240, 1754)), 1, 150)),
			mustInspect(t, "slip.jpg", withJFIF(encodeJPEG(t, colourSheet(900, 600)), 1, 300)),
			mustInspect(t, "photo.jpg", encodeJPEG(t, colourSheet(400, 500))),
		}, []types.Dim{
			{Width: 1240 * 72 / 150.0, Height: 1754 * 72 / 150.0}, // 595.2 × 841.9, A4
			{Width: 900 * 72 / 300.0, Height: 600 * 72 / 300.0},
			{Width: 400 * 72 / 200.0, Height: 500 * 72 / 200.0},
		}
}

// Poppler (pdfinfo, pdftoppm) and qpdf read what Assemble writes, through pdfcpu (a PNG, a
// JPEG and a TIFF) and without it (JPEG scans), with the page sizes and images intended.
func TestAssembleWithPoppler(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*testing.T) ([]Page, []types.Dim){"mixed": threePages, "JPEG scans": threeScans} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pages, want := set(t)
			checkWithPoppler(t, assemble(t, pages), want)
		})
	}
}

func checkWithPoppler(t *testing.T, pdf []byte, want []types.Dim) {
	t.Helper()
	pdfinfo, err := exec.LookPath("pdfinfo")
	if err != nil {
		t.Fatal("pdfinfo not found: install poppler-utils (make prereqs-test does)")
	}
	file := filepath.Join(t.TempDir(), "material.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	qpdf, err := exec.LookPath("qpdf")
	if err != nil {
		t.Fatal("qpdf not found (make prereqs-test installs it)")
	}
	if out, err := exec.Command(qpdf, "--check", file).CombinedOutput(); err != nil {
		t.Errorf("qpdf --check: %v\n%s", err, out)
	}

	out, err := exec.Command(pdfinfo, "-f", "1", "-l", "3", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^Pages:\s+3$`).Match(out) {
		t.Errorf("pdfinfo does not say 3 pages:\n%s", out)
	}
	sizes := regexp.MustCompile(`(?m)^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+) pts(.*)$`).FindAllSubmatch(out, -1)
	if len(sizes) != 3 {
		t.Fatalf("pdfinfo lists %d page sizes, want 3:\n%s", len(sizes), out)
	}
	for i, m := range sizes {
		w, _ := strconv.ParseFloat(string(m[2]), 64)
		h, _ := strconv.ParseFloat(string(m[3]), 64)
		if !near(types.Dim{Width: w, Height: h}, want[i]) {
			t.Errorf("pdfinfo: page %s is %.1f × %.1f pt, want %.1f × %.1f", m[1], w, h, want[i].Width, want[i].Height)
		}
	}
	if !bytes.Contains(sizes[0][4], []byte("A4")) {
		t.Errorf("pdfinfo does not call page 1, an A4 scan at 200 DPI, A4: %q", sizes[0][0])
	}

	// Every page shows its image upright and filling the page: ink at the top, paper below.
	pdftoppm, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Fatal("pdftoppm not found: install poppler-utils (make prereqs-test does)")
	}
	prefix := filepath.Join(t.TempDir(), "page")
	if out, err := exec.Command(pdftoppm, "-r", "20", "-png", file, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	renders, _ := filepath.Glob(prefix + "*.png")
	if len(renders) != 3 {
		t.Fatalf("pdftoppm rendered %d pages, want 3", len(renders))
	}
	for i, r := range renders {
		f, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		top := lightness(img, image.Pt(b.Dx()/2, b.Dy()/8))
		bottom := lightness(img, image.Pt(b.Dx()/2, b.Dy()*7/8))
		corner := lightness(img, image.Pt(1, 1))
		if top > 0.5 || bottom < 0.9 || corner > 0.5 {
			t.Errorf("page %d renders top %.2f, top corner %.2f, bottom %.2f; want a dark top half filling the page above white paper", i+1, top, corner, bottom)
		}
	}
}

// lightness is the mean of the red, green and blue of img at p, from 0 (black) to 1.
func lightness(img image.Image, p image.Point) float64 {
	r, g, b, _ := img.At(p.X, p.Y).RGBA()
	return float64(r+g+b) / 3 / 0xffff
}

func TestAssembleDefaultDPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		page Page
		want types.Dim
	}{
		{"no resolution recorded", mustInspect(t, "a.png", encodePNG(t, sheet(400, 200))), types.Dim{Width: 144, Height: 72}},
		{"placeholder JFIF density", mustInspect(t, "b.jpg", withJFIF(encodeJPEG(t, sheet(400, 200)), 1, 1)), types.Dim{Width: 144, Height: 72}},
		{"DPI set by the caller", Page{Name: "c.png", DPI: 400, Data: encodePNG(t, sheet(400, 200))}, types.Dim{Width: 72, Height: 36}},
		{"bilevel fax TIFF at 300 DPI", mustInspect(t, "d.tif", rawTIFF(rawPage{w: 2550, h: 3300, bits: 1, xRes: 300})), types.Dim{Width: 612, Height: 792}},
	} {
		pdf := assemble(t, []Page{tc.page})
		dims, err := api.PageDims(bytes.NewReader(pdf), PDFConfig())
		if err != nil {
			t.Fatal(err)
		}
		if len(dims) != 1 || !near(dims[0], tc.want) {
			t.Errorf("%s: pages %v, want one of %.1f × %.1f pt", tc.name, dims, tc.want.Width, tc.want.Height)
		}
	}
}

// Whatever Inspect accepts, Assemble makes a valid one-page PDF of.
func TestAssembleEveryAcceptedKind(t *testing.T) {
	t.Parallel()
	for _, tc := range accepted(t) {
		t.Run(tc.name, func(t *testing.T) {
			pdf := assemble(t, []Page{mustInspect(t, tc.name, tc.data)})
			for _, mode := range []int{model.ValidationRelaxed, model.ValidationStrict} {
				conf := PDFConfig()
				conf.ValidationMode = mode
				if err := api.Validate(bytes.NewReader(pdf), conf); err != nil {
					t.Errorf("pdfcpu validate (%s): %v", conf.ValidationModeString(), err)
				}
			}
			if n, err := CheckPDF(tc.name+".pdf", pdf, DefaultLimits()); n != 1 || err != nil {
				t.Errorf("CheckPDF = %d, %v; want 1 page", n, err)
			}
		})
	}
}

func TestAssembleRefusesWhatIsNotAnImage(t *testing.T) {
	t.Parallel()
	good := mustInspect(t, "1.png", encodePNG(t, sheet(200, 300)))
	_, err := Assemble([]Page{good, {Name: "2.png", Format: "png", Data: []byte("not a picture at all")}})
	rejected(t, err, "2.png", "a text file, not a JPEG, PNG or TIFF page image")

	if _, err := Assemble(nil); err == nil {
		t.Error("Assemble(nil) made a PDF without pages")
	}
}

func TestCheckPDF(t *testing.T) {
	t.Parallel()
	pages, _ := threePages(t)
	pdf := assemble(t, pages)

	n, err := CheckPDF("material.pdf", pdf, DefaultLimits())
	if err != nil || n != 3 {
		t.Fatalf("CheckPDF(assembled) = %d, %v; want 3 pages", n, err)
	}

	userPW := encrypt(t, pdf, "secret", "owner")
	ownerOnly := encrypt(t, pdf, "", "owner")
	twoPages := Limits{MaxPages: 2}
	for _, tc := range []struct {
		name string
		data []byte
		lim  Limits
		want string
	}{
		{"garbage.pdf", bytes.Repeat([]byte{0x5a, 0x00, 0xc3}, 1000), DefaultLimits(), "not a PDF"},
		{"scan.pdf", pages[1].Data, DefaultLimits(), "a JPEG image, not a PDF; upload page images as pages"},
		{"fake.pdf", []byte("%PDF-1.7\nthis is no PDF body\n%%EOF\n"), DefaultLimits(), "damaged"},
		{"cut.pdf", pdf[:len(pdf)/3], DefaultLimits(), "damaged"},
		{"locked.pdf", userPW, DefaultLimits(), "encrypted or password-protected"},
		{"restricted.pdf", ownerOnly, DefaultLimits(), "encrypted or password-protected"},
		{"long.pdf", pdf, twoPages, "the PDF has 3 pages, more than the limit of 2"},
		{"big.pdf", pdf, Limits{MaxPDFBytes: int64(len(pdf)) - 1}, "larger than the"},
		{"empty.pdf", nil, DefaultLimits(), "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := CheckPDF(tc.name, tc.data, tc.lim)
			rejected(t, err, tc.name, tc.want)
			if n != 0 {
				t.Errorf("page count %d with a refusal", n)
			}
			// The page worker checks the upload from its file: the same verdict.
			f, err := os.Open(writeFile(t, t.TempDir(), tc.name, tc.data).Path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n, err = checkPDF(tc.name, f, int64(len(tc.data)), tc.lim)
			rejected(t, err, tc.name, tc.want)
			if n != 0 {
				t.Errorf("from the file: page count %d with a refusal", n)
			}
		})
	}
	f, err := os.Open(writeFile(t, t.TempDir(), "material.pdf", pdf).Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := checkPDF("material.pdf", f, int64(len(pdf)), DefaultLimits()); err != nil || n != 3 {
		t.Errorf("checkPDF(assembled, from its file) = %d, %v; want 3 pages", n, err)
	}
}

// encrypt protects pdf with AES-256; an empty user password opens without asking.
func encrypt(t *testing.T, pdf []byte, userPW, ownerPW string) []byte {
	t.Helper()
	conf := PDFConfig()
	conf.UserPW, conf.OwnerPW = userPW, ownerPW
	var out bytes.Buffer
	if err := api.Encrypt(bytes.NewReader(pdf), &out, conf); err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	return out.Bytes()
}
