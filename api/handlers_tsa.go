package api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"sealvault/seal/ca"
	"sealvault/seal/tsa"
)

// maxTSAQuery bounds a timestamp query: a digest, a policy and a nonce take a few hundred
// bytes.
const maxTSAQuery = 64 << 10

// timestampQuery is POST /api/v1/tsa: an RFC 3161 timestamp query (application/timestamp-query)
// answered with a reply (application/timestamp-reply) from the service's timestamping
// authority, for anyone (other systems of the center timestamp with it too).
func (s *Server) timestampQuery(c echo.Context) error {
	t := s.deps.Seals.TSA
	if t == nil {
		return problem(probNotFound, "本服务未配置时间戳服务", "This service runs no timestamping authority")
	}
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, "application/timestamp-query") {
		return problem(probMediaType, "请以 application/timestamp-query 发送 RFC 3161 时间戳请求",
			"Send an RFC 3161 timestamp query as application/timestamp-query")
	}
	query, err := io.ReadAll(io.LimitReader(req.Body, maxTSAQuery+1))
	if err != nil {
		return tooLargeOr(err, problem(probMalformed, "请求内容不完整", "The query is incomplete"))
	}
	if len(query) > maxTSAQuery {
		return echo.ErrStatusRequestEntityTooLarge
	}
	reply, err := t.Respond(req.Context(), query)
	var qe *tsa.QueryError
	if errors.As(err, &qe) {
		return invalidFields(map[string]string{"body": strings.TrimPrefix(qe.Error(), "tsa: ")})
	} else if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/timestamp-reply", reply)
}

// tsaCertificate serves the timestamping authority's certificate (PEM), for validators of
// tokens that do not carry it.
func (s *Server) tsaCertificate(c echo.Context) error {
	t := s.deps.Seals.TSA
	if t == nil {
		return problem(probNotFound, "本服务未配置时间戳服务", "This service runs no timestamping authority")
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="sealvault-tsa.pem"`)
	return c.Blob(http.StatusOK, "application/x-pem-file", ca.CertPEM(t.Cert))
}
