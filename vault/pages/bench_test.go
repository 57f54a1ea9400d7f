package pages

import (
	"bytes"
	"io"
	"testing"
)

// The page worker's job on one scan, and its parts, each beside its floor or peer in the same
// run (docs/BENCHMARKS.md, "The page worker's job"). The scan is a 1133×1602 colour page with
// noise (about 1 MB at quality 85), the size of the ingest benchmarks' pages.

func benchScan(b *testing.B) []byte {
	b.Helper()
	return encodeJPEG(b, noisyScan(1133, 1602))
}

// BenchmarkPageJob: one op of work = the worker's whole job for a 1-page material (read the
// file, inspect it with the decode reduced for the thumbnail, compress the thumbnail, write
// it, write the PDF); of decode = pages.ReferenceDecode of the same file, the full decode the
// ingest floor counts for each page.
func BenchmarkPageJob(b *testing.B) {
	data := benchScan(b)
	in, out := b.TempDir(), b.TempDir()
	job := Job{Kind: "pages", OutDir: out, Files: []JobFile{writeFile(b, in, "scan.jpg", data)}}
	b.Run("scan-1p/work", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if res := work(job); res.Error != "" || res.Reject != nil || res.PageCount != 1 {
				b.Fatalf("job: %+v", res)
			}
		}
	})
	b.Run("scan-1p/decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := ReferenceDecode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAssemble: one op = the PDF of one inspected scan written to io.Discard, by the
// JPEG page writer (direct) and by pdfcpu (pdfcpu), which wrote every material before.
func BenchmarkAssemble(b *testing.B) {
	p, _, err := inspect("scan.jpg", bytes.NewReader(benchScan(b)), Limits{}, 0)
	if err != nil {
		b.Fatal(err)
	}
	for name, assemble := range map[string]func(io.Writer, []Page) error{"direct": AssembleTo, "pdfcpu": assemblePDFCPU} {
		b.Run("scan-1p/"+name, func(b *testing.B) {
			for b.Loop() {
				if err := assemble(io.Discard, []Page{p}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
