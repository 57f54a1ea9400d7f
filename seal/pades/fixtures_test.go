package pades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"sealvault/vault/pages"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// seal is one test seal: a key and its chain up to the test root.
type seal struct {
	key   crypto.Signer
	chain []*x509.Certificate
}

// pki is a test root CA with an ECDSA and an RSA seal issued by it.
type pki struct {
	root      *x509.Certificate
	rootKey   *ecdsa.PrivateKey
	roots     *x509.CertPool
	ecdsa     seal
	rsa       seal
	ecdsaKey2 seal // a second department's seal, for documents signed twice
}

var (
	testPKIOnce sync.Once
	testPKI     *pki
	testPKIErr  error
)

// newPKI returns the test PKI, generated once per test binary since RSA-3072 keys are slow.
func newPKI(tb testing.TB) *pki {
	tb.Helper()
	testPKIOnce.Do(func() { testPKI, testPKIErr = generatePKI() })
	if testPKIErr != nil {
		tb.Fatal(testPKIErr)
	}
	return testPKI
}

func generatePKI() (*pki, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"CN"}, Organization: []string{"某某市电子政务认证中心"}, CommonName: "某某市电子印章根证书"},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &pki{root: root, rootKey: rootKey, roots: x509.NewCertPool()}
	p.roots.AddCert(root)

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ecKey2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, cn string, key crypto.Signer) (seal, error) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{Country: []string{"CN"}, Organization: []string{"某某区市场监督管理局"}, CommonName: cn},
			// Valid from before the tests' fixed signing time until after today.
			NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			NotAfter:  now.Add(2 * 365 * 24 * time.Hour),
			KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
		if err != nil {
			return seal{}, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return seal{}, err
		}
		return seal{key: key, chain: []*x509.Certificate{cert, root}}, nil
	}
	if p.ecdsa, err = issue(2, "某某区市场监督管理局行政审批专用章", ecKey); err != nil {
		return nil, err
	}
	if p.rsa, err = issue(3, "某某区行政审批局公章", rsaKey); err != nil {
		return nil, err
	}
	if p.ecdsaKey2, err = issue(4, "某某区人民政府办公室印章", ecKey2); err != nil {
		return nil, err
	}
	return p, nil
}

// sealPNG draws a red ring with a red star-like centre on a transparent background.
func sealPNG(tb testing.TB) []byte {
	tb.Helper()
	const n = 240
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	red := color.NRGBA{R: 220, G: 20, B: 20, A: 230}
	c := float64(n) / 2
	for y := range n {
		for x := range n {
			r := math.Hypot(float64(x)+0.5-c, float64(y)+0.5-c)
			if (r > c-18 && r < c-4) || r < c/4 {
				img.SetNRGBA(x, y, red)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// noisyJPEG returns a w×h grey "scan" with noise, so that it does not compress well: a
// stand-in for a scanned page.
func noisyJPEG(tb testing.TB, w, h int, seed uint64) []byte {
	tb.Helper()
	rng := mrand.New(mrand.NewPCG(seed, 1))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(200 + rng.IntN(56))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 60}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// testConfig is the service's pdfcpu configuration, which does not touch the home directory.
func testConfig() *model.Configuration { return pages.PDFConfig() }

// scanPDF builds a PDF of pages A4 pages, each a noisy w×h JPEG, the way the service's page
// assembler does (pdfcpu, object and xref streams).
func scanPDF(tb testing.TB, pages, w, h int) []byte {
	tb.Helper()
	imgs := make([]io.Reader, pages)
	for i := range imgs {
		imgs[i] = bytes.NewReader(noisyJPEG(tb, w, h, uint64(i+1)))
	}
	imp := pdfcpu.DefaultImportConfig()
	imp.PageDim = types.PaperSize["A4"]
	imp.UserDim = true
	imp.Pos = types.Center
	imp.Scale = 1
	imp.InpUnit = types.POINTS
	var out bytes.Buffer
	if err := api.ImportImages(nil, &out, imgs, imp, testConfig()); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// textPDF writes a one-page text PDF with a classic cross-reference table, lines lines of
// text, an /Info dictionary and an /ID.
func textPDF(tb testing.TB, lines int) []byte {
	tb.Helper()
	return textPDFWith(tb, lines, false)
}

// textPDFWith is textPDF; with formParts the page refers to an existing annotation array
// object (holding a link) and the catalog holds an AcroForm dictionary directly, with a
// text field, the less common shapes an update must extend rather than replace.
func textPDFWith(tb testing.TB, lines int, formParts bool) []byte {
	tb.Helper()
	var content strings.Builder
	content.WriteString("BT /F1 9 Tf 40 800 Td 11 TL\n")
	for i := range lines {
		fmt.Fprintf(&content, "(Line %04d: The applicant's request is approved under the regulation in force.) '\n", i+1)
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		"<< /Producer (sealvault test) /Title (Approval) >>",
	}
	if formParts {
		objs[0] = "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [9 0 R] /DA (/Helv 0 Tf 0 g) >> >>"
		objs[2] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R /Annots 7 0 R >>"
		objs = append(objs,
			"[8 0 R 9 0 R]",
			"<< /Type /Annot /Subtype /Link /Rect [40 40 140 60] /Border [0 0 0] /A << /S /URI /URI (https://example.org/) >> >>",
			"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Applicant) /V (Zhang San) /Rect [300 40 500 60] /P 3 0 R /F 4 >>",
		)
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
