package api

import (
	"errors"
	"net/http"
	"os"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"sealvault/seal"
)

// publicVerifyPDF is POST /api/v1/verify for the public verification page: no login, and
// only the public facts.
func (s *Server) publicVerifyPDF(c echo.Context) error {
	f, err := s.readPDFBody(c)
	if err != nil {
		return err
	}
	defer f.Remove()
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := s.deps.Seals.Verify(ctx, data)
	if err != nil {
		return err
	}
	out := seal.PublicVerification{Digest: v.Digest, Size: v.Size, Valid: v.Valid, Signatures: make([]seal.PublicSignature, 0, len(v.Signatures)),
		ArchiveTimestamps: v.ArchiveTimestamps}
	for _, sg := range v.Signatures {
		p := seal.PublicSignature{Valid: sg.Valid, Intact: sg.DigestValid, Trusted: sg.ChainValid, CoversWholeFile: sg.CoversWholeFile,
			AppendedBytes: sg.AppendedBytes, SignedAt: sg.SignedAt, SealRef: sg.SealRef, SealStatus: sg.SealStatus,
			SealedAt: sg.SealedAt, SealRevokedAt: sg.SealRevokedAt, RevokedAfterSealing: sg.RevokedAfterSealing, Summary: sg.Summary,
			LaterAdditions: sg.LaterAdditions, Level: sg.Level, SealData: sg.SealData}
		if t := sg.Timestamp; t != nil && t.Valid {
			at := t.Time
			p.TimestampedAt, p.TimestampedBy = &at, t.TSA
		}
		if sg.SealID != nil {
			if id, err := uuid.Parse(*sg.SealID); err == nil {
				if sl, err := s.deps.Seals.GetSeal(ctx, id); err == nil {
					p.SealName, p.Department = sl.Name, sl.Department
				}
			}
		}
		if u := sg.RegisterEntry; u != nil {
			at := u.AppliedAt
			p.Registered, p.UseRef, p.AppliedAt = true, u.Ref, &at
		}
		out.Signatures = append(out.Signatures, p)
	}
	return c.JSON(http.StatusOK, out)
}

// publicUse is GET /api/v1/public/uses/{token}: scan to verify, the public facts of the use
// whose stamp's QR code names token. No login.
func (s *Server) publicUse(c echo.Context) error {
	u, err := s.deps.Seals.PublicUse(c.Request().Context(), c.Param("token"))
	if errors.Is(err, seal.ErrNotFound) {
		return problem(probNotFound, "没有与此验真码对应的用印记录：请核对二维码或网址", "No seal use has this verification code: check the QR code or the address")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}
