package vault_test

// Benchmarks of material ingest. None of them runs in a plain `go test`; see
// docs/BENCHMARKS.md ("Vault benchmarks") for the commands and the results.
//
//	BenchmarkIngest/{fs,s3}/c=N   one Ingester.Ingest of a material of one 1 MiB JPEG page
//	                              image (distinct bytes every op), from N goroutines, on the
//	                              filesystem store or an S3 bucket (versitygw)
//	BenchmarkRawPut/{fs,s3}/c=N   the peer: one vault.Put of distinct 1 MiB byte slices of
//	                              the same kind, same store, same concurrency, no pins
//	BenchmarkIngestMemory/{image,pdf}/mb=M
//	                              one upload of a single M MiB page image or an M-page,
//	                              M MiB PDF, spooled from disk and ingested, one at a time
//	                              (fs store); reports the peak heap and RSS of this process
//	                              and of the page worker
//
// The database is a fresh clone on the test cluster (internal/dbtest), opened with a pool of
// 40 connections.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/internal/s3test"
	"sealvault/internal/testkit"
	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/pages"
	"sealvault/vault/s3store"
)

const (
	benchHolder   = "11010519491231002X"
	benchPageSize = 1 << 20
	// benchStamp marks the 16 bytes of a JPEG comment segment that each op overwrites with a
	// counter, so every op stores bytes no earlier op stored (no dedupe, no reused assembly).
	benchStamp = "SVBENCHSTAMP0000"
)

var benchConcurrency = []int{1, 4, 16}

// benchSeq numbers the stamped copies across the whole process.
var benchSeq atomic.Uint64

// ---------------------------------------------------------------------------------------
// Page images

// benchJPEG returns a baseline JPEG of about size bytes and exactly size bytes long: an A4-
// proportioned page (a light gradient with noise, so it compresses like a dense colour scan)
// whose dimensions are scaled to come close to size, padded with comment segments to size.
// The first comment segment holds benchStamp.
func benchJPEG(tb testing.TB, size int) []byte {
	tb.Helper()
	encode := func(w int) []byte {
		h := w * 1414 / 1000
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		r := rand.New(rand.NewPCG(uint64(w), 42))
		for y := range h {
			for x := range w {
				img.Y[y*img.YStride+x] = uint8(150 + (x+y)%64 + r.IntN(42))
			}
		}
		for i := range img.Cb {
			img.Cb[i], img.Cr[i] = uint8(118+r.IntN(20)), uint8(118+r.IntN(20))
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
			tb.Fatal(err)
		}
		return buf.Bytes()
	}
	// Bytes grow with the pixel count: calibrate on a small page, then aim 3% low.
	const w0 = 400
	trial := encode(w0)
	w := int(float64(w0) * sqrt(0.97*float64(size)/float64(len(trial))))
	data := encode(w)
	for len(data)+24 > size {
		w = w * 98 / 100
		data = encode(w)
	}
	// SOI, stamp comment, padding comments, rest of the image.
	out := make([]byte, 0, size)
	out = append(out, data[:2]...)
	out = appendCOM(out, []byte(benchStamp))
	rest := data[2:]
	for pad := size - len(out) - len(rest); pad > 0; {
		n := min(pad-4, 65533-2) // a segment is 4 bytes of marker and length plus its payload
		if pad-4-n > 0 && pad-4-n < 4 {
			n -= 4 // leave room for a final segment of at least its header
		}
		if n < 0 {
			tb.Fatalf("cannot pad JPEG by %d bytes", pad)
		}
		out = appendCOM(out, bytes.Repeat([]byte{' '}, n))
		pad -= 4 + n
	}
	out = append(out, rest...)
	if len(out) != size {
		tb.Fatalf("benchJPEG: made %d bytes, want %d", len(out), size)
	}
	return out
}

func appendCOM(b, payload []byte) []byte {
	n := len(payload) + 2
	return append(append(b, 0xFF, 0xFE, byte(n>>8), byte(n)), payload...)
}

func sqrt(x float64) float64 {
	z := x
	for range 40 {
		z = (z + x/z) / 2
	}
	return z
}

// stamper makes distinct copies of a template holding benchStamp.
type stamper struct {
	tmpl []byte
	at   int
}

func newStamper(tb testing.TB, tmpl []byte) stamper {
	tb.Helper()
	at := bytes.Index(tmpl, []byte(benchStamp))
	if at < 0 || bytes.Index(tmpl[at+1:], []byte(benchStamp)) >= 0 {
		tb.Fatal("template must hold the stamp exactly once")
	}
	return stamper{tmpl: tmpl, at: at}
}

// next copies the template into buf (allocated if nil) with a new stamp.
func (s stamper) next(buf []byte) []byte {
	if buf == nil {
		buf = make([]byte, len(s.tmpl))
	}
	copy(buf, s.tmpl)
	n := benchSeq.Add(1)
	copy(buf[s.at:s.at+len(benchStamp)], fmt.Sprintf("SV%014d", n))
	return buf
}

// ---------------------------------------------------------------------------------------
// Environment

type benchEnv struct {
	pool  *pgxpool.Pool
	keys  *vault.HolderKeys
	user  identity.User
	dept  identity.Department
	pins  *vault.Pins
	fs    *fsstore.Store
	s3    *s3store.Store
	page  stamper // 1 MiB JPEG
	limit pages.Limits
}

// newBenchEnv opens a fresh database with a department and a window clerk in it, a
// filesystem store and (if withS3) a store on a fresh S3 bucket.
func newBenchEnv(b *testing.B, withS3 bool) *benchEnv {
	b.Helper()
	ctx := b.Context()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 40
	e := &benchEnv{limit: pages.DefaultLimits()}
	if e.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.pool.Close)
	if e.keys, err = vault.ParseHolderKeys(vault.GenerateHolderKeys()); err != nil {
		b.Fatal(err)
	}
	center, err := identity.CreateDepartment(ctx, e.pool, identity.NewDepartment{Code: "C1", Name: "政务服务中心",
		Kind: identity.KindCenter, Level: "district"})
	if err != nil {
		b.Fatal(err)
	}
	if e.dept, err = identity.CreateDepartment(ctx, e.pool, identity.NewDepartment{Code: "D1", Name: "市场监督管理局",
		Kind: identity.KindDepartment, Level: "district", ParentID: &center.ID}); err != nil {
		b.Fatal(err)
	}
	if e.user, err = identity.CreateUser(ctx, e.pool, identity.NewUser{Username: "window1", DisplayName: "窗口一",
		DepartmentID: e.dept.ID, Roles: []identity.Role{identity.RoleWindow}, Password: "correct horse battery"}); err != nil {
		b.Fatal(err)
	}
	e.pins = vault.NewPins(e.pool)
	if e.fs, err = fsstore.New(filepath.Join(b.TempDir(), "blobs")); err != nil {
		b.Fatal(err)
	}
	if withS3 {
		endpoint, access, secret := s3test.Server(b)
		if e.s3, err = s3store.New(ctx, s3store.Config{Endpoint: endpoint, AccessKey: access, SecretKey: secret,
			Bucket: s3test.Bucket(b), SpoolDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
	}
	e.page = newStamper(b, benchJPEG(b, benchPageSize))
	return e
}

func (e *benchEnv) backends() []struct {
	name string
	b    vault.Backend
} {
	return []struct {
		name string
		b    vault.Backend
	}{{"fs", e.fs}, {"s3", e.s3}}
}

func (e *benchEnv) ingester(blobs vault.Backend) *vault.Ingester {
	return &vault.Ingester{DB: e.pool, Blobs: blobs, Pins: e.pins, Keys: e.keys, Limits: e.limit}
}

func (e *benchEnv) request(tb testing.TB, name string, data io.Reader, pdf bool) vault.IngestRequest {
	req := vault.IngestRequest{
		Info: vault.MaterialInfo{HolderKind: vault.HolderIDCard, HolderNumber: benchHolder, TypeCode: "id.card",
			Title: "居民身份证", Source: vault.SourceScan, IssuingAuthority: "北京市公安局朝阳分局",
			IssuedOn: "2020-01-02", ValidUntil: "2040-01-02", OriginalVerified: true},
		By: vault.Capturer{UserID: e.user.ID, DepartmentID: e.dept.ID, Roles: []string{string(identity.RoleWindow)},
			RequestID: "bench", ClientIP: "10.0.0.1"},
	}
	f, err := vault.Spool("", name, data, 1<<40)
	if err != nil {
		tb.Fatal(err)
	}
	if pdf {
		req.PDF = f
	} else {
		req.Pages = []*vault.Spooled{f}
	}
	return req
}

// release removes req's spooled files.
func release(req vault.IngestRequest) {
	req.PDF.Remove()
	for _, f := range req.Pages {
		f.Remove()
	}
}

// ---------------------------------------------------------------------------------------
// Throughput

// runConcurrent runs op b.N times from c goroutines, each with its own 1 MiB buffer, and
// reports MB/s (from SetBytes), uploads/s and the p50 and p99 latency of op.
func runConcurrent(b *testing.B, c int, op func(ctx context.Context, buf []byte) error) {
	b.Helper()
	ctx := b.Context()
	b.SetBytes(benchPageSize)
	bufs := make([][]byte, c)
	for w := range bufs {
		bufs[w] = make([]byte, benchPageSize)
	}
	testkit.RunConcurrent(b, c, "uploads/s", func(w, _ int) error { return op(ctx, bufs[w]) })
}

// BenchmarkIngest: one op = Ingester.Ingest of one material of one distinct 1 MiB JPEG
// page: inspect (decode), assemble the PDF, make the thumbnail, Put PDF, thumbnail and page
// (each pinned), then the recording transaction with its audit event.
func BenchmarkIngest(b *testing.B) {
	e := newBenchEnv(b, true)
	for _, be := range e.backends() {
		in := e.ingester(be.b)
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", be.name, c), func(b *testing.B) {
				runConcurrent(b, c, func(ctx context.Context, buf []byte) error {
					data := e.page.next(buf)
					req := e.request(b, "page.jpg", bytes.NewReader(data), false)
					defer release(req)
					m, created, err := in.Ingest(ctx, req)
					if err == nil && (!created || m.PageCount != 1) {
						err = fmt.Errorf("ingest: created %v, %d pages", created, m.PageCount)
					}
					return err
				})
			})
		}
	}
}

// BenchmarkIngestScans and BenchmarkIngestFloor are the pair of issue #14's ingest target, on
// both stores, for scans of 1 and 2 pages (each a distinct 1 MiB JPEG) at concurrency 1 and 4.
// IngestScans: one op = Ingest of one material of those pages. IngestFloor: one op = what an
// ingest of those pages cannot do without, measured in the same process: a full decode of each
// page with libjpeg-turbo (pages.ReferenceDecode, djpeg's decode), and raw Puts of the bytes
// an ingest stores (each page and, for the PDF that embeds them, as many bytes again).
func BenchmarkIngestScans(b *testing.B) {
	e := newBenchEnv(b, true)
	e.scans(b, func(b *testing.B, be vault.Backend, ctx context.Context, pages [][]byte) error {
		req := e.request(b, "page1.jpg", bytes.NewReader(pages[0]), false)
		for i, p := range pages[1:] {
			f, err := vault.Spool("", fmt.Sprintf("page%d.jpg", i+2), bytes.NewReader(p), 1<<40)
			if err != nil {
				return err
			}
			req.Pages = append(req.Pages, f)
		}
		defer release(req)
		m, created, err := e.ingester(be).Ingest(ctx, req)
		if err == nil && (!created || m.PageCount != len(pages)) {
			err = fmt.Errorf("ingest: created %v, %d pages", created, m.PageCount)
		}
		return err
	})
}

func BenchmarkIngestFloor(b *testing.B) {
	e := newBenchEnv(b, true)
	e.scans(b, func(b *testing.B, be vault.Backend, ctx context.Context, pgs [][]byte) error {
		for _, p := range pgs {
			if err := pages.ReferenceDecode(p); err != nil {
				return err
			}
			for range 2 { // the page, and its bytes again in the PDF
				if _, _, err := vault.Put(ctx, be, bytes.NewReader(p), nil); err != nil {
					return err
				}
				p[e.page.at]++ // a distinct blob: the stamp comment changes
			}
		}
		return nil
	})
}

// scans runs op as {fs,s3}/pages={1,2}/c={1,4}, each op with its own distinct pages.
func (e *benchEnv) scans(b *testing.B, op func(b *testing.B, be vault.Backend, ctx context.Context, pages [][]byte) error) {
	for _, be := range e.backends() {
		for _, n := range []int{1, 2} {
			for _, c := range []int{1, 4} {
				b.Run(fmt.Sprintf("%s/pages=%d/c=%d", be.name, n, c), func(b *testing.B) {
					ctx := b.Context()
					b.SetBytes(int64(n) * benchPageSize)
					bufs := make([][][]byte, c)
					for w := range bufs {
						for range n {
							bufs[w] = append(bufs[w], make([]byte, benchPageSize))
						}
					}
					testkit.RunConcurrent(b, c, "uploads/s", func(w, _ int) error {
						for _, buf := range bufs[w] {
							e.page.next(buf)
						}
						return op(b, be.b, ctx, bufs[w])
					})
				})
			}
		}
	}
}

// BenchmarkRawPut is BenchmarkIngest's peer: one op = vault.Put of one distinct 1 MiB slice
// (the same JPEG bytes, stamped the same way) to the same store, without pins.
func BenchmarkRawPut(b *testing.B) {
	e := newBenchEnv(b, true)
	for _, be := range e.backends() {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", be.name, c), func(b *testing.B) {
				runConcurrent(b, c, func(ctx context.Context, buf []byte) error {
					data := e.page.next(buf)
					_, n, err := vault.Put(ctx, be.b, bytes.NewReader(data), nil)
					if err == nil && n != benchPageSize {
						err = fmt.Errorf("put: %d bytes", n)
					}
					return err
				})
			})
		}
	}
}

// ---------------------------------------------------------------------------------------
// Memory

// BenchmarkIngestMemory: one op = one upload of a large page image or PDF, from a file on
// disk through vault.Spool and Ingest (fs store), run alone, as the API does it. Before each
// op the heap is collected and returned to the system, and the process's peak RSS reset
// (/proc/self/clear_refs); a sampler reads the heap every millisecond while the op runs.
// Reported per op (the maximum over the ops): peak-heap-inuse-B (HeapInuse above the level
// before the op), alloc-B (TotalAlloc delta), rss-growth-B (VmHWM above VmRSS before the
// op; -1 if the peak cannot be reset), and worker-peak-rss-B: the peak RSS of the page
// worker process doing this upload's job (pages.Run, run once more on its own afterwards;
// the kernel's figure for the worker, not counting pdftoppm under it).
func BenchmarkIngestMemory(b *testing.B) {
	e := newBenchEnv(b, false)
	in := e.ingester(e.fs)
	type size struct {
		kind string
		mb   int
	}
	for _, sz := range []size{{"image", 5}, {"image", 10}, {"image", 19}, {"pdf", 25}, {"pdf", 50}, {"pdf", 100}, {"pdf", 190}} {
		// Made once for the sub-benchmark's runs (b.N = 1, then the -benchtime), so no two
		// ops upload the same bytes.
		write := benchUploads(b, sz.kind, sz.mb)
		b.Run(fmt.Sprintf("%s/mb=%d", sz.kind, sz.mb), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "upload")
			fileSize := write(path)
			ctx := b.Context()
			var peakHeap, alloc uint64
			var rssGrowth int64
			b.SetBytes(fileSize)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if i > 0 {
					write(path)
				}
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				debug.FreeOSMemory()
				var m0 runtime.MemStats
				runtime.ReadMemStats(&m0)
				resetOK := resetPeakRSS()
				rss0, _ := procStatus("VmRSS:")
				stop := make(chan struct{})
				peak := make(chan uint64)
				go func() {
					top := m0.HeapInuse
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					var m runtime.MemStats
					for {
						select {
						case <-stop:
							runtime.ReadMemStats(&m)
							peak <- max(top, m.HeapInuse)
							return
						case <-t.C:
							runtime.ReadMemStats(&m)
							top = max(top, m.HeapInuse)
						}
					}
				}()
				b.StartTimer()
				req := e.request(b, "big."+map[string]string{"image": "jpg", "pdf": "pdf"}[sz.kind], f, sz.kind == "pdf")
				_, created, err := in.Ingest(ctx, req)
				b.StopTimer()
				release(req)
				f.Close()
				close(stop)
				top := <-peak
				if err != nil || !created {
					b.Fatalf("ingest: created %v, %v", created, err)
				}
				var m1 runtime.MemStats
				runtime.ReadMemStats(&m1)
				peakHeap = max(peakHeap, top-m0.HeapInuse)
				alloc = max(alloc, m1.TotalAlloc-m0.TotalAlloc)
				if hwm, ok := procStatus("VmHWM:"); ok && resetOK {
					rssGrowth = max(rssGrowth, int64(hwm)-int64(min(hwm, rss0)))
				} else {
					rssGrowth = -1
				}
				b.StartTimer()
			}
			b.StopTimer()
			kind := map[string]string{"image": "pages", "pdf": "pdf"}[sz.kind]
			res, err := pages.Run(ctx, pages.Job{Kind: kind, Files: []pages.JobFile{{Name: "big", Path: path}}, OutDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fileSize), "file-B")
			b.ReportMetric(float64(peakHeap), "peak-heap-inuse-B")
			b.ReportMetric(float64(alloc), "alloc-B")
			b.ReportMetric(float64(rssGrowth), "rss-growth-B")
			b.ReportMetric(float64(res.PeakRSS), "worker-peak-rss-B")
		})
	}
}

// benchUploads returns a function that writes an upload of kind ("image": one JPEG page of
// mb MiB; "pdf": an mb-page PDF of 1 MiB scans) to path and returns its size. Each call
// writes different bytes, so every op of a benchmark records a new material instead of
// finding the one before it. Everything it allocated is returned to the system before the
// op is measured.
func benchUploads(b *testing.B, kind string, mb int) func(path string) int64 {
	b.Helper()
	size := benchPageSize
	if kind == "image" {
		size = mb << 20
	}
	st := newStamper(b, benchJPEG(b, size))
	return func(path string) int64 {
		var data []byte
		if kind == "image" {
			data = st.next(nil)
		} else {
			ps := make([]pages.Page, mb)
			for i := range ps {
				ps[i] = pages.Page{Name: fmt.Sprintf("p%d.jpg", i+1), Data: st.next(nil)}
			}
			pdf, err := pages.Assemble(ps)
			if err != nil {
				b.Fatal(err)
			}
			data = pdf
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		n := int64(len(data))
		data = nil
		runtime.GC()
		debug.FreeOSMemory()
		return n
	}
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: "5" to /proc/self/clear_refs).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// procStatus returns a size field of /proc/self/status ("VmHWM:", "VmRSS:") in bytes.
func procStatus(field string) (uint64, bool) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

func TestMain(m *testing.M) {
	pages.WorkerMain()
	os.Exit(m.Run())
}
