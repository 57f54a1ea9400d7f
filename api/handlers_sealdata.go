package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"sealvault/seal"
	"sealvault/seal/ca"
	"sealvault/seal/ses"
)

// maxSealData bounds an electronic seal sent for inspection: its picture is the bulk of it.
const maxSealData = 16 << 20

// sealInspection is the answer of POST /api/v1/seal-data/inspect.
type sealInspection struct {
	Seal         ses.Description `json:"seal"`
	Verification ses.Report      `json:"verification"`
}

// inspectSealData is POST /api/v1/seal-data/inspect: an electronic seal (GB/T 38540
// SES_Seal) made by any system, read and verified as it stood at ?at= (default now). The
// maker's chain is not judged: the service holds no other maker's root (sealvault seal
// inspect --root does that offline).
func (s *Server) inspectSealData(c echo.Context) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, "application/octet-stream") {
		return problem(probMediaType, "请以 application/octet-stream 上传电子印章数据（.esl 文件）",
			"Send the seal data (an .esl file) as application/octet-stream")
	}
	at := time.Now()
	if q := strings.TrimSpace(c.QueryParam("at")); q != "" {
		t, err := time.Parse("2006-01-02", q)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, q); err != nil {
				return invalidFields(map[string]string{"query.at": "must be a date such as 2021-01-01 or an RFC 3339 time such as 2021-01-01T08:00:00+08:00"})
			}
		}
		at = t
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, maxSealData+1))
	if err != nil {
		return tooLargeOr(err, problem(probMalformed, "上传内容不完整", "The upload is incomplete"))
	}
	if len(data) > maxSealData {
		return echo.ErrStatusRequestEntityTooLarge
	}
	sl, err := ses.ParseSeal(data)
	var fe *ses.FormatError
	if errors.As(err, &fe) {
		return problem(probRejected, "不是 GB/T 38540 电子印章数据："+fe.Error(), strings.TrimPrefix(fe.Error(), "ses: "))
	} else if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sealInspection{Seal: sl.Describe(), Verification: sl.Verify(at, nil)})
}

// caSM2Root serves the seal maker's SM2 root certificate (PEM), which signs every seal's
// GB/T 38540 seal data.
func (s *Server) caSM2Root(c echo.Context) error {
	m := s.deps.Seals.Maker
	if m == nil {
		return problem(probNotFound, "本服务未配置 SM2 制章根证书", "This service has no SM2 seal maker")
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="sealvault-sm2-root.pem"`)
	return c.Blob(http.StatusOK, "application/x-pem-file", ca.SM2CertPEM(m.Cert))
}

// sealData is GET /api/v1/seals/:id/seal-data: the seal's electronic seal data (GB/T 38540
// SES_Seal, DER) for its current image, as an .esl file.
func (s *Server) sealData(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	der, sl, err := s.deps.Seals.SealData(c.Request().Context(), id)
	if errors.Is(err, seal.ErrNotFound) && sl.Ref != "" {
		return problem(probNotFound, fmt.Sprintf("印章 %s 尚无印模图像，因而没有电子印章数据", sl.Ref),
			fmt.Sprintf("Seal %s has no image yet, so no seal data", sl.Ref))
	} else if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.esl"`, sl.Ref))
	c.Response().Header().Set("Sealvault-Image-Version", strconv.Itoa(sl.ImageVersion))
	return c.Blob(http.StatusOK, "application/octet-stream", der)
}
