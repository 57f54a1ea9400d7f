package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"sealvault/audit"
	"sealvault/casework"
	"sealvault/internal/identity"
	"sealvault/vault"
)

// materialMeta is the "metadata" part of an ingest request.
type materialMeta struct {
	HolderKind       vault.HolderKind `json:"holder_kind"`
	HolderNumber     string           `json:"holder_number"`
	TypeCode         string           `json:"type_code"`
	Title            string           `json:"title"`
	Source           string           `json:"source"`
	IssuingAuthority string           `json:"issuing_authority"`
	IssuedOn         string           `json:"issued_on"`
	ValidUntil       string           `json:"valid_until"`
	LongTerm         bool             `json:"long_term"`
	OriginalVerified bool             `json:"original_verified"`
	Supersedes       *uuid.UUID       `json:"supersedes"`
	// Case (its number or id) records the material for that case's applicant, instead of
	// holder_kind and holder_number: the workbench, which shows the number only masked.
	Case string `json:"case"`
}

func viewerOf(c echo.Context) vault.Viewer {
	u := currentUser(c)
	return vault.Viewer{UserID: u.ID, DepartmentID: u.DepartmentID, All: u.HasRole(identity.RoleAdmin)}
}

// createMaterial records a material from a multipart upload: a "metadata" JSON part and
// either "pages" (page images, in order) or one "pdf".
func (s *Server) createMaterial(c echo.Context) error {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return problem(probMediaType, "请以 multipart/form-data 上传：metadata 与 pages 或 pdf",
			"Upload as multipart/form-data: metadata plus pages or pdf")
	}
	// The parts are read in order; each file is spooled to a temporary file as it arrives
	// (hashed on the way), so no upload is held in memory; the files go when this returns.
	var meta *materialMeta
	var req vault.IngestRequest
	defer func() {
		req.PDF.Remove()
		for _, f := range req.Pages {
			f.Remove()
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return tooLargeOr(err, problem(probMalformed, "上传内容不完整或格式错误", "The upload is incomplete or malformed"))
		}
		switch part.FormName() {
		case "metadata":
			meta = &materialMeta{}
			if err := decodeMetadata(part, meta); err != nil {
				return err
			}
		case "pages", "pdf":
			lim := s.deps.PageLimits.MaxFileBytes
			if part.FormName() == "pdf" {
				if req.PDF != nil {
					return invalidFields(map[string]string{"pdf": "only one PDF per material"})
				}
				lim = s.deps.PageLimits.MaxPDFBytes
			}
			name, err := partName(part)
			if err != nil {
				return err
			}
			f, err := vault.Spool(s.deps.Ingester.WorkDir, name, part, lim)
			var rerr *vault.UploadReadError
			if errors.As(err, &rerr) {
				return tooLargeOr(err, problem(probMalformed, "上传内容不完整", "The upload is incomplete"))
			} else if err != nil {
				return err
			}
			if part.FormName() == "pdf" {
				req.PDF = f
			} else {
				req.Pages = append(req.Pages, f)
			}
		default:
			return invalidFields(map[string]string{part.FormName(): "is not a known part (metadata, pages, pdf)"})
		}
	}
	if meta == nil {
		return invalidFields(map[string]string{"metadata": "is required"})
	}
	u := currentUser(c)
	req.Info = vault.MaterialInfo{HolderKind: meta.HolderKind, HolderNumber: meta.HolderNumber, TypeCode: meta.TypeCode,
		Title: meta.Title, Source: meta.Source, IssuingAuthority: meta.IssuingAuthority, IssuedOn: meta.IssuedOn,
		ValidUntil: meta.ValidUntil, LongTerm: meta.LongTerm, OriginalVerified: meta.OriginalVerified, Supersedes: meta.Supersedes}
	if meta.Case != "" {
		if meta.HolderNumber != "" || meta.HolderKind != "" {
			return invalidFields(map[string]string{"metadata.case": "give the case or holder_kind and holder_number, not both"})
		}
		id, err := s.resolve(c.Request().Context(), refCase, meta.Case, "metadata.case")
		if err != nil {
			return err
		}
		h, err := s.deps.Cases.Applicant(c.Request().Context(), s.actor(c), id)
		if errors.Is(err, casework.ErrNotFound) {
			return invalidFields(map[string]string{"metadata.case": "no such case received by your department"})
		} else if err != nil {
			return err
		}
		req.Info.Holder = &h
	}
	req.IdempotencyKey = c.Request().Header.Get("Idempotency-Key")
	if len(req.IdempotencyKey) > 200 {
		return invalidFields(map[string]string{"Idempotency-Key": "must be at most 200 characters"})
	}
	req.By = vault.Capturer{UserID: u.ID, DepartmentID: u.DepartmentID, RequestID: requestID(c), ClientIP: c.RealIP()}
	for _, r := range u.Roles {
		req.By.Roles = append(req.By.Roles, string(r))
	}
	m, created, err := s.deps.Ingester.Ingest(c.Request().Context(), req)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/materials/"+m.ID.String())
	return c.JSON(status, m)
}

// partName is the file name a part was sent under (its form name if none), refused with
// the text rules of every other field: the name is stored and shown.
func partName(p *multipart.Part) (string, error) {
	n := p.FileName()
	if n == "" {
		n = p.FormName()
	}
	if r := textReason(n); r != "" {
		return "", invalidFields(map[string]string{p.FormName() + ".filename": r})
	}
	return n, nil
}

func tooLargeOr(err error, other error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return echo.ErrStatusRequestEntityTooLarge
	}
	return other
}

func jsonReason(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("field %s must be %s", ute.Field, ute.Type)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "not valid JSON"
}

type materialList struct {
	Items      []vault.Material `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func (s *Server) materialPage(c echo.Context, f vault.MaterialFilter) error {
	ms, err := vault.ListMaterials(c.Request().Context(), s.deps.DB, s.deps.HolderKeys, viewerOf(c), f)
	if err != nil {
		return err
	}
	out := materialList{Items: ms}
	if out.Items == nil {
		out.Items = []vault.Material{}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if len(ms) == limit {
		out.NextCursor = ms[len(ms)-1].ID.String()
	}
	return c.JSON(http.StatusOK, out)
}

func cursorOf(v string, bad map[string]string, field string) *uuid.UUID {
	if v == "" {
		return nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		bad[field] = "must be the next_cursor of the previous page"
		return nil
	}
	return &id
}

func (s *Server) listMaterials(c echo.Context) error {
	dept, err := s.refParam(c, "department", refDept)
	if err != nil {
		return err
	}
	bad := map[string]string{}
	f := vault.MaterialFilter{TypeCode: c.QueryParam("type"), Status: c.QueryParam("status"),
		DepartmentID: dept,
		Before:       cursorOf(c.QueryParam("after"), bad, "query.after")}
	f.Limit, _ = strconv.Atoi(c.QueryParam("limit")) // range checked by the OpenAPI document
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	return s.materialPage(c, f)
}

type materialSearch struct {
	HolderKind   vault.HolderKind `json:"holder_kind"`
	HolderNumber string           `json:"holder_number"`
	TypeCode     string           `json:"type_code"`
	Status       string           `json:"status"`
	After        string           `json:"after"`
	Limit        int              `json:"limit"`
}

// searchMaterials finds materials by holder. The number travels in the body, not the URL,
// so it is not written to access logs on the way.
func (s *Server) searchMaterials(c echo.Context) error {
	var req materialSearch
	if err := bind(c, &req); err != nil {
		return err
	}
	bad := map[string]string{}
	f := vault.MaterialFilter{HolderKind: req.HolderKind, HolderNumber: req.HolderNumber, TypeCode: req.TypeCode,
		Status: req.Status, Before: cursorOf(req.After, bad, "after"), Limit: req.Limit}
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	return s.materialPage(c, f)
}

func (s *Server) material(c echo.Context) (vault.Material, error) {
	id, err := pathID(c)
	if err != nil {
		return vault.Material{}, err
	}
	m, err := vault.GetMaterial(c.Request().Context(), s.deps.DB, viewerOf(c), id)
	if errors.Is(err, vault.ErrNotVisible) || errors.Is(err, vault.ErrNotFound) {
		return m, problem(probNotFound, "材料不存在，或不属于您的部门", "No such material in your department")
	}
	return m, err
}

func (s *Server) getMaterial(c echo.Context) error {
	m, err := s.material(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

// materialContent streams the material's PDF. The download is recorded first; the bytes
// are verified as they stream, and a mismatch aborts the response instead of completing
// it, so a client never receives corrupt bytes as a success.
func (s *Server) materialContent(c echo.Context) error {
	return s.sendObject(c, "material.download", func(m vault.Material) (vault.Digest, string, string) {
		return m.Content, m.ContentType, m.ID.String() + ".pdf"
	})
}

func (s *Server) materialThumbnail(c echo.Context) error {
	return s.sendObject(c, "material.thumbnail", func(m vault.Material) (vault.Digest, string, string) {
		if m.Thumbnail == nil {
			return vault.Digest{}, "", ""
		}
		// JPEG since thumbnails cost little to make; materials recorded earlier have PNG ones.
		return *m.Thumbnail, "", m.ID.String()
	})
}

func (s *Server) sendObject(c echo.Context, action string, pick func(vault.Material) (vault.Digest, string, string)) error {
	m, err := s.material(c)
	if err != nil {
		return err
	}
	d, ctype, name := pick(m)
	if d.IsZero() {
		return problem(probNotFound, "该材料没有缩略图", "This material has no thumbnail")
	}
	ctx := c.Request().Context()
	// Opened first: an object the record names but the store lacks is lost data
	// (*vault.MissingError), not an unknown id.
	rc, err := vault.Open(ctx, s.deps.Blobs, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	info, err := s.deps.Blobs.Stat(ctx, d)
	if err != nil {
		return err
	}
	if err := audit.Append(ctx, s.deps.DB, s.event(c, action,
		map[string]string{audit.SubjectMaterial: m.ID.String(), audit.SubjectObject: d.String()}, nil)); err != nil {
		return err
	}
	// Objects up to verifyFirst are read and checked before the answer starts, so damage is
	// reported as a problem; larger ones are checked as they stream.
	var body []byte
	if info.Size <= verifyFirst {
		if body, err = io.ReadAll(rc); err != nil {
			return err
		}
	}
	if ctype == "" { // a thumbnail: its type is read off its bytes (always read first: small)
		ctype = http.DetectContentType(body)
		name += map[string]string{"image/jpeg": ".jpg", "image/png": ".png"}[ctype]
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s"`, name))
	h.Set(echo.HeaderContentLength, strconv.FormatInt(info.Size, 10))
	h.Set("Last-Modified", m.CapturedAt.UTC().Format(http.TimeFormat))
	h.Set("ETag", `"`+d.String()+`"`)
	c.Response().WriteHeader(http.StatusOK)
	if body != nil {
		_, err := c.Response().Write(body)
		return err
	}
	if _, err := io.Copy(c.Response(), rc); err != nil {
		s.deps.Log.Error("object download aborted", "request_id", requestID(c), "object", d.String(), "error", err.Error())
		// The status line is sent: only aborting the connection tells the client the body
		// is not whole.
		panic(http.ErrAbortHandler)
	}
	return nil
}

// verifyFirst is the largest object checked in full before its download starts.
const verifyFirst = 32 << 20
