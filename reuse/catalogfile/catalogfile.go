// Package catalogfile reads the material catalog (材料目录) and the service items (事项) that
// require its materials from a file an operator maintains, in YAML or CSV, and checks every
// entry before anything is written: each problem is reported with the line it is on.
//
// Both formats carry the same information and produce the same Catalog. Where a value is
// left out, the table defaults apply: shareable is true, original_required false, colour
// any, sensitivity normal, formats all four; a material of an item is required unless
// required is false, and its reuse is not accepted unless reuse_accepted is true.
package catalogfile

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"sealvault/reuse"
)

// Demo is a small catalog of a district service center in Guangzhou: eight material types
// and two service items of the departments TH-SCJG and TH-ZJJ.
//
//go:embed demo.yaml
var Demo []byte

// maxSize bounds the file read into memory; a real catalog is a few hundred kilobytes.
const maxSize = 32 << 20

// Catalog is a whole catalog file: material types and service items.
type Catalog struct {
	Types []reuse.MaterialType `yaml:"material_types"`
	Items []reuse.ServiceItem  `yaml:"service_items"`
}

// LineError is one bad entry: the line in the file it starts on, the field, and why.
// Field is empty when the problem is not with one field (a syntax error, say).
type LineError struct {
	Line   int
	Field  string
	Reason string
}

// String formats e as "line 12: min_dpi: must be positive".
func (e LineError) String() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
}

// Parse reads a catalog in YAML or CSV (format "yaml" or "csv"; "" = guess from content). It
// returns every bad entry at once (not only the first), each with its line number; the
// catalog is usable only if errs is empty. err is set only when r cannot be read, is too
// large, or format is unknown. A UTF-8 byte order mark at the start is ignored.
func Parse(r io.Reader, format string) (c Catalog, errs []LineError, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return c, nil, fmt.Errorf("catalogfile: read: %w", err)
	}
	if len(data) > maxSize {
		return c, nil, fmt.Errorf("catalogfile: file larger than %d MiB", maxSize>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if format == "" {
		format = guess(data)
	}
	var p *parsed
	switch format {
	case "yaml":
		p = &parsed{display: func(f string) string { return f }}
	case "csv":
		p = &parsed{display: csvItemField}
	default:
		return c, nil, fmt.Errorf("catalogfile: format %q: want yaml or csv", format)
	}
	if !utf8.Valid(data) {
		line := 1
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			if r == '\n' {
				line++
			}
			i += n
		}
		return c, []LineError{{Line: line, Reason: "is not UTF-8 text (save the file as UTF-8)"}}, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, []LineError{{Line: 1, Reason: "the file is empty"}}, nil
	}
	if format == "yaml" {
		err = p.yaml(data)
	} else {
		p.csv(data)
	}
	if err != nil {
		return c, nil, err
	}
	p.validate()
	for _, t := range p.types {
		c.Types = append(c.Types, t.t)
	}
	for _, it := range p.items {
		c.Items = append(c.Items, it.it)
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		if p.errs[i].Line != p.errs[j].Line {
			return p.errs[i].Line < p.errs[j].Line
		}
		return p.errs[i].Field < p.errs[j].Field
	})
	return c, p.errs, nil
}

// guess takes a file whose first line of content starts with the CSV header's first column
// for CSV, anything else for YAML.
func guess(data []byte) string {
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if strings.HasPrefix(s, "kind,") || strings.HasPrefix(s, `"kind",`) {
			return "csv"
		}
		break
	}
	return "yaml"
}

// entry records where an entry and each of its fields are in the file.
type entry struct {
	line  int            // the line the entry starts on
	lines map[string]int // the line of each field given
	bad   map[string]bool
}

func newEntry(line int) entry {
	return entry{line: line, lines: map[string]int{}, bad: map[string]bool{}}
}

// at returns the line of field, or of the entry when the field is not given.
func (e entry) at(field string) int {
	if l, ok := e.lines[field]; ok {
		return l
	}
	return e.line
}

type typeEntry struct {
	t reuse.MaterialType
	entry
}

type itemEntry struct {
	it reuse.ServiceItem
	entry
	mats []entry // one per material, in order
}

// parsed is a catalog file read entry by entry, before the entries are checked.
type parsed struct {
	types []typeEntry
	items []itemEntry
	errs  []LineError
	// display turns the name reuse.ServiceItem.Check gives a field into the file's name.
	display func(field string) string
}

func (p *parsed) add(line int, field, reason string) {
	p.errs = append(p.errs, LineError{Line: line, Field: field, Reason: reason})
}

// validate checks every entry on its own and against the others: codes are unique, and
// every material an item lists is a type of the file.
func (p *parsed) validate() {
	typeAt := map[string]int{}
	for i := range p.types {
		e := &p.types[i]
		for f, reason := range e.t.Check() {
			if !e.bad[f] {
				p.add(e.at(f), f, reason)
			}
		}
		if e.t.Code == "" {
			continue
		}
		if first, ok := typeAt[e.t.Code]; ok {
			p.add(e.at("code"), "code", fmt.Sprintf("%s is used again (first on line %d)", e.t.Code, first))
		} else {
			typeAt[e.t.Code] = e.line
		}
	}
	itemAt := map[string]int{}
	for i := range p.items {
		e := &p.items[i]
		for f, reason := range e.it.Check() {
			if e.bad[f] {
				continue
			}
			line := e.at(f)
			if m, ok := materialIndex(f); ok && m < len(e.mats) {
				line = e.mats[m].at("type_code")
			}
			p.add(line, p.display(f), reason)
		}
		if e.it.Code != "" {
			if first, ok := itemAt[e.it.Code]; ok {
				p.add(e.at("code"), p.display("code"), fmt.Sprintf("%s is used again (first on line %d)", e.it.Code, first))
			} else {
				itemAt[e.it.Code] = e.line
			}
		}
		for m, mat := range e.it.Materials {
			f := fmt.Sprintf("materials[%d].type_code", m)
			if m >= len(e.mats) || e.mats[m].bad["type_code"] {
				continue
			}
			switch _, ok := typeAt[mat.TypeCode]; {
			case mat.TypeCode == "":
				p.add(e.mats[m].at("type_code"), p.display(f), "is required")
			case !ok:
				p.add(e.mats[m].at("type_code"), p.display(f), "no material type "+mat.TypeCode+" in this file")
			}
		}
	}
}

// materialIndex returns i of a field named "materials[i]...".
func materialIndex(field string) (int, bool) {
	rest, ok := strings.CutPrefix(field, "materials[")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, "]")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(n)
	return i, err == nil
}

// setter stores one value given as text and returns why it is not acceptable ("" if it is).
// An empty value leaves the default.
type setter func(v string) (reason string)

func text(p *string) setter {
	return func(v string) string { *p = strings.TrimSpace(v); return "" }
}

func optInt(p **int) setter {
	return func(v string) string {
		v = strings.TrimSpace(v)
		if v == "" {
			*p = nil
			return ""
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return "must be a whole number, not " + strconv.Quote(v)
		}
		*p = &n
		return ""
	}
}

func optInt64(p **int64) setter {
	return func(v string) string {
		v = strings.TrimSpace(v)
		if v == "" {
			*p = nil
			return ""
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "must be a whole number, not " + strconv.Quote(v)
		}
		*p = &n
		return ""
	}
}

func flag(p *bool) setter {
	return func(v string) string {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "":
		case "true", "yes":
			*p = true
		case "false", "no":
			*p = false
		default:
			return "must be true or false, not " + strconv.Quote(v)
		}
		return ""
	}
}

// formatList reads formats separated by '|', as in "jpeg|png|pdf".
func formatList(p *[]string) setter {
	return func(v string) string {
		*p = nil
		if strings.TrimSpace(v) == "" {
			return ""
		}
		for f := range strings.SplitSeq(v, "|") {
			*p = append(*p, strings.TrimSpace(f))
		}
		return ""
	}
}

// newType returns a material type holding the defaults of a value left out.
func newType() reuse.MaterialType { return reuse.MaterialType{Shareable: true} }

// newMaterial returns an item's material holding the defaults of a value left out.
func newMaterial() reuse.ItemMaterial { return reuse.ItemMaterial{Required: true} }

// typeFields names the fields of a material type as both formats spell them.
func typeFields(t *reuse.MaterialType) map[string]setter {
	return map[string]setter{
		"code":              text(&t.Code),
		"name":              text(&t.Name),
		"category":          text(&t.Category),
		"holder_kind":       text(&t.HolderKind),
		"formats":           formatList(&t.Formats),
		"min_dpi":           optInt(&t.MinDPI),
		"min_pixels":        optInt(&t.MinPixels),
		"colour":            text(&t.Colour),
		"max_bytes":         optInt64(&t.MaxBytes),
		"max_pages":         optInt(&t.MaxPages),
		"original_required": flag(&t.OriginalRequired),
		"validity":          text(&t.Validity),
		"validity_months":   optInt(&t.ValidityMonths),
		"sensitivity":       text(&t.Sensitivity),
		"shareable":         flag(&t.Shareable),
	}
}

// materialFields names the fields of an item's material as both formats spell them.
func materialFields(m *reuse.ItemMaterial) map[string]setter {
	return map[string]setter{
		"type_code":      text(&m.TypeCode),
		"required":       flag(&m.Required),
		"reuse_accepted": flag(&m.ReuseAccepted),
	}
}
