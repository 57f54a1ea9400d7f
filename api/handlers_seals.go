package api

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"sealvault/internal/actor"
	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/vault"
)

// actor is who a seal or reuse action of this request is done by.
func (s *Server) actor(c echo.Context) actor.Actor {
	return actor.Actor{User: currentUser(c), RequestID: requestID(c), ClientIP: c.RealIP()}
}

// caRoot serves the internal CA's root certificate (PEM), for relying parties and validators.
func (s *Server) caRoot(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="sealvault-root.pem"`)
	return c.Blob(http.StatusOK, "application/x-pem-file", ca.CertPEM(s.deps.Seals.CA.Cert))
}

// caCRL serves a freshly issued CRL (DER) listing every revoked seal's certificate.
func (s *Server) caCRL(c echo.Context) error {
	crl, err := s.deps.Seals.CRL(c.Request().Context())
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/pkix-crl", crl)
}

// caSM2CRL serves the SM2 root's CRL (DER, signed with SM2): the revoked SM2 seals.
func (s *Server) caSM2CRL(c echo.Context) error {
	crl, err := s.deps.Seals.SM2CRL(c.Request().Context())
	if errors.Is(err, seal.ErrNotFound) {
		return problem(probNotFound, "本服务未配置 SM2 根证书", "This service has no SM2 root")
	} else if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/pkix-crl", crl)
}

// caTrust serves the root certificate and the current CRL in one PEM file, then the SM2
// root and its CRL: all an offline verifier needs besides the sealed file.
func (s *Server) caTrust(c echo.Context) error {
	crl, err := s.deps.Seals.CurrentCRL(c.Request().Context())
	if err != nil {
		return err
	}
	out := append(ca.CertPEM(s.deps.Seals.CA.Cert), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})...)
	if m := s.deps.Seals.Maker; m != nil {
		// The SM2 root and its CRL, for seals of the national algorithms.
		sm2CRL, err := s.deps.Seals.CurrentSM2CRL(c.Request().Context())
		if err != nil {
			return err
		}
		out = append(append(out, ca.SM2CertPEM(m.Cert)...), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: sm2CRL})...)
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="sealvault-trust.pem"`)
	return c.Blob(http.StatusOK, "application/x-pem-file", out)
}

// byDepartment answers a list, of one department if the query names one.
func byDepartment[T any](c echo.Context, list func(context.Context, *uuid.UUID) ([]T, error)) error {
	s, _ := c.Get(ctxServer).(*Server)
	dept, err := s.refParam(c, "department", refDept)
	if err != nil {
		return err
	}
	items, err := list(c.Request().Context(), dept)
	if err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

// created binds a JSON body to N, makes the object with mk and answers 201 with its
// Location under collection.
func created[N, T any](c echo.Context, collection string, mk func(context.Context, N) (T, uuid.UUID, error)) error {
	var n N
	if err := bind(c, &n); err != nil {
		return err
	}
	obj, id, err := mk(c.Request().Context(), n)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, collection+"/"+id.String())
	return c.JSON(http.StatusCreated, obj)
}

// byID answers the object get finds for the path's id.
func byID[T any](c echo.Context, get func(context.Context, uuid.UUID) (T, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	obj, err := get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, obj)
}

func (s *Server) listSeals(c echo.Context) error { return byDepartment(c, s.deps.Seals.ListSeals) }

func (s *Server) createSeal(c echo.Context) error {
	return created(c, "/api/v1/seals", func(ctx context.Context, n seal.NewSeal) (seal.Seal, uuid.UUID, error) {
		// Filed without an image, the seal has one drawn from its data (印章制作).
		sl, err := s.deps.Seals.CreateSeal(ctx, s.actor(c), n)
		if err == nil {
			sl, err = s.deps.Seals.DrawFirstImage(ctx, s.actor(c), sl)
		}
		return sl, sl.ID, err
	})
}

func (s *Server) getSeal(c echo.Context) error { return byID(c, s.deps.Seals.GetSeal) }

// directory lists what a seal administrator names when filing a seal or recording a letter.
func (s *Server) directory(c echo.Context) error {
	dir, err := s.deps.Seals.Directory(c.Request().Context(), s.actor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, dir)
}

func (s *Server) listAuthorizations(c echo.Context) error {
	return byDepartment(c, s.deps.Seals.ListAuthorizations)
}

func (s *Server) createAuthorization(c echo.Context) error {
	return created(c, "/api/v1/authorizations", func(ctx context.Context, n seal.NewAuthorization) (seal.Authorization, uuid.UUID, error) {
		a, err := s.deps.Seals.CreateAuthorization(ctx, s.actor(c), n)
		return a, a.ID, err
	})
}

func (s *Server) getAuthorization(c echo.Context) error {
	return byID(c, s.deps.Seals.GetAuthorization)
}

// sealCertificate serves a seal's certificate (PEM).
func (s *Server) sealCertificate(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	sl, err := s.deps.Seals.GetSeal(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/x-pem-file", sl.CertificatePEM())
}

// sealImage returns the seal's current image (image/png), its version in Sealvault-Image-Version.
func (s *Server) sealImage(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	sl, err := s.deps.Seals.GetSeal(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if sl.ImageDigest == nil {
		return problem(probNotFound, fmt.Sprintf("印章 %s 尚无印模图像", sl.Ref), fmt.Sprintf("Seal %s has no image yet", sl.Ref))
	}
	data, sl, err := s.deps.Seals.Image(c.Request().Context(), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Sealvault-Image-Version", strconv.Itoa(sl.ImageVersion))
	c.Response().Header().Set(echo.HeaderCacheControl, "private, no-cache")
	return c.Blob(http.StatusOK, "image/png", data)
}

type statusChange struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (s *Server) changeSealStatus(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req statusChange
	if err := bind(c, &req); err != nil {
		return err
	}
	sl, err := s.deps.Seals.Transition(c.Request().Context(), s.actor(c), id, req.Status, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sl)
}

// setScanToVerify is POST /api/v1/seals/{id}/scan-to-verify: whether the seal's stamps carry
// the QR code of the scan-to-verify page.
func (s *Server) setScanToVerify(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return invalidFields(map[string]string{"enabled": "is required: true or false"})
	}
	sl, err := s.deps.Seals.SetScanToVerify(c.Request().Context(), s.actor(c), id, *req.Enabled)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sl)
}

// sealImageRequest asks for the seal image to be drawn from the seal's data (印章制作);
// with preview set the drawing is returned as image/png and nothing is stored.
type sealImageRequest struct {
	Generate *seal.Generate `json:"generate"`
	Preview  bool           `json:"preview"`
}

// addSealImage takes the body as the new seal image (image/png), or draws it from the seal's
// data ({"generate": {...}} as application/json).
func (s *Server) addSealImage(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		var req sealImageRequest
		if err := bind(c, &req); err != nil {
			return err
		}
		if req.Generate == nil {
			return invalidFields(map[string]string{"generate": "is required: what to draw the seal image from ({} for the seal's own data)"})
		}
		ctx := c.Request().Context()
		if req.Preview {
			png, _, err := s.deps.Seals.DrawImage(ctx, s.actor(c), id, *req.Generate)
			if err != nil {
				return err
			}
			return c.Blob(http.StatusOK, "image/png", png)
		}
		sl, err := s.deps.Seals.GenerateImage(ctx, s.actor(c), id, *req.Generate)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, sl)
	}
	if !strings.HasPrefix(ct, "image/png") {
		return problem(probMediaType, "印模图像须以 image/png 上传，或以 application/json 请求生成",
			"Upload the seal image as image/png, or ask for it to be drawn with application/json")
	}
	data, err := io.ReadAll(io.LimitReader(c.Request().Body, 2<<20+1))
	if err != nil {
		return tooLargeOr(err, problem(probMalformed, "上传内容不完整", "The upload is incomplete"))
	}
	sl, err := s.deps.Seals.AddImage(c.Request().Context(), s.actor(c), id, data)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sl)
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (s *Server) revokeAuthorization(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req reasonBody
	if err := bind(c, &req); err != nil {
		return err
	}
	a, err := s.deps.Seals.RevokeAuthorization(c.Request().Context(), s.actor(c), id, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// readPDFBody spools a PDF sent as the raw body (application/pdf) or as the "pdf" part of a
// multipart form; the caller removes the file.
func (s *Server) readPDFBody(c echo.Context) (*vault.Spooled, error) {
	req := c.Request()
	ct := req.Header.Get(echo.HeaderContentType)
	limit := s.deps.PageLimits.MaxPDFBytes
	if limit <= 0 {
		limit = 200 << 20
	}
	var name string
	var body io.Reader
	switch {
	case strings.HasPrefix(ct, "application/pdf"):
		name, body = c.QueryParam("name"), req.Body
		if name == "" {
			name = "document.pdf"
		}
	case strings.HasPrefix(ct, "multipart/form-data"):
		mr, err := req.MultipartReader()
		if err != nil {
			return nil, problem(probMalformed, "上传内容格式错误", "The upload is malformed")
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, invalidFields(map[string]string{"pdf": "is required"})
			} else if err != nil {
				return nil, tooLargeOr(err, problem(probMalformed, "上传内容不完整或格式错误", "The upload is incomplete or malformed"))
			}
			if part.FormName() == "pdf" {
				if name, err = partName(part); err != nil {
					return nil, err
				}
				body = part
				break
			}
		}
	default:
		return nil, problem(probMediaType, "请以 application/pdf 或 multipart/form-data（pdf 部分）上传 PDF 文件",
			"Send the PDF as application/pdf, or as the pdf part of multipart/form-data")
	}
	f, err := vault.Spool(s.deps.Ingester.WorkDir, name, body, limit)
	var rerr *vault.UploadReadError
	if errors.As(err, &rerr) {
		return nil, tooLargeOr(err, problem(probMalformed, "上传内容不完整", "The upload is incomplete"))
	}
	return f, err
}

func (s *Server) uploadDocument(c echo.Context) error {
	f, err := s.readPDFBody(c)
	if err != nil {
		return err
	}
	defer f.Remove()
	doc, err := s.deps.Seals.UploadDocument(c.Request().Context(), s.actor(c), f, s.deps.PageLimits, s.deps.Ingester.WorkDir)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, doc)
}

// documentPage draws one page of a document the caller's department uploaded, for placing
// a seal on it.
func (s *Server) documentPage(c echo.Context) error {
	d, err := vault.ParseDigest(c.Param("digest"))
	if err != nil {
		return invalidFields(map[string]string{"path.digest": "is not a document digest (64 hex digits)"})
	}
	n, width := pageParams(c)
	img, err := s.deps.Seals.DocumentPage(c.Request().Context(), s.actor(c), d, n, width, s.deps.Ingester.WorkDir)
	if err != nil {
		return err
	}
	return servePage(c, img)
}

// requestPage draws one page of a seal request's document, for whoever may see the request
// (the custodian deciding it among them).
func (s *Server) requestPage(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	n, width := pageParams(c)
	img, err := s.deps.Seals.RequestPage(c.Request().Context(), s.actor(c), id, n, width, s.deps.Ingester.WorkDir)
	if err != nil {
		return err
	}
	return servePage(c, img)
}

// pageParams reads :n and ?width (their ranges are checked by the OpenAPI document).
func pageParams(c echo.Context) (n, width int) {
	n, _ = strconv.Atoi(c.Param("n"))
	width, _ = strconv.Atoi(c.QueryParam("width"))
	return n, width
}

// servePage answers a page image with the page's size in points and the page count as
// headers: Sealvault-Page-Size "595.28 841.89", Sealvault-Page-Count "3".
func servePage(c echo.Context, img seal.PageImage) error {
	h := c.Response().Header()
	h.Set("Sealvault-Page-Size", strconv.FormatFloat(img.WidthPt, 'f', 2, 64)+" "+strconv.FormatFloat(img.HeightPt, 'f', 2, 64))
	h.Set("Sealvault-Page-Count", strconv.Itoa(img.PageCount))
	h.Set(echo.HeaderCacheControl, "private, max-age=3600")
	return c.Blob(http.StatusOK, "image/png", img.PNG)
}

func (s *Server) createSealRequest(c echo.Context) error {
	var n seal.NewRequest
	if err := bind(c, &n); err != nil {
		return err
	}
	r, err := s.deps.Seals.CreateRequest(c.Request().Context(), s.actor(c), n)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/seal-requests/"+r.ID.String())
	return c.JSON(http.StatusCreated, r)
}

func (s *Server) listSealRequests(c echo.Context) error {
	list := s.deps.Seals.ListRequests
	if c.QueryParam("inbox") == "true" {
		list = s.deps.Seals.Inbox
	}
	rs, err := list(c.Request().Context(), s.actor(c), c.QueryParam("status"))
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []seal.Request{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": rs})
}

func (s *Server) getSealRequest(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	r, err := s.deps.Seals.GetRequest(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

type decisionBody struct {
	Note string `json:"note"`
}

func (s *Server) decideSealRequest(approve bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		var req decisionBody
		if err := bind(c, &req); err != nil {
			return err
		}
		r, err := s.deps.Seals.Decide(c.Request().Context(), s.actor(c), id, approve, req.Note)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}
}

func (s *Server) applySealRequest(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u, err := s.deps.Seals.Apply(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/seal-uses/"+u.ID.String()+"/content")
	return c.JSON(http.StatusCreated, u)
}

func (s *Server) listSealUses(c echo.Context) error {
	bad := map[string]string{}
	refs, err := s.refParams(c, map[string]refKind{"seal": refSeal, "department": refDept, "person": refUser})
	if err != nil {
		return err
	}
	f := seal.UseFilter{SealID: refs["seal"], DepartmentID: refs["department"], PersonID: refs["person"]}
	// A case by id or case number; or the free text of requests made before cases existed.
	if v := c.QueryParam("case"); v != "" {
		id, err := s.resolve(c.Request().Context(), refCase, v, "query.case")
		var ae *apiError
		switch {
		case err == nil:
			f.CaseID = &id
		case errors.As(err, &ae) && ae.kind == probNotFound:
			var legacy bool
			if err := s.deps.DB.QueryRow(c.Request().Context(), `SELECT EXISTS (SELECT 1 FROM seal_uses WHERE case_ref = $1)`, v).Scan(&legacy); err != nil {
				return err
			}
			if !legacy {
				return err
			}
			f.CaseRef = v
		default:
			return err
		}
	}
	for _, p := range []struct {
		name string
		into **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := c.QueryParam(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad["query."+p.name] = "must be an RFC 3339 time, e.g. 2026-11-25T08:00:00+08:00"
			}
			*p.into = &t
		}
	}
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(v, "U-"), 10, 64)
		if err != nil {
			bad["query.after"] = "must be the next_cursor of the previous page"
		}
		f.Before = &n
	}
	f.Limit, _ = strconv.Atoi(c.QueryParam("limit"))
	if len(bad) > 0 {
		return invalidFields(bad)
	}
	us, err := s.deps.Seals.ListUses(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := map[string]any{"items": us}
	if us == nil {
		out["items"] = []seal.Use{}
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	if len(us) == limit {
		out["next_cursor"] = us[len(us)-1].Ref
	}
	return c.JSON(http.StatusOK, out)
}

// sealUse returns a register row the user may see: auditors, admins and seal admins all;
// others those of their department or of their department's seals.
func (s *Server) sealUse(c echo.Context) (seal.Use, error) {
	id, err := pathID(c)
	if err != nil {
		return seal.Use{}, err
	}
	ctx := c.Request().Context()
	u, err := s.deps.Seals.GetUse(ctx, id)
	if err != nil {
		return u, err
	}
	me := currentUser(c)
	if me.HasRole(identity.RoleAuditor, identity.RoleAdmin, identity.RoleSealAdmin) || u.DepartmentID == me.DepartmentID {
		return u, nil
	}
	sl, err := s.deps.Seals.GetSeal(ctx, u.SealID)
	if err == nil && sl.DepartmentID == me.DepartmentID {
		return u, nil
	}
	return seal.Use{}, seal.ErrNotFound
}

func (s *Server) getSealUse(c echo.Context) error {
	u, err := s.sealUse(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

// sealUseContent serves the signed PDF of a use, verified before it is sent.
func (s *Server) sealUseContent(c echo.Context) error {
	u, err := s.sealUse(c)
	if err != nil {
		return err
	}
	// The newest archive version: the output with its renewed archive timestamps.
	digest := u.OutputDigest
	if u.Archive != nil {
		digest = u.Archive.Digest
	}
	d, err := vault.ParseDigest(digest)
	if err != nil {
		return err
	}
	data, err := vault.ReadAll(c.Request().Context(), s.deps.Blobs, d)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.pdf"`, u.Ref))
	c.Response().Header().Set("ETag", `"`+digest+`"`)
	return c.Blob(http.StatusOK, "application/pdf", data)
}

// verifyPDF reports every signature of the PDF sent.
func (s *Server) verifyPDF(c echo.Context) error {
	f, err := s.readPDFBody(c)
	if err != nil {
		return err
	}
	defer f.Remove()
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return err
	}
	v, err := s.deps.Seals.Verify(c.Request().Context(), data)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// importSeal registers a seal with an externally issued certificate and key: multipart with
// a "metadata" part (the fields of POST /api/v1/seals, without key_algorithm) and either a
// "pkcs12" file and its "password", or "certificate" (PEM, the chain in order) and
// "private_key" (PEM).
func (s *Server) importSeal(c echo.Context) error {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return problem(probMediaType, "请以 multipart/form-data 上传：metadata，以及 pkcs12 与 password，或 certificate 与 private_key",
			"Upload as multipart/form-data: metadata, and pkcs12 with password, or certificate with private_key")
	}
	var meta *seal.NewSeal
	parts := map[string][]byte{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return tooLargeOr(err, problem(probMalformed, "上传内容不完整或格式错误", "The upload is incomplete or malformed"))
		}
		name := part.FormName()
		switch name {
		case "metadata":
			meta = &seal.NewSeal{}
			if err := decodeMetadata(part, meta); err != nil {
				return err
			}
		case "pkcs12", "password", "certificate", "private_key", "seal_data":
			data, err := io.ReadAll(io.LimitReader(part, 1<<20+1))
			if err != nil {
				return tooLargeOr(err, problem(probMalformed, "上传内容不完整", "The upload is incomplete"))
			}
			if len(data) > 1<<20 {
				return invalidFields(map[string]string{name: "is larger than 1 MiB"})
			}
			parts[name] = data
		default:
			return invalidFields(map[string]string{name: "is not a known part (metadata, pkcs12, password, certificate, private_key, seal_data)"})
		}
	}
	if meta == nil {
		return invalidFields(map[string]string{"metadata": "is required"})
	}
	if parts["seal_data"] != nil {
		return s.importSealData(c, *meta, parts)
	}
	var imp seal.Imported
	switch {
	case parts["pkcs12"] != nil:
		imp.Key, imp.Chain, err = keys.ImportPKCS12(parts["pkcs12"], string(parts["password"]))
		if errors.Is(err, keys.ErrWrongPassword) {
			return invalidFields(map[string]string{"password": "does not open the PKCS#12 file"})
		} else if err != nil {
			return invalidFields(map[string]string{"pkcs12": importReason(err)})
		}
	case parts["certificate"] != nil && parts["private_key"] != nil:
		if imp.Key, imp.Chain, err = keys.ImportPEM(parts["certificate"], parts["private_key"]); err != nil {
			return invalidFields(map[string]string{"certificate": importReason(err)})
		}
	default:
		return invalidFields(map[string]string{"pkcs12": "upload a PKCS#12 file (pkcs12, password) or PEM files (certificate, private_key)"})
	}
	sl, err := s.deps.Seals.ImportSeal(c.Request().Context(), s.actor(c), *meta, imp)
	if err == nil {
		sl, err = s.deps.Seals.DrawFirstImage(c.Request().Context(), s.actor(c), sl)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/seals/"+sl.ID.String())
	return c.JSON(http.StatusCreated, sl)
}

// importSealData registers an SM2 seal from another vendor's GB/T 38540 seal data
// (seal_data, an .esl file), the SM2 private key of a signer it names (private_key, PEM) and
// the certificates that issued that signer's certificate (certificate, PEM), which the seal
// administrator trusts with the data's maker.
func (s *Server) importSealData(c echo.Context, meta seal.NewSeal, parts map[string][]byte) error {
	if parts["private_key"] == nil {
		return invalidFields(map[string]string{"private_key": "is required with seal_data: the SM2 private key (PEM) of a signer the seal data names"})
	}
	key, err := keys.ParseKeyPEM(parts["private_key"])
	if err != nil {
		return invalidFields(map[string]string{"private_key": importReason(err)})
	}
	var issuers []*smx509.Certificate
	for rest := parts["certificate"]; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := smx509.ParseCertificate(b.Bytes)
		if err != nil {
			return invalidFields(map[string]string{"certificate": "holds a certificate that cannot be read: " + err.Error()})
		}
		issuers = append(issuers, cert)
	}
	sl, err := s.deps.Seals.ImportSealData(c.Request().Context(), s.actor(c), meta, parts["seal_data"], key, issuers)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/seals/"+sl.ID.String())
	return c.JSON(http.StatusCreated, sl)
}

// importReason is the key import error without its package prefix; it names what is wrong
// with the file (never key material).
func importReason(err error) string {
	return strings.TrimPrefix(err.Error(), "keys: ")
}
