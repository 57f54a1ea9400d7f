package pages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Uploaded files are checked and assembled in a worker process: this executable started
// again with workerEnv set, by Run, serving one Job. The server's memory then does not grow
// with what is uploaded (decoding a page image takes its pixels; pdfcpu holds every stream of
// a PDF it reads or writes), and a decoder that goes wrong on a hostile file takes down the
// worker, not the server.
const workerEnv = "SEALVAULT_PAGES_WORKER"

// Job is what one worker does with files already on local disk.
type Job struct {
	// Kind is "pages" (page images, in order: inspect each, assemble a PDF, thumbnail page
	// 1) or "pdf" (one PDF: validate it, thumbnail page 1).
	Kind   string    `json:"kind"`
	Files  []JobFile `json:"files"`
	Limits Limits    `json:"limits"`
	// OutDir is an existing directory where the worker writes content.pdf and
	// thumbnail.png; the caller removes it.
	OutDir string `json:"out_dir"`
}

// JobFile is one uploaded file: the name it was uploaded under (for messages) and where it is.
type JobFile struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// Result is what a worker found. Exactly one of Reject and the rest is meaningful.
type Result struct {
	Reject *RejectError `json:"reject,omitempty"`
	// Pages describes each page image (Kind "pages"; Data is not filled in).
	Pages     []Page `json:"pages,omitempty"`
	PageCount int    `json:"page_count"`
	// PDF is the assembled PDF (Kind "pages"); for Kind "pdf" the upload is the content.
	PDF string `json:"pdf,omitempty"`
	// Thumbnail is a PNG of page 1, or "" if none could be made (Warning says why).
	Thumbnail string `json:"thumbnail,omitempty"`
	Warning   string `json:"warning,omitempty"`
	Error     string `json:"error,omitempty"`

	// PeakRSS is the worker's peak resident set in bytes, from the kernel.
	PeakRSS int64 `json:"-"`
}

// workerSlots bounds the workers running at once, and so the memory they take together.
var workerSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// WorkerTimeout bounds one worker's run.
var WorkerTimeout = 5 * time.Minute

// Run does job in a worker process and returns its result; a refused file is a
// *RejectError. The executable must call WorkerMain first thing in main (and test binaries
// in TestMain).
func Run(ctx context.Context, job Job) (Result, error) {
	if os.Getenv(workerEnv) != "" {
		return Result{}, errors.New("pages: this worker was started by an executable that does not call pages.WorkerMain")
	}
	exe, err := workerExecutable()
	if err != nil {
		return Result{}, fmt.Errorf("pages: worker: %w", err)
	}
	in, err := json.Marshal(job)
	if err != nil {
		return Result{}, err
	}
	select {
	case workerSlots <- struct{}{}:
		defer func() { <-workerSlots }()
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, WorkerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitedWriter{w: &stderr, n: 4 << 10}
	runErr := cmd.Run()
	var res Result
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.PeakRSS = ru.Maxrss << 10
		}
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("pages: worker stopped after %s: %w", WorkerTimeout, ctx.Err())
		}
		return res, fmt.Errorf("pages: worker: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	peak := res.PeakRSS
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return res, fmt.Errorf("pages: worker answered %d bytes that are not a result: %w", stdout.Len(), err)
	}
	res.PeakRSS = peak
	switch {
	case res.Error != "":
		return res, errors.New("pages: worker: " + res.Error)
	case res.Reject != nil:
		return res, res.Reject
	}
	return res, nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if k := min(len(p), l.n); k > 0 {
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// workerExecutable is this process's own program: on Linux /proc/self/exe, which stays the
// running binary even if the file it was started from is replaced (an upgrade in place), so
// a worker always speaks its parent's protocol; elsewhere the path os.Executable reports.
func workerExecutable() (string, error) {
	const self = "/proc/self/exe"
	if _, err := os.Stat(self); err == nil {
		return self, nil
	}
	return os.Executable()
}

// WorkerMain returns at once unless this process was started by Run; then it does the job
// it is given on standard input, writes the result to standard output and exits.
func WorkerMain() {
	if os.Getenv(workerEnv) == "" {
		return
	}
	var job Job
	var res Result
	if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil {
		res.Error = "reading the job: " + err.Error()
	} else {
		res = work(job)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		os.Exit(2)
	}
	os.Exit(0)
}

func work(job Job) Result {
	var res Result
	var err error
	switch job.Kind {
	case "pages":
		res, err = workPages(job)
	case "pdf":
		res, err = workPDF(job)
	default:
		err = fmt.Errorf("unknown job kind %q", job.Kind)
	}
	var rej *RejectError
	if errors.As(err, &rej) {
		return Result{Reject: rej}
	} else if err != nil {
		return Result{Error: err.Error()}
	}
	return res
}

// workPages inspects every page image, assembles them and makes a thumbnail of page 1 from
// the pixels its inspection decoded. Pages are read one at a time; the assembly needs them
// all.
func workPages(job Job) (Result, error) {
	lim := job.Limits.orDefaults()
	if len(job.Files) == 0 {
		return Result{}, errors.New("no pages")
	}
	if len(job.Files) > lim.MaxPages {
		return Result{}, reject(job.Files[lim.MaxPages].Name,
			fmt.Sprintf("a material may have at most %d pages", lim.MaxPages),
			fmt.Sprintf("一份材料最多 %d 页", lim.MaxPages))
	}
	var res Result
	var all []Page
	for i, f := range job.Files {
		fh, err := os.Open(f.Path)
		if err != nil {
			return res, err
		}
		p, img, err := inspect(f.Name, fh, lim)
		fh.Close()
		if err != nil {
			return res, err
		}
		if i == 0 {
			thumb, err := thumbnailOf(p.Name, img)
			if err != nil {
				return res, err
			}
			res.Thumbnail = filepath.Join(job.OutDir, "thumbnail.png")
			if err := os.WriteFile(res.Thumbnail, thumb, 0o600); err != nil {
				return res, err
			}
		}
		all = append(all, p)
		meta := p
		meta.Data = nil
		res.Pages = append(res.Pages, meta)
	}
	pdf, err := Assemble(all)
	if err != nil {
		return res, err
	}
	res.PDF = filepath.Join(job.OutDir, "content.pdf")
	if err := os.WriteFile(res.PDF, pdf, 0o600); err != nil {
		return res, err
	}
	res.PageCount = len(all)
	return res, nil
}

func workPDF(job Job) (Result, error) {
	if len(job.Files) != 1 {
		return Result{}, fmt.Errorf("a PDF job takes one file, not %d", len(job.Files))
	}
	f := job.Files[0]
	lim := job.Limits.orDefaults()
	st, err := os.Stat(f.Path)
	if err != nil {
		return Result{}, err
	}
	if st.Size() > lim.MaxPDFBytes {
		return Result{}, tooLarge(f.Name, lim.MaxPDFBytes)
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if res.PageCount, err = CheckPDF(f.Name, data, lim); err != nil {
		return res, err
	}
	data = nil
	res.Thumbnail, res.Warning = pdfThumbnail(f.Path, job.OutDir)
	return res, nil
}

// pdfThumbnail renders page 1 with poppler's pdftoppm, ThumbWidth pixels wide. Without
// pdftoppm, or if it fails, there is no thumbnail and the warning says why.
func pdfThumbnail(pdf, outDir string) (path, warning string) {
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		return "", "no thumbnail: pdftoppm (Debian package poppler-utils) is not installed"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := filepath.Join(outDir, "thumbnail")
	cmd := exec.CommandContext(ctx, bin, "-png", "-f", "1", "-l", "1", "-singlefile",
		"-scale-to-x", fmt.Sprint(ThumbWidth), "-scale-to-y", "-1", pdf, root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("no thumbnail: pdftoppm: %v: %.200s", err, bytes.TrimSpace(out))
	}
	return root + ".png", ""
}

// RenderPage renders page (from 1) of the PDF at pdf as a PNG width pixels wide, with
// poppler's pdftoppm, into outDir, and returns the PNG's path. The PDF is one the vault has
// already validated; pdftoppm runs as its own process with a deadline.
func RenderPage(ctx context.Context, pdf string, page, width int, outDir string) (string, error) {
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		return "", errors.New("pages: render: pdftoppm (Debian package poppler-utils) is not installed")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	root := filepath.Join(outDir, "page")
	cmd := exec.CommandContext(ctx, bin, "-png", "-f", fmt.Sprint(page), "-l", fmt.Sprint(page), "-singlefile",
		"-scale-to-x", fmt.Sprint(width), "-scale-to-y", "-1", pdf, root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pages: render page %d: pdftoppm: %v: %.200s", page, err, bytes.TrimSpace(out))
	}
	return root + ".png", nil
}
