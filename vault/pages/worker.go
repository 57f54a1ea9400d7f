package pages

import (
	"bufio"
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
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Uploaded files are checked and assembled in worker processes: this executable started
// again with workerEnv set, serving one Job after another on its standard input and output
// (one JSON line each way). The server's memory then does not grow with what is uploaded
// (decoding a page image takes its pixels; pdfcpu holds every stream of a PDF it reads or
// writes), and a decoder that goes wrong on a hostile file takes down the worker, not the
// server: the job is refused and the worker replaced. Workers live on between jobs (starting
// one costs more than checking a page), up to one per slot, each retired after
// workerMaxJobs jobs.
const workerEnv = "SEALVAULT_PAGES_WORKER"

// Job is what one worker does with files already on local disk.
type Job struct {
	// Kind is "pages" (page images, in order: inspect each, assemble a PDF, thumbnail page
	// 1) or "pdf" (one PDF: validate it, thumbnail page 1).
	Kind   string    `json:"kind"`
	Files  []JobFile `json:"files"`
	Limits Limits    `json:"limits"`
	// OutDir is an existing directory where the worker writes content.pdf and
	// thumbnail.jpg; the caller removes it.
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
	// Thumbnail is a JPEG of page 1, or "" if none could be made (Warning says why).
	Thumbnail string `json:"thumbnail,omitempty"`
	Warning   string `json:"warning,omitempty"`
	Error     string `json:"error,omitempty"`

	// PeakRSS is the worker's peak resident set in bytes during this job, from the kernel
	// (VmHWM, reset before each job).
	PeakRSS int64 `json:"peak_rss"`
}

// workerSlots bounds the jobs running at once, and so the workers and the memory they take
// together.
var workerSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// WorkerTimeout bounds one job.
var WorkerTimeout = 5 * time.Minute

// workerMaxJobs retires a worker after that many jobs, so that whatever a long run leaves
// behind in one process (fragmented heap, a slow leak in a decoder) does not last.
const workerMaxJobs = 500

// keepHeapBelow is the peak resident set under which a worker keeps its heap between jobs.
const keepHeapBelow = 96 << 20

// workersStarted counts the worker processes started, for tests.
var workersStarted atomic.Int64

// idleWorkers are the started workers waiting for a job.
var idleWorkers = struct {
	sync.Mutex
	list []*worker
}{}

// worker is one running worker process.
type worker struct {
	cmd    *exec.Cmd
	in     *os.File // the write end of its standard input
	out    *bufio.Reader
	outF   *os.File // the read end of its standard output
	stderr *limitedWriter
	jobs   int
	exited chan struct{} // closed once the process has exited and been reaped
}

// Run does job in a worker process and returns its result; a refused file is a
// *RejectError, and so is a file on which the worker died. The executable must call
// WorkerMain first thing in main (and test binaries in TestMain).
func Run(ctx context.Context, job Job) (Result, error) {
	if os.Getenv(workerEnv) != "" {
		return Result{}, errors.New("pages: this worker was started by an executable that does not call pages.WorkerMain")
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
	w, err := takeWorker()
	if err != nil {
		return Result{}, fmt.Errorf("pages: worker: %w", err)
	}
	res, err := w.do(ctx, append(in, '\n'))
	if err != nil {
		w.kill()
		var died *workerDied
		if errors.As(err, &died) {
			return res, crashReject(job, died)
		}
		return res, err
	}
	w.jobs++
	if w.jobs >= workerMaxJobs {
		w.stop()
	} else {
		idleWorkers.Lock()
		idleWorkers.list = append(idleWorkers.list, w)
		idleWorkers.Unlock()
	}
	switch {
	case res.Error != "":
		return res, errors.New("pages: worker: " + res.Error)
	case res.Reject != nil:
		return res, res.Reject
	}
	return res, nil
}

// takeWorker returns an idle worker still running, or starts one.
func takeWorker() (*worker, error) {
	for {
		idleWorkers.Lock()
		n := len(idleWorkers.list)
		if n == 0 {
			idleWorkers.Unlock()
			break
		}
		w := idleWorkers.list[n-1]
		idleWorkers.list = idleWorkers.list[:n-1]
		idleWorkers.Unlock()
		select {
		case <-w.exited: // died while idle (e.g. the kernel's OOM killer): not this job's fault
			w.close()
		default:
			return w, nil
		}
	}
	exe, err := workerExecutable()
	if err != nil {
		return nil, err
	}
	// Plain pipes (not cmd.StdoutPipe), so that reaping the process never closes what is
	// still being read.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stdin, cmd.Stdout = inR, outW
	w := &worker{cmd: cmd, in: inW, outF: outR, out: bufio.NewReaderSize(outR, 64<<10),
		stderr: &limitedWriter{w: &bytes.Buffer{}, n: 4 << 10}, exited: make(chan struct{})}
	cmd.Stderr = w.stderr
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	workersStarted.Add(1)
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// workerDied is a worker that exited or stopped answering in the middle of a job.
type workerDied struct {
	err    error
	stderr string
}

func (e *workerDied) Error() string {
	return fmt.Sprintf("pages: worker died: %v: %s", e.err, strings.TrimSpace(e.stderr))
}

// do sends one job line and reads its result line, within ctx and WorkerTimeout.
func (w *worker) do(ctx context.Context, line []byte) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, WorkerTimeout)
	defer cancel()
	type answer struct {
		line []byte
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		if _, err := w.in.Write(line); err != nil {
			ch <- answer{err: err}
			return
		}
		b, err := w.out.ReadBytes('\n')
		ch <- answer{b, err}
	}()
	var a answer
	select {
	case a = <-ch:
	case <-ctx.Done():
		w.kill()
		<-ch
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Result{}, fmt.Errorf("pages: worker stopped after %s: %w", WorkerTimeout, ctx.Err())
		}
		return Result{}, ctx.Err()
	}
	if a.err != nil {
		w.kill() // reaped: its standard error is complete
		return Result{}, &workerDied{err: a.err, stderr: w.stderr.w.(*bytes.Buffer).String()}
	}
	var res Result
	if err := json.Unmarshal(a.line, &res); err != nil {
		return res, fmt.Errorf("pages: worker answered %d bytes that are not a result: %w", len(a.line), err)
	}
	return res, nil
}

// kill ends the worker at once and waits until it is reaped.
func (w *worker) kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
	w.close()
}

// stop asks the worker to exit (the end of its input) and waits for it, killing it if it
// does not go within a few seconds.
func (w *worker) stop() {
	_ = w.in.Close()
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	w.close()
}

func (w *worker) close() {
	_ = w.in.Close()
	_ = w.outF.Close()
}

// crashReject is the refusal of a job whose worker died on it: the file (or one of the
// files) could not be read safely.
func crashReject(job Job, died *workerDied) error {
	names := make([]string, len(job.Files))
	for i, f := range job.Files {
		names[i] = f.Name
	}
	file := strings.Join(names, ", ")
	rej := reject(file, "could not be read: checking it stopped the page checker (the file is damaged or not what it claims to be)",
		"无法读取：检查该文件时页面检查程序中止（文件已损坏或与其声明的格式不符）")
	return fmt.Errorf("%w (%v)", rej, died)
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

// WorkerMain returns at once unless this process was started by Run; then it does the jobs
// it is given on standard input, one JSON line each, writes each result as a line to
// standard output, and exits at the end of its input.
func WorkerMain() {
	if os.Getenv(workerEnv) == "" {
		return
	}
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	enc := json.NewEncoder(os.Stdout)
	for {
		var job Job
		var res Result
		if err := dec.Decode(&job); errors.Is(err, io.EOF) {
			os.Exit(0)
		} else if err != nil {
			res.Error = "reading the job: " + err.Error()
			_ = enc.Encode(res)
			os.Exit(2)
		}
		resetPeak()
		res = work(job)
		res.PeakRSS = peakRSS()
		if err := enc.Encode(res); err != nil {
			os.Exit(2)
		}
		// What a large job decoded goes back to the system before the next one. After a
		// small one (a scanned page takes a few MB) the heap is kept for the next job:
		// returning it and faulting it in again cost more CPU than the page's thumbnail.
		if res.PeakRSS == 0 || res.PeakRSS > keepHeapBelow {
			debug.FreeOSMemory()
		}
	}
}

// resetPeak sets the process's peak resident set (VmHWM) to its current one (Linux:
// "5" to /proc/self/clear_refs), so each job reports its own peak.
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set in bytes (VmHWM), or 0 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
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
		want := 0 // pages after the first are only proved whole
		if i == 0 {
			want = ThumbWidth
		}
		p, img, err := inspect(f.Name, fh, lim, want)
		fh.Close()
		if err != nil {
			return res, err
		}
		if i == 0 {
			thumb, err := thumbnailOf(p.Name, img)
			if err != nil {
				return res, err
			}
			res.Thumbnail = filepath.Join(job.OutDir, "thumbnail.jpg")
			if err := os.WriteFile(res.Thumbnail, thumb, 0o600); err != nil {
				return res, err
			}
		}
		all = append(all, p)
		meta := p
		meta.Data = nil
		res.Pages = append(res.Pages, meta)
	}
	res.PDF = filepath.Join(job.OutDir, "content.pdf")
	out, err := os.OpenFile(res.PDF, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res, err
	}
	err = AssembleTo(out, all)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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
	// pdfcpu reads the file as it needs: the worker does not hold the whole upload as well.
	fh, err := os.Open(f.Path)
	if err != nil {
		return Result{}, err
	}
	var res Result
	res.PageCount, err = checkPDF(f.Name, fh, st.Size(), lim)
	fh.Close()
	if err != nil {
		return res, err
	}
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
	cmd := exec.CommandContext(ctx, bin, "-jpeg", "-jpegopt", fmt.Sprintf("quality=%d", ThumbQuality), "-f", "1", "-l", "1", "-singlefile",
		"-scale-to-x", fmt.Sprint(ThumbWidth), "-scale-to-y", "-1", pdf, root)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("no thumbnail: pdftoppm: %v: %.200s", err, bytes.TrimSpace(out))
	}
	return root + ".jpg", ""
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
