package api

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sealvault/vault"
)

// bigPDFSize is the size of the document BenchmarkSealApplyMemory seals.
const bigPDFSize = 200 << 20

// writeBigPDF writes a two-page A4 PDF of about size bytes to path: the first page shows one
// 8-bit grey image of noise that makes up nearly all of the file, the second is empty. It
// is written as it is made, never held in memory.
func writeBigPDF(tb testing.TB, path string, size int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var offs []int64
	var n int64
	write := func(s string) {
		m, _ := bw.WriteString(s)
		n += int64(m)
	}
	obj := func(body string) {
		offs = append(offs, n)
		write(fmt.Sprintf("%d 0 obj\n%s\nendobj\n", len(offs), body))
	}
	write("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>")
	content := "q 595 0 0 842 0 0 cm /Im1 Do Q\n"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content))
	width := 10000
	height := size / width
	offs = append(offs, n)
	write(fmt.Sprintf("6 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Length %d >>\nstream\n",
		width, height, width*height))
	rng := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 1<<20)
	for left := width * height; left > 0; left -= len(chunk) {
		c := chunk[:min(left, len(chunk))]
		rng.Read(c)
		m, _ := bw.Write(c)
		n += int64(m)
	}
	write("\nendstream\nendobj\n")
	xref := n
	write(fmt.Sprintf("xref\n0 %d\n0000000000 65535 f \n", len(offs)+1))
	for _, off := range offs {
		write(fmt.Sprintf("%010d 00000 n \n", off))
	}
	write(fmt.Sprintf("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref))
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
}

// heapInUse is the bytes of heap spans in use (runtime.MemStats.HeapInuse).
func heapInUse() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// procStatus returns a size field of /proc/self/status (VmRSS, VmHWM) in bytes.
func procStatus(tb testing.TB, field string) uint64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// peakHeap samples heapInUse every millisecond until stop is called, which returns the
// largest value seen.
func peakHeap() (stop func() uint64) {
	var mu sync.Mutex
	peak := heapInUse()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				v := heapInUse()
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return max(peak, heapInUse())
	}
}

// BenchmarkSealApplyMemory seals a generated PDF of about 200 MB through the service path:
// POST /api/v1/seal-requests/{id}/apply over HTTP, which reads the document from the fs blob
// store, verified, signs it and streams the signed copy back into the store. It reports the
// largest heap in use and the peak resident set (VmHWM, reset before each application)
// during the application, each above its idle value just before it, after a GC. The
// request is filed and approved for a small document and then pointed at the large one, a
// result of the same case, since only the application is measured.
func BenchmarkSealApplyMemory(b *testing.B) {
	w := newBenchWorld(b)
	ctx := b.Context()
	path := filepath.Join(b.TempDir(), "big.pdf")
	writeBigPDF(b, path, bigPDFSize)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	big, size, err := vault.Put(ctx, w.blobs, f, nil)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	os.Remove(path)
	if _, err := w.pool.Exec(ctx, `INSERT INTO seal_documents (digest, department_id, name, size, page_count, uploaded_by, uploaded_at)
		SELECT $1, department_id, 'big.pdf', $2, 2, uploaded_by, uploaded_at FROM seal_documents WHERE digest = $3`,
		big.String(), size, w.doc); err != nil {
		b.Fatal(err)
	}
	if _, err := w.pool.Exec(ctx, `INSERT INTO case_documents (case_id, digest, kind, name, added_by, added_at)
		SELECT case_id, $2, kind, 'big.pdf', added_by, added_at FROM case_documents WHERE case_id = $1 AND digest = $3`,
		w.caseID, big.String(), w.doc); err != nil {
		b.Fatal(err)
	}
	b.Logf("document: %d bytes", size)
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("resetting the peak resident set: %v", err)
	}

	var worstHeap, worstRSS float64
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		id, err := w.approved(w.seals["rsa-3072"]) // the seal its earlier runs used
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.pool.Exec(ctx, `UPDATE seal_requests SET document_digest = $2 WHERE id = $1`, id, big.String()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		idleHeap := heapInUse()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Fatal(err)
		}
		idleRSS := procStatus(b, "VmRSS")
		stop := peakHeap()
		b.StartTimer()
		err = w.apply(id)
		b.StopTimer()
		peak := stop()
		hwm := procStatus(b, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		worstHeap = max(worstHeap, float64(peak-min(peak, idleHeap))/(1<<20))
		worstRSS = max(worstRSS, float64(hwm-min(hwm, idleRSS))/(1<<20))
		b.StartTimer()
	}
	b.StopTimer()
	var out int64
	if err := w.pool.QueryRow(ctx, `SELECT max(output_size) FROM seal_uses WHERE input_digest = $1`, big.String()).Scan(&out); err != nil {
		b.Fatal(err)
	}
	if out <= size || out > size+1<<20 {
		b.Fatalf("the signed copy is %d bytes, the document %d", out, size)
	}
	b.ReportMetric(worstHeap, "peak-heap-MB")
	b.ReportMetric(worstRSS, "peak-rss-MB")
	if worstHeap > 40 || worstRSS > 40 {
		b.Errorf("sealing a %d MB document took %.1f MB of heap and %.1f MB of resident memory above idle, more than 40 MB",
			size>>20, worstHeap, worstRSS)
	}
}
