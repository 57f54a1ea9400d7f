package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sealvault/internal/dbtest"
	"sealvault/vault"
	"sealvault/vault/fsstore"
	"sealvault/vault/pages"
)

// BenchmarkBulkIngest is the back-capture of a paper archive: `sealvault ingest` of b.N
// generated one-page scans (run it with -benchtime=10000x) against `sealvault serve` on the
// fs store, at --parallel 4, and in the same run its floor: each page decoded in full with
// libjpeg-turbo (pages.ReferenceDecode) and Put twice (the page and the PDF embedding it) to a
// fs store on the same disk, from 4 goroutines. Reports the pages a second `sealvault ingest`
// printed, the floor's, and the ratio.
//
// Each page is an A4 grey scan at 150 DPI (1240×1754, about 300 KB at quality 85, noise that
// compresses like paper) with a comment segment that makes its bytes distinct.
func BenchmarkBulkIngest(b *testing.B) {
	const parallel = 4
	dir := b.TempDir()
	tmpl := bulkPage(b)
	var rows strings.Builder
	rows.WriteString(ingestHeader)
	for i := range b.N {
		name := fmt.Sprintf("p%06d.jpg", i)
		if err := os.WriteFile(filepath.Join(dir, name), distinctPage(tmpl, i), 0o600); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&rows, "%s,id_card,%s,HUKOU,户口簿,scan,,2019-05-06,,true,是\n", name, ingestHolder)
	}
	manifest := filepath.Join(b.TempDir(), "archive.csv")
	password := filepath.Join(b.TempDir(), "password")
	for path, data := range map[string]string{manifest: rows.String(), password: ingestPassword + "\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			b.Fatal(err)
		}
	}

	// The service and the ingest command run in this process and log to os.Stderr, which go
	// test would print in the middle of this benchmark's result line (between its name and
	// its figures, where tools/bench.sh and cmd/benchtable no longer find it). Their logs go
	// to a file of the benchmark's instead; serve is stopped (a cleanup registered later,
	// so run earlier) before os.Stderr is restored.
	logFile, err := os.Create(filepath.Join(b.TempDir(), "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	stderrBefore := os.Stderr
	os.Stderr = logFile
	b.Cleanup(func() { os.Stderr = stderrBefore; logFile.Close() })
	srv := startServe(b, dbtest.URL(b), b.TempDir())
	b.ResetTimer()
	var stdout, stderr bytes.Buffer
	root := newRoot()
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"ingest", dir, "--manifest", manifest, "--server", srv.base, "--username", "window",
		"--password-file", password, "--parallel", strconv.Itoa(parallel)})
	if err := root.ExecuteContext(b.Context()); err != nil {
		b.Fatalf("ingest: %v\n%s", err, stderr.String())
	}
	b.StopTimer()
	m := regexp.MustCompile(`; (\d+) page images, ([0-9.]+) pages/s`).FindStringSubmatch(stdout.String())
	if m == nil || m[1] != strconv.Itoa(b.N) {
		b.Fatalf("ingest printed %q, want %d page images and pages/s", stdout.String(), b.N)
	}
	ingestRate, _ := strconv.ParseFloat(m[2], 64)

	floor := bulkFloor(b, dir, parallel)
	b.ReportMetric(ingestRate, "ingest-pages/s")
	b.ReportMetric(floor, "floor-pages/s")
	b.ReportMetric(ingestRate/floor, "ingest/floor")
	b.Logf("%s", strings.TrimSpace(stdout.String()))
}

// bulkFloor decodes and stores every page in dir from parallel goroutines; pages a second.
func bulkFloor(b *testing.B, dir string, parallel int) float64 {
	st, err := fsstore.New(filepath.Join(b.TempDir(), "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	next := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			for name := range next {
				data, err := os.ReadFile(name)
				if err == nil {
					err = pages.ReferenceDecode(data)
				}
				for i := 0; err == nil && i < 2; i++ {
					data[len(data)-3] ^= 0x55 // the second Put is of distinct bytes, after the decode
					_, _, err = vault.Put(context.Background(), st, bytes.NewReader(data), nil)
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range names {
		next <- n
	}
	close(next)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	return float64(len(names)) / time.Since(start).Seconds()
}

func bulkPage(b *testing.B) []byte {
	img := image.NewGray(image.Rect(0, 0, 1240, 1754))
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range img.Pix {
		img.Pix[i] = uint8(225 + rng.IntN(16))
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// distinctPage is tmpl with a comment segment after SOI naming page i.
func distinctPage(tmpl []byte, i int) []byte {
	com := fmt.Sprintf("page %010d", i)
	out := append([]byte{}, tmpl[:2]...)
	out = append(out, 0xff, 0xfe, 0, byte(len(com)+2))
	out = append(out, com...)
	return append(out, tmpl[2:]...)
}
