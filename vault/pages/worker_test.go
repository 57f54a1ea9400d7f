package pages

import (
	"bytes"
	"errors"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t testing.TB, dir, name string, data []byte) JobFile {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return JobFile{Name: name, Path: p}
}

// TestWorkerAssemblesPages: a worker process inspects the pages, assembles them in order
// and makes the thumbnail of page 1, as the in-process functions do.
func TestWorkerAssemblesPages(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	job := Job{Kind: "pages", OutDir: out, Files: []JobFile{
		writeFile(t, in, "第1页.png", withPHYs(encodePNG(t, sheet(1654, 2339)), 7874, 1)),
		writeFile(t, in, "2.jpg", encodeJPEG(t, colourSheet(600, 400))),
	}}
	res, err := Run(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	if res.PageCount != 2 || len(res.Pages) != 2 || res.Pages[0].Format != "png" || res.Pages[0].DPI != 200 ||
		res.Pages[1].Format != "jpeg" || res.Pages[1].Width != 600 || res.Pages[0].Name != "第1页.png" {
		t.Errorf("pages %+v", res.Pages)
	}
	if res.PeakRSS <= 0 {
		t.Errorf("no peak RSS for the worker")
	}
	pdf, err := os.ReadFile(res.PDF)
	if err != nil || filepath.Dir(res.PDF) != out {
		t.Fatalf("assembled PDF %q: %v", res.PDF, err)
	}
	if n, err := CheckPDF("out.pdf", pdf, Limits{}); err != nil || n != 2 {
		t.Errorf("assembled PDF: %d pages, %v", n, err)
	}
	thumb, err := os.ReadFile(res.Thumbnail)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(thumb))
	if err != nil || img.Bounds().Dx() != ThumbWidth {
		t.Errorf("thumbnail %v %v", img.Bounds(), err)
	}
}

// TestWorkerRejects: a refusal inside the worker comes back as the same *RejectError.
func TestWorkerRejects(t *testing.T) {
	in := t.TempDir()
	_, err := Run(t.Context(), Job{Kind: "pages", OutDir: t.TempDir(), Files: []JobFile{
		writeFile(t, in, "1.png", encodePNG(t, sheet(300, 400))),
		writeFile(t, in, "合同.png", []byte("not an image")),
	}})
	var rej *RejectError
	if !errors.As(err, &rej) || rej.File != "合同.png" || !strings.Contains(rej.ReasonZh, "文本文件") {
		t.Fatalf("got %v, want a rejection of 合同.png", err)
	}
	_, err = Run(t.Context(), Job{Kind: "pdf", OutDir: t.TempDir(), Files: []JobFile{writeFile(t, in, "x.pdf", []byte("%PDF-1.7 garbage"))}})
	if !errors.As(err, &rej) || rej.File != "x.pdf" {
		t.Fatalf("got %v, want a rejection of x.pdf", err)
	}
}

// TestWorkerPDF: a PDF job validates the file where it is and renders page 1 with pdftoppm.
func TestWorkerPDF(t *testing.T) {
	pdf, err := Assemble([]Page{mustInspect(t, "p.png", encodePNG(t, sheet(600, 848)))})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := Run(t.Context(), Job{Kind: "pdf", OutDir: out, Files: []JobFile{writeFile(t, t.TempDir(), "a.pdf", pdf)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.PageCount != 1 || res.PDF != "" || res.Warning != "" {
		t.Errorf("result %+v", res)
	}
	thumb, err := os.ReadFile(res.Thumbnail)
	if err != nil {
		t.Fatalf("thumbnail (pdftoppm, Debian package poppler-utils): %v", err)
	}
	if img, err := jpeg.Decode(bytes.NewReader(thumb)); err != nil || img.Bounds().Dx() != ThumbWidth || img.Bounds().Dy() < 450 {
		t.Errorf("thumbnail %v %v", img.Bounds(), err)
	}
}

// TestWorkersLiveOn: jobs one after another are served by one worker process, which reports
// each job's own peak memory.
func TestWorkersLiveOn(t *testing.T) {
	in := t.TempDir()
	page := writeFile(t, in, "1.png", withPHYs(encodePNG(t, sheet(1654, 2339)), 7874, 1))
	before := workersStarted.Load()
	for range 5 {
		res, err := Run(t.Context(), Job{Kind: "pages", OutDir: t.TempDir(), Files: []JobFile{page}})
		if err != nil {
			t.Fatal(err)
		}
		if res.PeakRSS <= 0 {
			t.Errorf("no peak RSS for the job")
		}
	}
	if n := workersStarted.Load() - before; n > 1 {
		t.Errorf("five jobs one after another started %d workers, want at most 1", n)
	}
}

// TestWorkerDeathIsTheJobsRefusal: a worker killed in the middle of a job (here blocked on
// a file that never yields data) refuses that job naming the file; a worker that died while
// idle is replaced without refusing anyone; the next job is served.
func TestWorkerDeathIsTheJobsRefusal(t *testing.T) {
	in := t.TempDir()
	page := writeFile(t, in, "1.png", encodePNG(t, sheet(300, 400)))
	if _, err := Run(t.Context(), Job{Kind: "pages", OutDir: t.TempDir(), Files: []JobFile{page}}); err != nil {
		t.Fatal(err)
	}
	// An idle worker killed behind the pool's back (as the OOM killer would).
	idleWorkers.Lock()
	for _, w := range idleWorkers.list {
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	idleWorkers.Unlock()
	if _, err := Run(t.Context(), Job{Kind: "pages", OutDir: t.TempDir(), Files: []JobFile{page}}); err != nil {
		t.Fatalf("after an idle worker died: %v", err)
	}

	fifo := filepath.Join(in, "扫描件.png")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(t.Context(), Job{Kind: "pages", OutDir: t.TempDir(), Files: []JobFile{{Name: "扫描件.png", Path: fifo}}})
		done <- err
	}()
	// Once the job is in a worker (blocked opening the FIFO), kill every worker process
	// this test binary started.
	time.Sleep(time.Second)
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(os.Getpid())).Output()
	pids := strings.Fields(string(out))
	if len(pids) == 0 {
		t.Fatal("no worker process to kill")
	}
	for _, p := range pids {
		n, _ := strconv.Atoi(p)
		_ = syscall.Kill(n, syscall.SIGKILL)
	}
	err := <-done
	var rej *RejectError
	if !errors.As(err, &rej) || rej.File != "扫描件.png" || !strings.Contains(rej.ReasonZh, "无法读取") {
		t.Fatalf("a job whose worker died: %v, want a refusal of 扫描件.png", err)
	}
	if _, err := Run(t.Context(), Job{Kind: "pages", OutDir: t.TempDir(), Files: []JobFile{page}}); err != nil {
		t.Fatalf("after a worker died mid-job: %v", err)
	}
}
