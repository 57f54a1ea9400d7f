package pades

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sealvault/seal/ca"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sealvault/internal/testkit"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"
	"github.com/emmansun/gmsm/sm3"
)

// benchDoc is one input of the signing benchmarks.
type benchDoc struct {
	name string
	pdf  []byte
}

// benchDocs returns a 1-page text PDF (about 30 KB), a 1-page scan (about 600 KB, noisy so
// that it does not compress) and a 20-page scan.
func benchDocs(b *testing.B) []benchDoc {
	b.Helper()
	docs := []benchDoc{
		{"text-1p", textPDF(b, 400)},
		{"scan-1p", scanPDF(b, 1, 1500, 2120)},
		{"scan-20p", scanPDF(b, 20, 1000, 1414)},
	}
	for _, d := range docs {
		b.Logf("%s: %d bytes", d.name, len(d.pdf))
	}
	return docs
}

var benchConcurrency = []int{1, 2, 8}

var benchPlace = Placement{Page: 1, X: 380, Y: 60, Width: 120, Height: 120}

// BenchmarkSign measures Sign with a prepared Stamp, as a service applying the same seal to
// many documents uses it.
func BenchmarkSign(b *testing.B) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp = stamp
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkSignTo measures SignTo as the service uses it, with a prepared Stamp: the
// document read through an io.ReaderAt, the signed document streamed to a writer (here one
// that discards it).
func BenchmarkSignTo(b *testing.B) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp = stamp
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := SignTo(b.Context(), io.Discard, bytes.NewReader(d.pdf), int64(len(d.pdf)), req)
					return err
				})
			})
		}
	}
}

// BenchmarkSignPNG measures Sign given the seal PNG, converted on every call.
func BenchmarkSignPNG(b *testing.B) {
	p := newPKI(b)
	png := sealPNG(b)
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, png, benchPlace)
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkFloor measures what any signer must do: hash the whole file once and make one
// signature with the same key.
func BenchmarkFloor(b *testing.B) {
	p := newPKI(b)
	for _, d := range benchDocs(b) {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					sum := sha256.Sum256(d.pdf)
					_, err := p.ecdsa.key.Sign(rand.Reader, sum[:], crypto.SHA256)
					return err
				})
			})
		}
	}
}

// BenchmarkPdfsign measures github.com/digitorus/pdfsign signing the same files with the
// same key, chain and visible seal image. Its text fields are ASCII: it corrupts files with
// Chinese ones.
func BenchmarkPdfsign(b *testing.B) {
	p := newPKI(b)
	png := sealPNG(b)
	for _, d := range benchDocs(b) {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := pdfsignOnce(d.pdf, p.ecdsa, png)
					return err
				})
			})
		}
	}
}

// pdfsignOnce signs in with pdfsign, with a visible seal on page 1.
func pdfsignOnce(in []byte, s seal, png []byte) ([]byte, error) {
	rdr, err := pdf.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(in), &out, rdr, int64(len(in)), sign.SignData{
		Signature: sign.SignDataSignature{
			CertType: sign.ApprovalSignature,
			Info:     sign.SignDataSignatureInfo{Name: "Seal", Reason: "Approved", Location: "District", Date: signTime},
		},
		Signer:            s.key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       s.chain[0],
		CertificateChains: [][]*x509.Certificate{s.chain},
		Appearance: sign.Appearance{
			Visible: true, Page: 1, Image: png,
			LowerLeftX: benchPlace.X, LowerLeftY: benchPlace.Y,
			UpperRightX: benchPlace.X + benchPlace.Width, UpperRightY: benchPlace.Y + benchPlace.Height,
		},
	})
	return out.Bytes(), err
}

// BenchmarkPdfbox measures Apache PDFBox 2 with Bouncy Castle (Debian's libpdfbox2-java and
// libbcpkix-java; tools/pdfbox-bench/PdfboxSign.java) signing the same files with the same
// key and chain in a JVM whose JIT is warm: one JVM per sub-benchmark, which makes 1,000
// signatures before the first measured one and is then asked for b.N signatures on c threads
// at a time. The p50/p99 and ops/s are the JVM's own timings of each signature (load, add
// the signature, incremental save into memory, CMS); ns/op includes the pipe to it. PDFBox's
// signature is invisible and its text fields are ASCII, so it does less than Sign with its
// stamp. A missing JDK or jar fails the benchmark (tools/prereqs.sh bench installs them).
// SEALVAULT_PDFBOX_JVM_OPTS passes options to the JVM (such as -XX:+UseParallelGC); by
// default it runs with the JDK's defaults.
func BenchmarkPdfbox(b *testing.B) {
	p := newPKI(b)
	classPath := pdfboxClassPath(b)
	dir := b.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.ecdsa.key)
	if err != nil {
		b.Fatal(err)
	}
	var chainPEM []byte
	for _, c := range p.ecdsa.chain {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	keyPath, chainPath := filepath.Join(dir, "key.pem"), filepath.Join(dir, "chain.pem")
	writeBenchFile(b, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	writeBenchFile(b, chainPath, chainPEM)
	for _, d := range benchDocs(b) {
		in := filepath.Join(dir, d.name+".pdf")
		writeBenchFile(b, in, d.pdf)
		for _, c := range benchConcurrency {
			name := fmt.Sprintf("%s/c=%d", d.name, c)
			out := filepath.Join(dir, fmt.Sprintf("%s-c%d-signed.pdf", d.name, c))
			var peer *pdfboxPeer
			b.Run(name, func(b *testing.B) {
				if peer == nil {
					b.StopTimer()
					peer = startPdfbox(b, classPath, in, keyPath, chainPath, out, c)
					b.StartTimer()
				}
				b.ResetTimer()
				lat, elapsed := peer.measure(b, b.N)
				b.StopTimer()
				if !peer.checked {
					checkPdfboxOutput(b, p, d.pdf, out)
					peer.checked = true
				}
				slices.Sort(lat)
				at := func(q float64) float64 {
					return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
				}
				b.ReportMetric(at(0.50), "p50-ms")
				b.ReportMetric(at(0.99), "p99-ms")
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
			})
			if peer != nil {
				if err := peer.close(); err != nil {
					b.Errorf("pdfbox %s: %v\n%s", name, err, peer.stderr.String())
				}
			}
		}
	}
}

// pdfboxWarmup is the number of signatures the JVM makes before the measured ones.
const pdfboxWarmup = 1000

// pdfboxClassPath compiles tools/pdfbox-bench (once per build of the source) and returns the
// class path to run it with.
func pdfboxClassPath(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		b.Fatalf("java is required (Debian package default-jdk-headless; tools/prereqs.sh bench installs it): %v", err)
	}
	root, err := testkit.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "tools", "pdfbox-bench", "build.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("tools/pdfbox-bench/build.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// pdfboxPeer is one running PdfboxSign, warm, waiting for counts on its stdin.
type pdfboxPeer struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Scanner
	stderr  *testkit.SyncBuffer
	checked bool // its output has been verified
	ended   bool // Wait has been called
}

// startPdfbox starts PdfboxSign on threads threads and waits until its warm-up is done.
func startPdfbox(b *testing.B, classPath, in, key, chain, out string, threads int) *pdfboxPeer {
	b.Helper()
	args := append(strings.Fields(os.Getenv("SEALVAULT_PDFBOX_JVM_OPTS")), "-cp", classPath, "PdfboxSign",
		"--in", in, "--key", key, "--chain", chain, "--out", out,
		"--warmup", strconv.Itoa(pdfboxWarmup), "--threads", strconv.Itoa(threads),
		"--time", strconv.FormatInt(signTime.UnixMilli(), 10), "--serve", "true")
	cmd := exec.Command("java", args...)
	peer := &pdfboxPeer{cmd: cmd, stderr: &testkit.SyncBuffer{}}
	cmd.Stderr = peer.stderr
	var err error
	if peer.stdin, err = cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("java: %v", err)
	}
	peer.stdout = bufio.NewScanner(stdout)
	for {
		line := peer.line(b)
		if line == "ready" {
			return peer
		}
		if v, ok := strings.CutPrefix(line, "version "); ok {
			b.Logf("PdfboxSign: %s, %d warm-up signatures on %d threads, JVM options %q", v, pdfboxWarmup, threads, os.Getenv("SEALVAULT_PDFBOX_JVM_OPTS"))
		}
	}
}

// line returns the next line PdfboxSign prints; its end fails b.
func (p *pdfboxPeer) line(b *testing.B) string {
	b.Helper()
	if p.stdout.Scan() {
		return p.stdout.Text()
	}
	p.stdin.Close()
	p.ended = true
	err := p.cmd.Wait()
	b.Fatalf("PdfboxSign ended (%v, scan: %v):\n%s", err, p.stdout.Err(), p.stderr.String())
	return ""
}

// measure asks for n signatures and returns their latencies and the wall time of the run, as
// the JVM measured them.
func (p *pdfboxPeer) measure(b *testing.B, n int) ([]time.Duration, time.Duration) {
	b.Helper()
	if _, err := fmt.Fprintf(p.stdin, "%d\n", n); err != nil {
		b.Fatalf("PdfboxSign: %v\n%s", err, p.stderr.String())
	}
	lat := make([]time.Duration, 0, n)
	for {
		line := p.line(b)
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "op":
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				b.Fatalf("PdfboxSign: %q: %v", line, err)
			}
			lat = append(lat, time.Duration(ns))
		case len(f) == 4 && f[0] == "total":
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || f[2] != strconv.Itoa(n) || len(lat) != n {
				b.Fatalf("PdfboxSign: %q after %d op lines, want %d", line, len(lat), n)
			}
			return lat, time.Duration(ns)
		default:
			b.Fatalf("PdfboxSign: unexpected line %q", line)
		}
	}
}

// close ends the JVM: EOF on its stdin ends its loop. What it still prints (after a failed
// run) is read and dropped, so that it cannot block on a full pipe.
func (p *pdfboxPeer) close() error {
	if p.ended {
		return nil
	}
	p.ended = true
	p.stdin.Close()
	for p.stdout.Scan() {
	}
	return p.cmd.Wait()
}

// checkPdfboxOutput fails b unless the document PdfboxSign wrote is the input with one
// incremental update holding a PAdES signature by the benchmark's seal over the whole file,
// as pades.Verify and poppler's pdfsig see it: a peer that does not really sign measures
// nothing.
func checkPdfboxOutput(b *testing.B, p *pki, in []byte, path string) {
	b.Helper()
	out, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.HasPrefix(out, in) {
		b.Fatal("PDFBox's signed document does not keep the original as its prefix")
	}
	sigs, err := Verify(out, p.roots)
	if err != nil {
		b.Fatal(err)
	}
	if len(sigs) != 1 {
		b.Fatalf("Verify found %d signatures in PDFBox's document, want 1: %v", len(sigs), sigs)
	}
	s := sigs[0]
	if !s.DigestValid || !s.ChainValid || !s.CoversWholeFile || !s.CoversRevision || len(s.Problems) > 0 ||
		s.SubFilter != "ETSI.CAdES.detached" || s.Signer == nil || !s.Signer.Equal(p.ecdsa.chain[0]) || !s.Time.Equal(signTime) {
		b.Fatalf("Verify does not accept PDFBox's signature: %v (chain: %s)", s, s.ChainError)
	}
	if _, err := exec.LookPath("pdfsig"); err != nil {
		b.Fatalf("pdfsig is required (Debian package poppler-utils): %v", err)
	}
	report := testkit.Pdfsig(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}), out)
	for _, want := range []string{"Signature is Valid.", "Certificate is Trusted.", "Total document signed", "ETSI.CAdES.detached"} {
		if !strings.Contains(report, want) {
			b.Fatalf("pdfsig does not say %q of PDFBox's document:\n%s", want, report)
		}
	}
}

func writeBenchFile(b *testing.B, path string, data []byte) {
	b.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// runConcurrent runs op b.N times on c goroutines and reports the median and 99th
// percentile latency and the throughput.
func runConcurrent(b *testing.B, c int, op func() error) {
	if err := op(); err != nil { // fail fast, and warm up
		b.Fatal(err)
	}
	testkit.RunConcurrent(b, c, "ops/s", func(_, _ int) error { return op() })
}

// BenchmarkSignBT is Sign with a signature timestamp from a TSA in the same process (ECDSA
// P-256), so the peer in the same run is BenchmarkSign: the gap is the TSA's work (one more
// signature, the TSTInfo and its CMS) and the larger CMS.
// BenchmarkSignLT is SignBT with the validation data (the seal's chain, the TSA's
// certificate, a CRL) after the signature: PAdES B-LT.
func BenchmarkSignLT(b *testing.B) { benchLongTerm(b, false) }

// BenchmarkSignLTA adds the archive timestamp every use now carries: PAdES B-LTA, two tokens
// from the in-process TSA.
func BenchmarkSignLTA(b *testing.B) { benchLongTerm(b, true) }

func benchLongTerm(b *testing.B, archive bool) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	ts := testTSA(b, time.Now())
	crl, err := (&ca.CA{Cert: p.root, Key: p.rootKey}).CRL(1, nil, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp, req.Timestamp, req.ArchiveTimestamp = stamp, ts, archive
		req.DSS = &ValidationData{Certs: append(slices.Clone(p.ecdsa.chain), ts.Cert), CRLs: [][]byte{crl}}
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

func BenchmarkSignBT(b *testing.B) {
	p := newPKI(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	ts := testTSA(b, time.Now())
	for _, d := range benchDocs(b) {
		req := request(p.ecdsa, nil, benchPlace)
		req.Stamp, req.Timestamp = stamp, ts
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkSignSM2 is BenchmarkSign with a seal of the national algorithms: a PDF electronic
// seal (GB/T 38540 SES_Signature over SM3, signed with SM2), no timestamp, beside the ECDSA
// P-256 CMS of BenchmarkSign in the same run.
func BenchmarkSignSM2(b *testing.B) {
	es, _ := testESeal(b)
	stamp, err := NewStamp(sealPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range benchDocs(b) {
		req := Request{ESeal: es, Stamp: stamp, Place: benchPlace, Name: sealName, Reason: sealReason, Location: sealLocation,
			Time: signTime, Field: "Seal-R-1"}
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					_, err := Sign(d.pdf, req)
					return err
				})
			})
		}
	}
}

// BenchmarkFloorSM2 is BenchmarkFloor for SM2: SM3 of the whole file and one SM2 signature.
func BenchmarkFloorSM2(b *testing.B) {
	es, _ := testESeal(b)
	for _, d := range benchDocs(b) {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", d.name, c), func(b *testing.B) {
				runConcurrent(b, c, func() error {
					sum := sm3.Sum(d.pdf)
					_, err := es.Signer.Sign(rand.Reader, sum[:], nil)
					return err
				})
			})
		}
	}
}
