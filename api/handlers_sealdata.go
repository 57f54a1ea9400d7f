package api

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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
