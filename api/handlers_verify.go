package api

import (
	"net/http"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// publicVerification is what anyone holding a sealed PDF may learn of it without logging
// in: whether each signature is intact, which seal of which department made it, when, and
// whether the seal-use register has it. It is its own type, field by field, so nothing about
// the applicant, the case, the item or the people who asked and approved can reach it.
type publicVerification struct {
	Digest     string            `json:"digest"`
	Size       int64             `json:"size"`
	Valid      bool              `json:"valid"`
	Signatures []publicSignature `json:"signatures"`
}

type publicSignature struct {
	Valid           bool       `json:"valid"`             // intact, trusted, and nothing foreign after it
	Intact          bool       `json:"intact"`            // the signed bytes are unchanged
	Trusted         bool       `json:"trusted"`           // the certificate chains to this service's root
	CoversWholeFile bool       `json:"covers_whole_file"` // no bytes follow the signed range
	AppendedBytes   int64      `json:"appended_bytes"`
	SignedAt        time.Time  `json:"signed_at"`
	SealRef         string     `json:"seal_ref,omitempty"`
	SealName        string     `json:"seal_name,omitempty"`
	SealStatus      string     `json:"seal_status,omitempty"`
	Department      string     `json:"department,omitempty"` // the seal's department
	Registered      bool       `json:"registered"`           // the register has a use with this signed revision
	UseRef          string     `json:"use_ref,omitempty"`
	AppliedAt       *time.Time `json:"applied_at,omitempty"`
}

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
	out := publicVerification{Digest: v.Digest, Size: v.Size, Valid: v.Valid, Signatures: make([]publicSignature, 0, len(v.Signatures))}
	for _, sg := range v.Signatures {
		p := publicSignature{Valid: sg.Valid, Intact: sg.DigestValid, Trusted: sg.ChainValid, CoversWholeFile: sg.CoversWholeFile,
			AppendedBytes: sg.AppendedBytes, SignedAt: sg.SignedAt, SealRef: sg.SealRef, SealStatus: sg.SealStatus}
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
