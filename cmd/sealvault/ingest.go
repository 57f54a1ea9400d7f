package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	gbytes "github.com/labstack/gommon/bytes"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"sealvault/vault"
)

// ingestPasswordEnv names the environment variable ingest reads the password from when
// neither --password nor --password-file is given.
const ingestPasswordEnv = "SEALVAULT_INGEST_PASSWORD"

// Retries of transient failures (network errors, 5xx, 408, 429): at most ingestAttempts
// tries per request, waiting ingestBackoff, then twice as long each time, at most
// ingestMaxBackoff.
const (
	ingestAttempts   = 5
	ingestBackoff    = 500 * time.Millisecond
	ingestMaxBackoff = 8 * time.Second
)

// Row outcomes, as the report names them.
const (
	rowCreated  = "created"  // recorded by this run (201)
	rowExisting = "existing" // the server already had it under the row's idempotency key (200)
	rowSkipped  = "skipped"  // the state file says it is stored; nothing was sent
	rowFailed   = "failed"
	rowInvalid  = "invalid"  // the manifest line is wrong; nothing was sent
	rowNotSent  = "not-sent" // valid, but other lines of the manifest are not
)

type ingestOptions struct {
	dir          string
	manifest     string
	report       string
	state        string
	server       string
	username     string
	password     string
	passwordFile string
	parallel     int
}

func (a *app) ingestCmd() *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest DIR",
		Short: "Upload the materials a CSV manifest lists under DIR through the API, resumably",
		Long: `Upload the materials a CSV manifest lists, one material per row, through the API, so the
server applies the same checks as to an upload at the window. The account needs the window role.

The manifest is UTF-8 (a byte-order mark is allowed) with a header row naming its columns:
  files              page images in page order, or one .pdf; paths relative to DIR, separated by ';'
  holder_kind        id_card, credit_code, passport or other
  holder_number      never printed: messages name the line instead
  type_code, title
  source             scan (if empty), upload or e-licence
  issuing_authority
  issued_on          YYYY-MM-DD or empty
  valid_until        YYYY-MM-DD or empty
  long_term          true/false, yes/no, 1/0 or 是/否; empty is false
  original_verified  as long_term
  supersedes         id of the material this row corrects, or empty

Every line is checked before anything is sent; if any is wrong, each is listed and nothing is
uploaded. Each row is sent with an Idempotency-Key derived from its files' SHA-256 digests and
its metadata, so the server never records a row twice, and rows stored are written to the state
file, so running the same command again uploads only what is still missing. Network errors and
5xx answers are retried; other refusals are not. The report CSV lists every row with its
outcome and, for a failed row, why. The exit status is non-zero if any row failed.

The password comes from --password-file, --password or ` + ingestPasswordEnv + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = args[0]
			password, err := o.resolve(cmd.Flags().Changed("password"))
			if err != nil {
				return err
			}
			return runIngest(cmd.Context(), o, password, a.log, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.manifest, "manifest", "", "the CSV manifest (default DIR/manifest.csv)")
	f.StringVar(&o.report, "report", "", "where the report CSV is written (default ingest-report.csv next to the manifest)")
	f.StringVar(&o.state, "state", "", "file recording the rows already stored, for re-runs (default DIR/.sealvault-ingest.state)")
	f.StringVar(&o.server, "server", "http://127.0.0.1:8080", "base URL of the sealvault server")
	f.StringVar(&o.username, "username", "", "account to upload as (window role)")
	f.StringVar(&o.password, "password", "", "its password; visible to other local users in the process list, prefer --password-file or "+ingestPasswordEnv)
	f.StringVar(&o.passwordFile, "password-file", "", "file holding the password (one line)")
	f.IntVar(&o.parallel, "parallel", 4, "uploads in flight at once (1–32)")
	return cmd
}

// resolve checks the options, fills in the defaults and returns the password.
func (o *ingestOptions) resolve(passwordGiven bool) (string, error) {
	var errs []string
	if fi, err := os.Stat(o.dir); err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Sprintf("DIR %s is not a directory", o.dir))
	}
	if o.manifest == "" {
		o.manifest = filepath.Join(o.dir, "manifest.csv")
	}
	if o.report == "" {
		o.report = filepath.Join(filepath.Dir(o.manifest), "ingest-report.csv")
	}
	if o.state == "" {
		o.state = filepath.Join(o.dir, ".sealvault-ingest.state")
	}
	if u, err := url.Parse(o.server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, "--server must be an http or https URL, e.g. http://127.0.0.1:8080")
	}
	o.server = strings.TrimRight(o.server, "/")
	if o.username == "" {
		errs = append(errs, "--username is required")
	}
	if o.parallel < 1 || o.parallel > 32 {
		errs = append(errs, "--parallel must be from 1 to 32")
	}
	var password string
	switch {
	case o.passwordFile != "" && passwordGiven:
		errs = append(errs, "give either --password or --password-file, not both")
	case o.passwordFile != "":
		b, err := os.ReadFile(o.passwordFile)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--password-file: %v", err))
		}
		password = strings.TrimRight(string(b), "\r\n")
	case passwordGiven:
		password = o.password
	default:
		password = os.Getenv(ingestPasswordEnv)
	}
	if password == "" && len(errs) == 0 {
		errs = append(errs, "no password: give --password-file, --password or "+ingestPasswordEnv)
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("ingest:\n  %s", strings.Join(errs, "\n  "))
	}
	return password, nil
}

// ingestMeta is the metadata part of an upload. Its String method leaves out the holder
// number, so printing a row by mistake does not disclose it.
type ingestMeta struct {
	HolderKind       string `json:"holder_kind"`
	HolderNumber     string `json:"holder_number"`
	TypeCode         string `json:"type_code"`
	Title            string `json:"title"`
	Source           string `json:"source"`
	IssuingAuthority string `json:"issuing_authority,omitempty"`
	IssuedOn         string `json:"issued_on,omitempty"`
	ValidUntil       string `json:"valid_until,omitempty"`
	LongTerm         bool   `json:"long_term"`
	OriginalVerified bool   `json:"original_verified"`
	Supersedes       string `json:"supersedes,omitempty"`
}

func (m ingestMeta) String() string { return "{material metadata, holder number withheld}" }

func (m ingestMeta) GoString() string { return m.String() }

// ingestRow is one valid manifest line.
type ingestRow struct {
	line    int
	files   []string // as written, relative to DIR
	pdf     bool
	meta    ingestMeta
	holder  string   // the holder number normalized, for the idempotency key
	size    int64    // of all its files
	digests []string // hex SHA-256 of each file, in order
	key     string   // the Idempotency-Key
	err     error    // why its files could not be read, if they could not
}

// redact masks the row's holder number wherever it appears in s, such as in the name of a
// scan filed under the number. Numbers shorter than 5 characters identify no one and are
// left, or every digit in a message could go.
func (r *ingestRow) redact(s string) string {
	kind := vault.HolderKind(r.meta.HolderKind)
	for _, n := range []string{r.holder, strings.ToLower(r.holder), r.meta.HolderNumber} {
		if utf8.RuneCountInString(n) < 5 {
			continue
		}
		masked := strings.Repeat("*", utf8.RuneCountInString(n))
		if n == r.holder || strings.EqualFold(n, r.holder) {
			masked = vault.MaskHolder(kind, r.holder)
		}
		s = strings.ReplaceAll(s, n, masked)
	}
	return s
}

// rowResult is what became of one manifest line.
type rowResult struct {
	line   int
	files  string
	status string
	id     string
	reason string
}

// readManifest reads and checks every line of the manifest. A manifest that cannot be read
// or whose header is wrong is an error; wrong lines are returned as results, each with
// every problem of its line.
func readManifest(path, dir string) (rows []*ingestRow, invalid []rowResult, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("manifest %s is empty; it needs a header row and one row per material", path)
	} else if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: header: %w", path, err)
	}
	// The columns a manifest may have; the first five are required.
	columns := []string{"files", "holder_kind", "holder_number", "type_code", "title",
		"source", "issuing_authority", "issued_on", "valid_until", "long_term", "original_verified", "supersedes"}
	col := map[string]int{}
	var errs []string
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch _, dup := col[h]; {
		case !slices.Contains(columns, h) && strings.ContainsFunc(h, unicode.IsDigit):
			// Quoted only if it cannot be a number: a manifest without a header row has data here.
			errs = append(errs, fmt.Sprintf("column %d is not one of %s; is the header row missing?", i+1, strings.Join(columns, ", ")))
		case !slices.Contains(columns, h):
			errs = append(errs, fmt.Sprintf("column %d %q is not one of %s", i+1, h, strings.Join(columns, ", ")))
		case dup:
			errs = append(errs, fmt.Sprintf("column %q appears twice", h))
		default:
			col[h] = i
		}
	}
	for _, c := range columns[:5] {
		if _, ok := col[c]; !ok {
			errs = append(errs, fmt.Sprintf("column %q is missing", c))
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("manifest %s: header row:\n  %s", path, strings.Join(errs, "\n  "))
	}

	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			// The reader's message names the position, never the field's text.
			invalid = append(invalid, rowResult{line: perr.StartLine, status: rowInvalid,
				reason: fmt.Sprintf("is not valid CSV: %v (line %d, column %d)", perr.Err, perr.Line, perr.Column)})
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("manifest %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		row, problems := checkRow(rec, col, len(header), dir)
		if len(problems) > 0 {
			invalid = append(invalid, rowResult{line: line, files: row.redact(field(rec, col, "files")), status: rowInvalid,
				reason: row.redact(strings.Join(problems, "; "))})
			continue
		}
		row.line = line
		rows = append(rows, row)
	}
	if len(rows)+len(invalid) == 0 {
		return nil, nil, fmt.Errorf("manifest %s has a header but no rows", path)
	}
	return rows, invalid, nil
}

func field(rec []string, col map[string]int, name string) string {
	i, ok := col[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// checkRow checks one manifest record and returns every problem found. The messages name
// fields and files but never quote a metadata value: a shifted column could put the
// holder number in any of them.
func checkRow(rec []string, col map[string]int, columns int, dir string) (*ingestRow, []string) {
	var problems []string
	get := func(name string) string { return field(rec, col, name) }
	row := &ingestRow{meta: ingestMeta{
		HolderKind: get("holder_kind"), HolderNumber: get("holder_number"), TypeCode: get("type_code"),
		Title: get("title"), Source: get("source"), IssuingAuthority: get("issuing_authority"),
		IssuedOn: get("issued_on"), ValidUntil: get("valid_until"), Supersedes: get("supersedes"),
	}}
	if len(rec) != columns {
		return row, []string{fmt.Sprintf("has %d fields, the header has %d", len(rec), columns)}
	}

	files := get("files")
	if files == "" {
		problems = append(problems, "files is empty")
	}
	for f := range strings.SplitSeq(files, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			if files != "" {
				problems = append(problems, "files has an empty entry between ';'")
			}
			continue
		}
		row.files = append(row.files, f)
		size, err := checkFile(dir, f)
		if err != nil {
			problems = append(problems, err.Error())
		}
		row.size += size
	}
	for _, f := range row.files {
		if strings.EqualFold(filepath.Ext(f), ".pdf") {
			row.pdf = true
			if len(row.files) > 1 {
				problems = append(problems, fmt.Sprintf("file %q is a PDF: a PDF must be the only file of its row", f))
			}
		}
	}

	kind := vault.HolderKind(row.meta.HolderKind)
	switch kind {
	case vault.HolderIDCard, vault.HolderCreditCode, vault.HolderPassport, vault.HolderOther:
		n, err := vault.NormalizeHolder(kind, row.meta.HolderNumber)
		var he *vault.HolderError
		if errors.As(err, &he) {
			problems = append(problems, "holder_number "+he.Reason)
		} else if err != nil {
			problems = append(problems, "holder_number cannot be read")
		}
		row.holder = n
	default:
		problems = append(problems, "holder_kind must be id_card, credit_code, passport or other")
	}
	if row.meta.TypeCode == "" {
		problems = append(problems, "type_code is empty")
	}
	if row.meta.Title == "" {
		problems = append(problems, "title is empty")
	}
	switch row.meta.Source {
	case "":
		row.meta.Source = vault.SourceScan
	case vault.SourceScan, vault.SourceUpload, vault.SourceELicence:
	default:
		problems = append(problems, "source must be scan, upload or e-licence")
	}
	for _, d := range []struct{ name, value string }{{"issued_on", row.meta.IssuedOn}, {"valid_until", row.meta.ValidUntil}} {
		if d.value == "" {
			continue
		}
		if _, err := vault.ParseDate(d.value); err != nil {
			problems = append(problems, d.name+" must be a date YYYY-MM-DD")
		}
	}
	var ok bool
	if row.meta.LongTerm, ok = parseBool(get("long_term")); !ok {
		problems = append(problems, "long_term must be true or false")
	}
	if row.meta.OriginalVerified, ok = parseBool(get("original_verified")); !ok {
		problems = append(problems, "original_verified must be true or false")
	}
	if s := row.meta.Supersedes; s != "" {
		if _, err := uuid.Parse(s); err != nil {
			problems = append(problems, "supersedes must be the id of a material")
		}
	}
	return row, problems
}

// checkFile checks that name is a readable, non-empty regular file under dir and returns
// its size.
func checkFile(dir, name string) (int64, error) {
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return 0, fmt.Errorf("file %q is not a path inside DIR", name)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("file %q does not exist", name)
	} else if err != nil {
		return 0, fmt.Errorf("file %q cannot be read: %v", name, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return 0, fmt.Errorf("file %q cannot be read: %v", name, unwrapPath(err))
	case !fi.Mode().IsRegular():
		return 0, fmt.Errorf("file %q is not a regular file", name)
	case fi.Size() == 0:
		return 0, fmt.Errorf("file %q is empty", name)
	}
	return fi.Size(), nil
}

// unwrapPath drops the path of an *os.PathError, which the message names already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "", "false", "no", "n", "0", "否":
		return false, true
	case "true", "yes", "y", "1", "是":
		return true, true
	}
	return false, false
}

// hashRow reads every file of r and sets its digests and idempotency key: a SHA-256 over
// the files' digests and the metadata, so the same row always sends the same key and a
// changed file or field makes a new one.
func hashRow(dir string, r *ingestRow) error {
	r.digests = r.digests[:0]
	for _, name := range r.files {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return &fileError{name, err}
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return &fileError{name, err}
		}
		r.digests = append(r.digests, hex.EncodeToString(h.Sum(nil)))
	}
	h := sha256.New()
	part := "pages"
	if r.pdf {
		part = "pdf"
	}
	fmt.Fprintf(h, "sealvault ingest v1\n%s %d\n", part, len(r.digests))
	for _, d := range r.digests {
		fmt.Fprintln(h, d)
	}
	m := r.meta
	m.HolderNumber = r.holder
	if err := json.NewEncoder(h).Encode(m); err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	r.key = "ingest-" + hex.EncodeToString(h.Sum(nil))
	return nil
}

// fileError is a local file that could not be read or changed while it was sent; it is
// not retried.
type fileError struct {
	name string
	err  error
}

func (e *fileError) Error() string { return fmt.Sprintf("file %q: %v", e.name, unwrapPath(e.err)) }
func (e *fileError) Unwrap() error { return e.err }

// problemError is a refusal by the server, with the reason its problem response gives.
type problemError struct {
	status int
	reason string
}

func (e *problemError) Error() string { return e.reason }

// transient reports whether err may pass if the request is sent again.
func transient(ctx context.Context, err error) bool {
	var fe *fileError
	var pe *problemError
	switch {
	case ctx.Err() != nil, errors.As(err, &fe):
		return false
	case errors.As(err, &pe):
		return pe.status >= 500 || pe.status == http.StatusRequestTimeout || pe.status == http.StatusTooManyRequests
	}
	return true // the network: refused, reset, timed out
}

// refusal reads a non-success answer into a *problemError: the problem's detail and every
// field error it lists, or the status line for an answer that is not a problem.
func refusal(resp *http.Response, body []byte) *problemError {
	reason := fmt.Sprintf("HTTP %s", resp.Status)
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasSuffix(mt, "json") &&
		json.Unmarshal(body, &p) == nil && (p.Detail != "" || p.Title != "") {
		reason = p.Detail
		if reason == "" {
			reason = p.Title
		}
		var more []string
		for _, e := range p.Errors {
			if !strings.Contains(reason, e.Reason) {
				more = append(more, e.Field+": "+e.Reason)
			}
		}
		if len(more) > 0 {
			reason += " (" + strings.Join(more, "; ") + ")"
		}
	}
	return &problemError{status: resp.StatusCode, reason: reason}
}

// apiClient talks to the server as one account, logging in again when its token is about
// to expire or is refused.
type apiClient struct {
	base     string
	http     *http.Client
	username string
	password string

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// bearer returns a token that is not about to expire, logging in if need be.
func (c *apiClient) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Now().Before(c.renewAt) {
		return c.token, nil
	}
	body, err := json.Marshal(map[string]string{"username": c.username, "password": c.password})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "en")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		pe := refusal(resp, b)
		pe.reason = fmt.Sprintf("login as %s: %s", c.username, pe.reason)
		return "", pe
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return "", &problemError{status: resp.StatusCode, reason: "login: the answer holds no access token"}
	}
	// Renewed a fifth of its lifetime, at most a minute, before it expires: an upload that
	// starts with it should not outlive it.
	ttl := time.Duration(tok.ExpiresIn) * time.Second
	c.token, c.renewAt = tok.AccessToken, time.Now().Add(ttl-min(ttl/5, time.Minute))
	return c.token, nil
}

// expire forgets token after the server refused it, unless another upload has already
// replaced it.
func (c *apiClient) expire(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// uploader sends rows, retrying what may pass on a second try.
type uploader struct {
	api   *apiClient
	dir   string
	state *ingestState
	log   *slog.Logger
}

// retrying calls f until it succeeds, fails for good or has been tried ingestAttempts
// times, waiting longer after each transient failure; at once if f says to try again.
func (u *uploader) retrying(ctx context.Context, f func() (again bool, err error)) error {
	wait := ingestBackoff
	for attempt := 1; ; attempt++ {
		again, err := f()
		if err == nil {
			return nil
		}
		if attempt >= ingestAttempts || (!again && !transient(ctx, err)) {
			if attempt > 1 && transient(ctx, err) {
				return fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		if again {
			continue
		}
		u.log.Debug("ingest retry", "attempt", attempt, "wait", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, ingestMaxBackoff)
	}
}

// rowProgress counts the bytes of one row on the bar, taking back those of a failed
// attempt, so that every row adds exactly its size once it is done. The row's last byte
// is held back until the server has answered: the bar completes with the last answer, not
// when the last byte has left.
type rowProgress struct {
	bar  *progressbar.ProgressBar
	size int64
	sent int64
}

func (p *rowProgress) add(n int64) {
	if n = min(n, p.size-1-p.sent); n > 0 {
		p.sent += n
		_ = p.bar.Add64(n)
	}
}

func (p *rowProgress) restart() { _ = p.bar.Add64(-p.sent); p.sent = 0 }

func (p *rowProgress) finish() {
	_ = p.bar.Add64(p.size - p.sent)
	p.sent = p.size
}

// upload sends r until the server has it, and returns the material id and whether this
// call created it.
func (u *uploader) upload(ctx context.Context, r *ingestRow, p *rowProgress) (id string, created bool, err error) {
	relogged := false
	err = u.retrying(ctx, func() (bool, error) {
		tok, err := u.api.bearer(ctx)
		if err != nil {
			return false, err
		}
		p.restart()
		id, created, err = u.send(ctx, r, tok, p.add)
		var pe *problemError
		if errors.As(err, &pe) && pe.status == http.StatusUnauthorized && !relogged {
			// The token expired or the server's keys changed: log in again, once.
			relogged = true
			u.api.expire(tok)
			return true, err
		}
		return false, err
	})
	return id, created, err
}

// send makes one upload of r, streaming its files into the multipart body.
func (u *uploader) send(ctx context.Context, r *ingestRow, token string, count func(int64)) (id string, created bool, err error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.api.base+"/api/v1/materials", pr)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", r.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", "en")

	written := make(chan error, 1)
	go func() {
		err := writeMaterial(mw, u.dir, r, count)
		pw.CloseWithError(err) // nil ends the body
		written <- err
	}()
	resp, err := u.api.http.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	// The server may answer before it has read the whole body; stop the writer then.
	pr.CloseWithError(errors.New("upload ended"))
	var fe *fileError
	if werr := <-written; errors.As(werr, &fe) {
		return "", false, fe
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return "", false, fmt.Errorf("interrupted: %w", ctx.Err())
	case err != nil:
		return "", false, err
	case resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK:
		return "", false, refusal(resp, body)
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID == "" {
		return "", false, &problemError{status: http.StatusBadGateway, reason: "the server's answer names no material"}
	}
	return m.ID, resp.StatusCode == http.StatusCreated, nil
}

// writeMaterial writes the metadata part and then each file of r, checking that every
// file still has the digest its idempotency key was made from.
func writeMaterial(mw *multipart.Writer, dir string, r *ingestRow, count func(int64)) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="metadata"`)
	h.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(w).Encode(r.meta); err != nil {
		return err
	}
	part := "pages"
	if r.pdf {
		part = "pdf"
	}
	for i, name := range r.files {
		w, err := mw.CreateFormFile(part, name)
		if err != nil {
			return err
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return &fileError{name, err}
		}
		src := &hashingReader{r: f, h: sha256.New(), count: count}
		_, err = io.Copy(w, src)
		f.Close()
		switch {
		case src.err != nil:
			return &fileError{name, src.err}
		case err != nil:
			return err
		case hex.EncodeToString(src.h.Sum(nil)) != r.digests[i]:
			return &fileError{name, errors.New("changed while ingest ran; run it again")}
		}
	}
	return mw.Close()
}

// hashingReader hashes and counts what it reads and keeps its read error apart from the
// errors of the writer it is copied to.
type hashingReader struct {
	r     io.Reader
	h     hash.Hash
	count func(int64)
	err   error
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.count(int64(n))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

// ingestState is the file of rows already stored: one JSON object a line, appended and
// synced as each row is stored, so a crash loses at most the line being written.
type ingestState struct {
	mu   sync.Mutex
	f    *os.File
	done map[string]string // state key → material id
}

type stateEntry struct {
	Server   string `json:"server"`
	Username string `json:"username"`
	Key      string `json:"key"`
	Material string `json:"material_id"`
}

func (e stateEntry) id() string { return e.Server + " " + e.Username + " " + e.Key }

// openState reads the state file, ignoring a torn last line, and opens it for appending.
func openState(path string) (*ingestState, error) {
	s := &ingestState{done: map[string]string{}}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("state file: %w", err)
	}
	for l := range strings.Lines(string(data)) {
		var e stateEntry
		if json.Unmarshal([]byte(l), &e) == nil && e.Key != "" && e.Material != "" {
			s.done[e.id()] = e.Material
		}
	}
	s.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		// A torn last line stays, but the next entry starts on a line of its own.
		if _, err := s.f.Write([]byte("\n")); err != nil {
			s.f.Close()
			return nil, fmt.Errorf("state file: %w", err)
		}
	}
	return s, nil
}

func (s *ingestState) lookup(e stateEntry) (string, bool) {
	id, ok := s.done[e.id()]
	return id, ok
}

// record appends e and syncs it to disk.
func (s *ingestState) record(e stateEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

func (s *ingestState) close() error { return s.f.Close() }

// writeReport writes every result, in manifest order, to path (replacing it whole).
func writeReport(path string, results []rowResult) error {
	slices.SortFunc(results, func(a, b rowResult) int { return a.line - b.line })
	f, err := os.CreateTemp(filepath.Dir(path), ".ingest-report-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(f.Name())
	// The byte-order mark makes spreadsheet programs read the file as UTF-8.
	_, _ = f.WriteString("\uFEFF")
	w := csv.NewWriter(f)
	_ = w.Write([]string{"line", "files", "status", "material_id", "reason"})
	for _, r := range results {
		_ = w.Write([]string{fmt.Sprint(r.line), r.files, r.status, r.id, r.reason})
	}
	w.Flush()
	err = errors.Join(w.Error(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// runIngest checks the manifest, then uploads every row not yet stored, o.parallel at a
// time, and writes the report. It returns an error if anything failed.
func runIngest(ctx context.Context, o ingestOptions, password string, log *slog.Logger, stdout, stderr io.Writer) error {
	start := time.Now()
	rows, invalid, err := readManifest(o.manifest, o.dir)
	if err != nil {
		return err
	}
	if len(invalid) > 0 {
		return rejectManifest(o, rows, invalid)
	}
	hashAll(o.dir, rows, o.parallel)
	state, err := openState(o.state)
	if err != nil {
		return err
	}
	defer state.close()

	results := make([]rowResult, len(rows))
	var pending []int
	for i, r := range rows {
		results[i] = rowResult{line: r.line, files: r.redact(strings.Join(r.files, ";"))}
		if r.err != nil {
			results[i].status, results[i].reason = rowFailed, r.redact(r.err.Error())
			fmt.Fprintf(stderr, "line %d: failed: %s\n", r.line, results[i].reason)
		} else if id, ok := state.lookup(stateEntry{Server: o.server, Username: o.username, Key: r.key}); ok {
			results[i].status, results[i].id = rowSkipped, id
			fmt.Fprintf(stderr, "line %d: skipped (already stored as material %s)\n", r.line, id)
		} else {
			pending = append(pending, i)
		}
	}
	var sent int64
	if len(pending) > 0 {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = o.parallel
		transport.ResponseHeaderTimeout = 10 * time.Minute
		defer transport.CloseIdleConnections()
		u := &uploader{dir: o.dir, log: log, state: state, api: &apiClient{base: o.server,
			http: &http.Client{Transport: transport}, username: o.username, password: password}}
		// Log in before anything is sent, so that a wrong password stops the run at once.
		if err := u.retrying(ctx, func() (bool, error) { _, err := u.api.bearer(ctx); return false, err }); err != nil {
			return err
		}
		sent = u.uploadAll(ctx, rows, pending, results, o.parallel, stderr)
	}

	counts := map[string]int{}
	for _, r := range results {
		counts[r.status]++
	}
	failed := len(results) - counts[rowCreated] - counts[rowExisting] - counts[rowSkipped]
	rerr := writeReport(o.report, results)
	size := gbytes.FormatDecimal(sent)
	if sent == 0 {
		size = "0B"
	}
	// Pages: the page images of the rows this run stored (PDF rows are left out: their pages
	// are not counted here).
	pages := 0
	for i, r := range results {
		if r.status == rowCreated && !rows[i].pdf {
			pages += len(rows[i].files)
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "uploaded %d, already stored %d, failed %d (of %d rows); sent %s in %s; %d page images, %.1f pages/s\n",
		counts[rowCreated], counts[rowExisting]+counts[rowSkipped], failed, len(results),
		size, elapsed.Round(10*time.Millisecond), pages, float64(pages)/elapsed.Seconds())
	if rerr == nil {
		fmt.Fprintf(stdout, "report: %s\n", o.report)
	}
	switch {
	case ctx.Err() != nil:
		return errors.Join(fmt.Errorf("ingest interrupted with %d rows not stored; run the same command again to continue", failed), rerr)
	case failed > 0:
		return errors.Join(fmt.Errorf("ingest: %d of %d rows failed; the report %s says why", failed, len(results), o.report), rerr)
	}
	return rerr
}

// rejectManifest writes the report of a manifest with invalid lines and returns the error
// listing each of them.
func rejectManifest(o ingestOptions, rows []*ingestRow, invalid []rowResult) error {
	results := slices.Clone(invalid)
	for _, r := range rows {
		results = append(results, rowResult{line: r.line, files: r.redact(strings.Join(r.files, ";")), status: rowNotSent,
			reason: "the manifest has invalid lines; nothing was uploaded"})
	}
	lines := make([]string, len(invalid))
	for i, r := range invalid {
		lines[i] = fmt.Sprintf("line %d: %s", r.line, r.reason)
	}
	return errors.Join(fmt.Errorf("manifest %s: %d of %d rows are invalid; nothing was uploaded:\n  %s",
		o.manifest, len(invalid), len(results), strings.Join(lines, "\n  ")), writeReport(o.report, results))
}

// hashAll runs hashRow on every row, n at a time, noting a row's failure in its err.
func hashAll(dir string, rows []*ingestRow, n int) {
	var wg sync.WaitGroup
	next := make(chan *ingestRow)
	for range n {
		wg.Go(func() {
			for r := range next {
				r.err = hashRow(dir, r)
			}
		})
	}
	for _, r := range rows {
		next <- r
	}
	close(next)
	wg.Wait()
}

// uploadAll uploads rows[i] for each i in pending, n at a time, with a progress bar on
// stderr, and fills in results[i]. It returns the bytes of the rows the server has now.
func (u *uploader) uploadAll(ctx context.Context, rows []*ingestRow, pending []int, results []rowResult, n int, stderr io.Writer) int64 {
	var total int64
	for _, i := range pending {
		total += rows[i].size
	}
	var bar *progressbar.ProgressBar
	barOut := barWriter(stderr, fmt.Sprintf("uploading %d files", len(pending)))
	tty := barOut != io.Discard
	var lineMu sync.Mutex
	// say prints a row's outcome: above the bar on a terminal, as a plain line otherwise.
	say := func(format string, args ...any) {
		if tty {
			_, _ = progressbar.Bprintf(bar, format, args...)
			return
		}
		lineMu.Lock()
		defer lineMu.Unlock()
		fmt.Fprintf(stderr, format, args...)
	}
	bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(barOut),
		progressbar.OptionSetDescription(fmt.Sprintf("files 0/%d", len(pending))),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }))
	var done, sent atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int)
	for range n {
		wg.Go(func() {
			for i := range next {
				r, res := rows[i], &results[i]
				p := &rowProgress{bar: bar, size: r.size}
				u.uploadRow(ctx, r, p, res)
				if res.status != rowFailed {
					sent.Add(r.size)
				}
				switch res.status {
				case rowCreated:
					say("line %d: created material %s\n", r.line, res.id)
				case rowExisting:
					say("line %d: already stored as material %s\n", r.line, res.id)
				default:
					say("line %d: failed: %s\n", r.line, res.reason)
				}
				// The row's line is printed before the bar is complete, which flushes it.
				bar.Describe(fmt.Sprintf("files %d/%d", done.Add(1), len(pending)))
				p.finish()
			}
		})
	}
	for _, i := range pending {
		next <- i
	}
	close(next)
	wg.Wait()
	if !tty {
		fmt.Fprintf(stderr, "files %d/%d done\n", done.Load(), len(pending))
	}
	return sent.Load()
}

// uploadRow uploads r and notes the outcome in res and, if the server has it, in the state
// file.
func (u *uploader) uploadRow(ctx context.Context, r *ingestRow, p *rowProgress, res *rowResult) {
	if ctx.Err() != nil {
		res.status, res.reason = rowFailed, "interrupted before it was sent"
		return
	}
	id, created, err := u.upload(ctx, r, p)
	if err != nil {
		res.status, res.reason = rowFailed, r.redact(err.Error())
		return
	}
	res.status, res.id = rowExisting, id
	if created {
		res.status = rowCreated
	}
	e := stateEntry{Server: u.api.base, Username: u.api.username, Key: r.key, Material: id}
	if err := u.state.record(e); err != nil {
		res.reason = "stored, but not noted in the state file: " + err.Error()
	}
}
