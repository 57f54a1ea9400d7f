package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// problem is an API problem response (application/problem+json).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Rule   string `json:"rule"`
	Errors []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
	RetryAfter string `json:"-"`
}

func (p *problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// Slug is the problem type's last path element (not-found, invalid-request, …).
func (p *problem) Slug() string { return p.Type[strings.LastIndex(p.Type, "/")+1:] }

// response is what the API answered.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// apiRequest is one in-process request to the API as the page's user.
type apiRequest struct {
	Method      string
	Path        string // with its query
	Body        io.Reader
	ContentType string
	Header      map[string]string
	NoAuth      bool // the public routes (login, verify) and the login itself
}

// call sends req to the API in process, as the signed-in user (a token minted for this one
// request), in the page's language, from the page's client address and request id, and
// returns the answer. A problem answer is returned as *problem.
func (x *rc) call(req apiRequest) (*response, error) {
	body := req.Body
	if body == nil {
		body = http.NoBody
	}
	r, err := http.NewRequestWithContext(x.r.Context(), req.Method, req.Path, body)
	if err != nil {
		return nil, fmt.Errorf("web: api request %s %s: %w", req.Method, req.Path, err)
	}
	r.RemoteAddr = x.r.RemoteAddr
	if v := x.r.Header.Get("X-Forwarded-For"); v != "" {
		r.Header.Set("X-Forwarded-For", v)
	}
	if v := x.r.Header.Get("X-Request-Id"); v != "" {
		r.Header.Set("X-Request-Id", v)
	}
	r.Header.Set("Accept-Language", map[bool]string{true: "en", false: "zh-CN"}[x.lang == "en"])
	if req.ContentType != "" {
		r.Header.Set("Content-Type", req.ContentType)
	}
	for k, v := range req.Header {
		r.Header.Set(k, v)
	}
	if !req.NoAuth && x.sess != nil {
		tok, _, err := x.h.deps.Tokens.Issue(x.sess.UserID)
		if err != nil {
			return nil, fmt.Errorf("web: token: %w", err)
		}
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	x.h.deps.API.ServeHTTP(rec, r)
	resp := &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if resp.Status >= 400 {
		p := &problem{Status: resp.Status}
		if err := json.Unmarshal(resp.Body, p); err != nil || p.Title == "" {
			p.Title, p.Detail = http.StatusText(resp.Status), strings.TrimSpace(string(resp.Body))
		}
		p.Status = resp.Status
		p.RetryAfter = resp.Header.Get("Retry-After")
		return resp, p
	}
	return resp, nil
}

// apiJSON calls the API with a JSON body (nil for none) and decodes the answer into out
// (nil to ignore it).
func (x *rc) apiJSON(method, path string, in, out any) error {
	req := apiRequest{Method: method, Path: path}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body, req.ContentType = bytes.NewReader(b), "application/json"
	}
	resp, err := x.call(req)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return fmt.Errorf("web: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// q builds a path with a query from pairs of names and values, leaving out empty values.
func q(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func urlEscape(s string) string { return url.QueryEscape(s) }

// pathEscape escapes one path element (an id or a reference typed by a user).
func pathEscape(s string) string { return url.PathEscape(s) }

// pageProblem is err as an API problem the page shows (a refusal or bad input), or nil.
func pageProblem(err error) *problem {
	var pr *problem
	if errors.As(err, &pr) && pr.Status < 500 {
		return pr
	}
	return nil
}
