package pades

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// recordingReader is a document that records the bytes read from it.
type recordingReader struct {
	data []byte
	mu   sync.Mutex
	read int64
}

func (r *recordingReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := bytes.NewReader(r.data).ReadAt(p, off)
	r.read += int64(n)
	return n, err
}

func (r *recordingReader) bytesRead() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read
}

// firstWrite is a writer that notes how much had been read from the document when the
// first byte was written.
type firstWrite struct {
	bytes.Buffer
	doc        *recordingReader
	readBefore int64
	wrote      bool
}

func (w *firstWrite) Write(p []byte) (int, error) {
	if !w.wrote && len(p) > 0 {
		w.wrote, w.readBefore = true, w.doc.bytesRead()
	}
	return w.Buffer.Write(p)
}

// bigObjectPDF is a one-page document whose page dictionary and cross-reference table are
// each larger than the reader's first window, so that reading them needs larger ones.
func bigObjectPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /XNote (" + strings.Repeat("a long note ", 2000) + ") >>",
	}
	for i := range 600 {
		objs = append(objs, fmt.Sprintf("<< /Filler %d >>", i))
	}
	return buildPDF(objs...)
}

// TestSignToStreamsOriginalThenUpdate: SignTo reads of the document only the objects it
// needs before it writes, writes the original unchanged followed by the update, and the
// result is valid to every validator; an object larger than a read window is read whole.
func TestSignToStreamsOriginalThenUpdate(t *testing.T) {
	v := tools(t)
	p := newPKI(t)
	stamp := sealPNG(t)
	box := Placement{Page: 1, X: 20, Y: 60, Width: 120, Height: 120}
	for _, tt := range []struct {
		name     string
		pdf      []byte
		maxRead  int64 // of the document before writing
		wantText string
	}{
		{"twenty-page scan, xref stream", scanPDF(t, 20, 1000, 1414), 64 << 10, ""},
		{"text, classic xref", textPDF(t, 300), 64 << 10, ""},
		{"objects larger than a window", bigObjectPDF(), 256 << 10, strings.Repeat("a long note ", 2000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := &recordingReader{data: tt.pdf}
			out := &firstWrite{doc: doc}
			n, err := SignTo(t.Context(), out, doc, int64(len(tt.pdf)), request(p.ecdsa, stamp, box))
			if err != nil {
				t.Fatal(err)
			}
			checkStreamed(t, v, p, tt.pdf, out.Bytes(), n.Size, tt.wantText)
			if out.readBefore > tt.maxRead {
				t.Errorf("SignTo read %d bytes of a %d-byte document before writing, want at most %d",
					out.readBefore, len(tt.pdf), tt.maxRead)
			}

			// The same document in memory, as vault.Fetch hands out a small one, is written
			// from its own bytes: whole, from its start, whatever the caller's reader had
			// read, whose offset is left where it was.
			mem := bytes.NewReader(tt.pdf)
			if _, err := mem.Read(make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			var memOut bytes.Buffer
			n, err = SignTo(t.Context(), &memOut, mem, int64(len(tt.pdf)), request(p.ecdsa, stamp, box))
			if err != nil {
				t.Fatal(err)
			}
			checkStreamed(t, v, p, tt.pdf, memOut.Bytes(), n.Size, tt.wantText)
			if mem.Len() != len(tt.pdf)-100 {
				t.Errorf("the caller's reader has %d bytes left, want %d", mem.Len(), len(tt.pdf)-100)
			}
		})
	}
}

// checkStreamed checks what SignTo wrote (and said it wrote) of pdf: the original unchanged,
// then an incremental update, valid to every validator.
func checkStreamed(t *testing.T, v *validators, p *pki, pdf, signed []byte, size int64, wantText string) {
	t.Helper()
	if size != int64(len(signed)) || !bytes.HasPrefix(signed, pdf) || len(signed) <= len(pdf) {
		t.Fatalf("SignTo wrote %d bytes (said %d) that do not start with the %d of the original", len(signed), size, len(pdf))
	}
	update := signed[len(pdf):]
	if !bytes.Contains(update, []byte("/ByteRange [0 ")) || !bytes.HasSuffix(update, []byte("%%EOF\n")) {
		t.Error("what follows the original is not an incremental update")
	}
	if wantText != "" && !bytes.Contains(update, []byte(wantText)) {
		t.Error("the new version of the page lost the part of its dictionary beyond the first window")
	}
	requireGood(t, mustVerify(t, signed, 1)[0], p.ecdsa, "Seal-1", true)
	path := writeTemp(t, "streamed.pdf", signed)
	requireValidPdfsig(t, v.pdfsig(t, path)[0], true)
	v.requireQPDFCheck(t, path)
	v.requirePdfcpuValid(t, path, 1)
}

// TestSignToWritesNothingForABadDocument: a document or placement SignTo refuses is a
// *DocumentError before any byte is written, so a refused document never starts an upload.
func TestSignToWritesNothingForABadDocument(t *testing.T) {
	p := newPKI(t)
	good := textPDF(t, 5)
	for _, tt := range []struct {
		name  string
		pdf   []byte
		place Placement
	}{
		{"cut in the middle", good[:len(good)/2], Placement{Page: 1, X: 10, Y: 10, Width: 50, Height: 50}},
		{"page beyond the end", good, Placement{Page: 2, X: 10, Y: 10, Width: 50, Height: 50}},
		{"box off the page", good, Placement{Page: 1, X: 590, Y: 10, Width: 50, Height: 50}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := SignTo(t.Context(), &out, bytes.NewReader(tt.pdf), int64(len(tt.pdf)), request(p.ecdsa, sealPNG(t), tt.place))
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Errorf("SignTo: %v, want a *DocumentError", err)
			}
			if out.Len() != 0 {
				t.Errorf("SignTo wrote %d bytes for a document it refused", out.Len())
			}
		})
	}
}

// failingWriter fails once it has taken limit bytes.
type failingWriter struct{ limit, n int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errDiskFull
	}
	w.n += len(p)
	return len(p), nil
}

// TestSignToReportsAFailedWrite: a writer failing in the original or in the update fails
// SignTo with its error, so that the caller discards the partial output.
func TestSignToReportsAFailedWrite(t *testing.T) {
	p := newPKI(t)
	pdf := scanPDF(t, 2, 400, 566)
	for _, limit := range []int{0, len(pdf) / 2, len(pdf) + 10} {
		_, err := SignTo(t.Context(), &failingWriter{limit: limit}, bytes.NewReader(pdf), int64(len(pdf)),
			request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 10, Y: 10, Width: 50, Height: 50}))
		if !errors.Is(err, errDiskFull) {
			t.Errorf("writer failing after %d bytes: SignTo says %v", limit, err)
		}
	}
}

// TestSignToStopsWhenCancelled: a cancelled request stops the copy, whether the document
// is read from a file-like reader or written from memory, and SignTo says why.
func TestSignToStopsWhenCancelled(t *testing.T) {
	p := newPKI(t)
	pdf := scanPDF(t, 2, 400, 566)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, doc := range map[string]io.ReaderAt{"in memory": bytes.NewReader(pdf), "read at offsets": &recordingReader{data: pdf}} {
		var out bytes.Buffer
		_, err := SignTo(ctx, &out, doc, int64(len(pdf)), request(p.ecdsa, sealPNG(t), Placement{Page: 1, X: 10, Y: 10, Width: 50, Height: 50}))
		if !errors.Is(err, context.Canceled) || out.Len() != 0 {
			t.Errorf("%s: SignTo after cancel wrote %d bytes and says %v, want nothing written and context.Canceled", name, out.Len(), err)
		}
	}
}
