package api

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
)

//go:embed openapi.yaml
var specYAML []byte

// spec is the OpenAPI document every request is validated against, so the document and the
// code cannot drift apart.
type spec struct {
	doc    *openapi3.T
	router routers.Router
	json   []byte
}

func loadSpec() (*spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(specYAML)
	if err != nil {
		return nil, fmt.Errorf("api: openapi document: %w", err)
	}
	if err := doc.Validate(openapi3.NewLoader().Context); err != nil {
		return nil, fmt.Errorf("api: openapi document invalid: %w", err)
	}
	// Requests are matched on path alone; the server URL in the document is informational.
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("api: openapi router: %w", err)
	}
	js, err := doc.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("api: openapi document: %w", err)
	}
	return &spec{doc: doc, router: r, json: js}, nil
}

// validate checks the request's parameters and body against the document and answers with
// one problem listing every violation.
func (s *spec) validate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route, params, err := s.router.FindRoute(req)
		if err != nil {
			return fmt.Errorf("api: route %s %s is missing from the OpenAPI document: %w", req.Method, c.Path(), err)
		}
		err = openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				MultiError:         true,
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				// Uploads (multipart, PDFs, images) are streamed to their handler, which
				// checks them itself; validating them here would hold the whole body in
				// memory. JSON bodies are validated.
				ExcludeRequestBody: streamed(req.Header.Get(echo.HeaderContentType)),
			},
		})
		if err != nil {
			var accepted []string
			if rb := route.Operation.RequestBody; rb != nil && rb.Value != nil {
				for mt := range rb.Value.Content {
					accepted = append(accepted, mt)
				}
				sort.Strings(accepted)
			}
			return requestProblem(err, accepted)
		}
		return next(c)
	}
}

// streamed reports whether a body of this content type goes to its handler unvalidated.
func streamed(contentType string) bool {
	for _, p := range []string{"multipart/", "application/pdf", "image/png"} {
		if strings.HasPrefix(contentType, p) {
			return true
		}
	}
	return false
}

var propertyRE = regexp.MustCompile(`^property "([^"]+)" is (missing|unsupported)$`)

// requestProblem turns kin-openapi's validation errors into one problem, each field named
// where it is (body.x, query.x, path.x, header.Content-Type). accepted are the content types
// the operation takes.
func requestProblem(err error, accepted []string) error {
	fields := map[string]string{}
	var walk func(error, string)
	walk = func(err error, prefix string) {
		var me openapi3.MultiError
		var re *openapi3filter.RequestError
		var se *openapi3.SchemaError
		var pe *openapi3filter.ParseError
		// A parameter's error first: its Err may itself be a MultiError, which the cases
		// below would otherwise walk without the parameter's name.
		if r, ok := err.(*openapi3filter.RequestError); ok && r.Parameter != nil && r.Err != nil && !errors.As(r.Err, &pe) {
			name := r.Parameter.In + "." + r.Parameter.Name
			n := len(fields)
			walk(r.Err, name)
			if len(fields) == n {
				fields[name] = reasonOf(r.Err)
			}
			return
		}
		switch {
		case errors.As(err, &me):
			for _, e := range me {
				walk(e, prefix)
			}
		case errors.As(err, &re) && re.Parameter != nil && errors.As(re.Err, &pe):
			// A parameter's value that does not parse (limit=abc).
			fields[re.Parameter.In+"."+re.Parameter.Name] = "must be " + kindOf(re.Parameter.Schema)
		case errors.As(err, &pe):
			fields["body"] = "is not valid JSON"
		case errors.As(err, &re) && re.Err == nil && re.RequestBody != nil && strings.Contains(re.Reason, "Content-Type"):
			fields["header.Content-Type"] = "must be one of " + strings.Join(accepted, ", ")
		case errors.As(err, &re) && re.Parameter != nil:
			name := re.Parameter.In + "." + re.Parameter.Name
			if re.Err != nil {
				walk(re.Err, name)
				if _, ok := fields[name]; !ok && len(fields) == 0 {
					fields[name] = reasonOf(re.Err)
				}
			} else {
				fields[name] = re.Reason
			}
		case errors.As(err, &re) && re.Err != nil:
			walk(re.Err, prefix)
			if len(fields) == 0 {
				fields["body"] = reasonOf(re.Err)
			}
		case errors.As(err, &re):
			fields["body"] = re.Reason
		case errors.As(err, &se):
			ptr := se.JSONPointer()
			field := strings.Join(ptr, ".")
			if m := propertyRE.FindStringSubmatch(se.Reason); m != nil {
				if len(ptr) == 0 || ptr[len(ptr)-1] != m[1] {
					if field != "" {
						field += "."
					}
					field += m[1]
				}
				if m[2] == "missing" {
					fields[field] = "is required"
				} else {
					fields[field] = "is not a known field"
				}
				return
			}
			if field == "" {
				field = prefix
			}
			if field == "" {
				field = "body"
			}
			fields[field] = friendly(se)
		default:
			fields["request"] = err.Error()
		}
	}
	walk(err, "")
	if _, ok := fields["header.Content-Type"]; ok && len(fields) == 1 {
		list := strings.Join(accepted, ", ")
		e := problem(probMediaType, "请求的 Content-Type 须为以下之一："+list, "The request's Content-Type must be one of: "+list)
		e.fields = []FieldError{{Field: "header.Content-Type", Reason: fields["header.Content-Type"]}}
		return e
	}
	if reason, ok := fields["body"]; ok && reason == "is not valid JSON" {
		return &apiError{kind: probMalformed, detailZh: "请求体不是合法的 JSON", detailEn: "The request body is not valid JSON", cause: err}
	}
	return invalidFields(fields)
}

// kindOf says in words what a parameter's schema takes.
func kindOf(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil || ref.Value.Type == nil {
		return "a valid value"
	}
	switch {
	case ref.Value.Type.Is("integer"):
		return "a whole number"
	case ref.Value.Type.Is("number"):
		return "a number"
	case ref.Value.Type.Is("boolean"):
		return "true or false"
	}
	return "a valid value"
}

// friendly rewords the schema errors whose kin-openapi wording would puzzle a user.
func friendly(se *openapi3.SchemaError) string {
	switch {
	case se.SchemaField == "pattern" && strings.Contains(se.Schema.Pattern, "[0-9a-fA-F]{8}"):
		return "must be an id (UUID)"
	case se.SchemaField == "enum":
		vals := make([]string, len(se.Schema.Enum))
		for i, v := range se.Schema.Enum {
			vals[i] = fmt.Sprint(v)
		}
		return "must be one of " + strings.Join(vals, ", ")
	}
	return se.Reason
}

func reasonOf(err error) string {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return se.Reason
	}
	return err.Error()
}

// Paths returns every "METHOD /path" in the document, echo-style (":id"), sorted; tests
// compare it with the registered routes.
func (s *spec) paths() []string {
	var out []string
	for p, item := range s.doc.Paths.Map() {
		ep := regexp.MustCompile(`\{([^}]+)\}`).ReplaceAllString(p, ":$1")
		for m := range item.Operations() {
			out = append(out, m+" "+ep)
		}
	}
	sort.Strings(out)
	return out
}
