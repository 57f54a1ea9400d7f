package api

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"sealvault/internal/identity"
)

// badText is one kind of text PostgreSQL refuses: how it is written into a URL and into a
// JSON body.
type badText struct {
	name      string
	inURL     string // percent-encoded
	inJSON    string // as it appears between the quotes of a JSON string
	raw       string // the decoded text
	wantPhase string // a word the reason must contain
}

var badTexts = []badText{
	{"NUL", "a%00b", `a\u0000b`, "a\x00b", "NUL"},
	{"invalid UTF-8", "a%FFb", "a\xffb", "a\xffb", "UTF-8"},
}

// tokenFor is a token of a role the route lets in, or none for a public route.
func (b *bundle) tokenFor(r route) string {
	switch {
	case r.Public:
		return ""
	case len(r.Roles) == 0:
		return b.token[identity.RoleWindow]
	}
	return b.token[r.Roles[0]]
}

// stringFields lists, for a JSON body schema, each string-valued field path (as problems
// name them) with a body that puts marker there.
func stringFields(s *openapi3.Schema, marker string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, ref := range s.Properties {
		p := ref.Value
		switch {
		case p.Type.Is("string"):
			out[name] = map[string]any{name: marker}
		case p.Type.Is("array") && p.Items != nil && p.Items.Value.Type.Is("string"):
			out[name+".0"] = map[string]any{name: []string{marker}}
		case p.Type.Is("object"):
			for sub, body := range stringFields(p, marker) {
				out[name+"."+sub] = map[string]any{name: body}
			}
		}
	}
	return out
}

var pathParamRE = regexp.MustCompile(`:([a-z_]+)`)

// TestHardening1_NULRefusedOnEveryRoute sends, to every route of the route table, a NUL
// character and then bytes that are not UTF-8 in each path parameter, in each query
// parameter the OpenAPI document declares (and one it does not), in each string field of
// its JSON body, in a JSON field name, in multipart metadata and in the stored
// Idempotency-Key header: each is a 400 problem naming the field, never a 500, also for
// the unauthenticated login.
func TestHardening1_NULRefusedOnEveryRoute(t *testing.T) {
	b := setup(t)
	doc := b.srv.spec.doc
	checked := 0
	expect := func(t *testing.T, rec *httptest.ResponseRecorder, field, phrase string) {
		t.Helper()
		checked++
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400 naming %s: %s", rec.Code, field, rec.Body)
		}
		p := problemOf(t, rec)
		i := slices.IndexFunc(p.Errors, func(f FieldError) bool { return f.Field == field })
		if p.Type != ProblemBase+"invalid-fields" || i < 0 || !strings.Contains(p.Errors[i].Reason, phrase) {
			t.Errorf("problem does not name %s (%s): %+v", field, phrase, p)
		}
	}
	send := func(method, target, token, contentType string, body []byte, headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		b.logInternal(t, rec)
		return rec
	}
	for _, r := range b.srv.routes() {
		op := doc.Paths.Value(pathParamRE.ReplaceAllString(r.Path, "{$1}")).GetOperation(r.Method)
		if op == nil {
			t.Fatalf("%s %s is not in the OpenAPI document", r.Method, r.Path)
		}
		token := b.tokenFor(r)
		params := pathParamRE.FindAllStringSubmatch(r.Path, -1)
		valid := pathParamRE.ReplaceAllStringFunc(r.Path, func(string) string { return uuid.NewString() })
		for _, bt := range badTexts {
			t.Run(r.Method+" "+r.Path+"/"+bt.name, func(t *testing.T) {
				for _, pm := range params {
					target := pathParamRE.ReplaceAllStringFunc(r.Path, func(m string) string {
						if m == pm[0] {
							return bt.inURL
						}
						return uuid.NewString()
					})
					expect(t, send(r.Method, target, token, "", nil), "path."+pm[1], bt.wantPhase)
				}
				queries := []string{"sealvault_unknown"}
				for _, p := range op.Parameters {
					if p.Value.In == "query" {
						queries = append(queries, p.Value.Name)
					}
				}
				for _, q := range queries {
					expect(t, send(r.Method, valid+"?"+q+"="+bt.inURL, token, "", nil), "query."+q, bt.wantPhase)
				}
				if op.RequestBody == nil {
					return
				}
				content := op.RequestBody.Value.Content
				if mt := content.Get("application/json"); mt != nil {
					const marker = "\x01MARK\x01"
					for field, body := range stringFields(mt.Schema.Value, marker) {
						js, _ := json.Marshal(body)
						js = bytes.Replace(js, []byte(`\u0001MARK\u0001`), []byte(bt.inJSON), 1)
						expect(t, send(r.Method, valid, token, "application/json", js), field, bt.wantPhase)
					}
					expect(t, send(r.Method, valid, token, "application/json", []byte(`{"`+bt.inJSON+`": 1}`)), "body", "field name")
				}
				if mt := content.Get("multipart/form-data"); mt != nil && mt.Schema.Value.Properties["metadata"] != nil {
					var buf bytes.Buffer
					mw := multipart.NewWriter(&buf)
					w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="metadata"`},
						"Content-Type": {"application/json"}})
					w.Write([]byte(`{"title": "` + bt.inJSON + `", "source": "scan"}`))
					mw.Close()
					expect(t, send(r.Method, valid, token, mw.FormDataContentType(), buf.Bytes()), "metadata.title", bt.wantPhase)
					if r.Path == "/api/v1/materials" {
						expect(t, send(r.Method, valid, token, mw.FormDataContentType(), buf.Bytes(), "Idempotency-Key", bt.raw),
							"Idempotency-Key", bt.wantPhase)
					}
				}
			})
		}
	}
	if checked < 3*len(b.srv.routes()) {
		t.Errorf("only %d requests checked over %d routes", checked, len(b.srv.routes()))
	}
	// Nothing of it was written: no login failure counted, no audit event.
	if n := count(t, b.pool, "login_failures"); n != 0 {
		t.Errorf("%d login failures recorded", n)
	}
}
