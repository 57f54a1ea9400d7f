package catalogfile

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestCatalogParseDemo(t *testing.T) {
	c, errs, err := Parse(bytes.NewReader(Demo), "")
	if err != nil || len(errs) != 0 {
		t.Fatalf("demo catalog: err %v, errs %v", err, errs)
	}
	if len(c.Types) != 9 || len(c.Items) != 4 {
		t.Fatalf("demo catalog has %d types and %d items, want 9 and 4", len(c.Types), len(c.Items))
	}
	if it := c.Items[0]; it.Code != "440106-GTGSH-003" || it.Kind != "instant" || it.TimeLimitDays == nil || *it.TimeLimitDays != 0 {
		t.Errorf("the instant item = %+v", it)
	}
	if it := c.Items[1]; it.Kind != "promised" || it.TimeLimitDays == nil || *it.TimeLimitDays != 10 {
		t.Errorf("the promised item = %+v", it)
	}
	id := c.Types[0]
	if id.Code != "ID-CARD" || id.Name != "居民身份证" || *id.MinDPI != 300 || *id.MaxPages != 2 || !id.OriginalRequired || id.Colour != "colour" {
		t.Errorf("ID-CARD = %+v", id)
	}
	food := c.Items[2]
	if food.Code != "440106-FOOD-001" || food.DepartmentCode != "TH-SCJG" || len(food.Materials) != 5 {
		t.Fatalf("first item = %+v", food)
	}
	for _, m := range food.Materials {
		if m.ReuseAccepted != (m.TypeCode != "FOOD-SAFETY-PLAN") || !m.Required {
			t.Errorf("%s of %s: required %v, reuse accepted %v", m.TypeCode, food.Code, m.Required, m.ReuseAccepted)
		}
	}
	for _, m := range c.Items[3].Materials {
		if m.Required != (m.TypeCode != "INCOME-PROOF") {
			t.Errorf("%s of %s: required %v", m.TypeCode, c.Items[3].Code, m.Required)
		}
	}
}

// TestCatalogParseCSVMatchesYAML reads the CSV twin of the demo catalog, as saved by a spreadsheet
// (BOM, CRLF) and as plain UTF-8, and expects exactly what the YAML gives.
func TestCatalogParseCSVMatchesYAML(t *testing.T) {
	want, errs, err := Parse(bytes.NewReader(Demo), "yaml")
	if err != nil || len(errs) != 0 {
		t.Fatal(err, errs)
	}
	plain, err := os.ReadFile("testdata/demo.csv")
	if err != nil {
		t.Fatal(err)
	}
	spreadsheet := append([]byte("\xEF\xBB\xBF"), bytes.ReplaceAll(plain, []byte("\n"), []byte("\r\n"))...)
	for _, tc := range []struct {
		name   string
		data   []byte
		format string
	}{
		{"csv", plain, "csv"},
		{"guessed", plain, ""},
		{"bom and crlf", spreadsheet, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs, err := Parse(bytes.NewReader(tc.data), tc.format)
			if err != nil || len(errs) != 0 {
				t.Fatalf("err %v, errs %v", err, errs)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("CSV catalog differs from the YAML one:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestCatalogParseYAMLWithBOM(t *testing.T) {
	c, errs, err := Parse(bytes.NewReader(append([]byte("\xEF\xBB\xBF"), Demo...)), "")
	if err != nil || len(errs) != 0 || len(c.Types) != 9 {
		t.Fatalf("demo with BOM: err %v, errs %v, %d types", err, errs, len(c.Types))
	}
}

// badYAML and badCSV hold the same mistakes; every one must be reported on its own line.
const badYAML = `material_types:
  - code: A
    name: 甲
    holder_kind: person
    min_dpi: -5
    validity: long_term
  - code: B
    name: 乙
    holder_kind: robot
    validity: fixed_period
    colr: gray
  - code: A
    name: 甲二
    holder_kind: person
    validity: long_term
    max_pages: many
service_items:
  - code: S1
    name: 事项
    materials:
      - type_code: A
      - type_code: NOPE
        required: maybe
`

const badCSV = CSVHeader + `
type,A,甲,,person,,-5,,,,,,long_term,,,,,,,,,
type,B,乙,,robot,,,,gray,,,,fixed_period,,,,,,,,,
# a comment line
type,A,甲二,,person,,,,,,many,,long_term,,,,,,,,,
item_material,,,,,,,,,,,,,,,,S1,事项,,A,,
item_material,,,,,,,,,,,,,,,,S1,,,NOPE,maybe,
frobnicate,,,,,,,,,,,,,,,,,,,,,
type,C,丙,,person,,,,,,,,long_term,,,,,,,X,,
type,D,丁
`

func TestCatalogParseReportsEveryError(t *testing.T) {
	type want struct {
		line          int
		field, reason string
	}
	for _, tc := range []struct {
		name, data, format string
		want               []want
	}{
		{"yaml", badYAML, "", []want{
			{5, "min_dpi", "must be positive"},
			{7, "validity_months", "is required with validity fixed_period"},
			{9, "holder_kind", "must be person or organisation"},
			{11, "colr", "unknown field"},
			{12, "code", "A is used again (first on line 2)"},
			{16, "max_pages", `must be a whole number, not "many"`},
			{18, "department_code", "is required"},
			{22, "materials[1].type_code", "no material type NOPE in this file"},
			{23, "materials[1].required", `must be true or false, not "maybe"`},
		}},
		{"csv", badCSV, "csv", []want{
			{2, "min_dpi", "must be positive"},
			{3, "holder_kind", "must be person or organisation"},
			{3, "validity_months", "is required with validity fixed_period"},
			{5, "code", "A is used again (first on line 2)"},
			{5, "max_pages", `must be a whole number, not "many"`},
			{6, "department_code", "is required"},
			{7, "required", `must be true or false, not "maybe"`},
			{7, "type_code", "no material type NOPE in this file"},
			{8, "kind", `must be type or item_material, not "frobnicate"`},
			{9, "type_code", "must be empty in a row of kind type"},
			{10, "", "has 3 columns; the header has 24"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, errs, err := Parse(strings.NewReader(tc.data), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, e := range errs {
				got = append(got, want{e.Line, e.Field, e.Reason})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), errs)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.line != w.line || g.field != w.field || !strings.HasPrefix(g.reason, w.reason) {
					t.Errorf("error %d = %s, want line %d: %s: %s…", i, errs[i], w.line, w.field, w.reason)
				}
			}
			if len(c.Items) != 1 || len(c.Items[0].Materials) != 2 {
				t.Errorf("the two material rows of S1 did not build one item: %+v", c.Items)
			}
		})
	}
}

func TestCatalogParseOtherErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, format string
		want               string
	}{
		{"yaml syntax", "material_types:\n  - code: A\n    name: x: y\n", "yaml", "line 3: YAML syntax: mapping values are not allowed"},
		{"yaml unknown top-level field", "material_types: []\nservice_item: []\n", "", "line 2: service_item: unknown field"},
		{"yaml field twice", "material_types:\n  - code: A\n    code: B\n    name: 甲\n    holder_kind: person\n    validity: long_term\n", "", "line 3: code: is given twice (first on line 2)"},
		{"yaml formats not a list", "material_types:\n  - code: A\n    formats: jpeg\n    name: 甲\n    holder_kind: person\n    validity: long_term\n", "", "line 3: formats: must be a list"},
		{"yaml two documents", "material_types: []\n---\nservice_items: []\n", "", "line 2: a catalog file holds one YAML document"},
		{"csv without header", "type,A,甲,,person,,,,,,,,long_term,,,,,,,,,\n", "csv", "line 1: the first row must be the header kind,code,"},
		{"csv name differs on a later row", CSVHeader + "\n" +
			"type,A,甲,,person,,,,,,,,long_term,,,,,,,,,\n" +
			"type,B,乙,,person,,,,,,,,long_term,,,,,,,,,\n" +
			"item_material,,,,,,,,,,,,,,,,S1,事项,D1,A,,\n" +
			"item_material,,,,,,,,,,,,,,,,S1,,D2,B,,\n", "csv", `line 5: department_code: "D2" differs from "D1" on line 4`},
		{"csv rows of an item apart", CSVHeader + "\n" +
			"type,A,甲,,person,,,,,,,,long_term,,,,,,,,,\n" +
			"item_material,,,,,,,,,,,,,,,,S1,事项,D1,A,,\n" +
			"type,B,乙,,person,,,,,,,,long_term,,,,,,,,,\n" +
			"item_material,,,,,,,,,,,,,,,,S1,事项,D1,B,,\n", "csv", "line 5: item_code: S1 is used again (first on line 3)"},
		{"csv bad quote", CSVHeader + "\ntype,\"A\"x,甲,,person,,,,,,,,long_term,,,,,,,,,\n", "csv", "line 2: CSV: "},
		{"not utf-8", "material_types:\n  - code: A\n    name: \xd5\xc5\xc8\xfd\n", "", "line 3: is not UTF-8 text"},
		{"empty", "\n\n", "", "line 1: the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, err := Parse(strings.NewReader(tc.data), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].String(), tc.want) {
				t.Errorf("errors %q, want one starting %q", errs, tc.want)
			}
		})
	}
}

func TestCatalogParseDefaults(t *testing.T) {
	yamlText := "material_types:\n  - {code: A, name: 甲, holder_kind: person, validity: long_term}\n" +
		"service_items:\n  - code: S1\n    name: 事项\n    department_code: D1\n    materials:\n      - type_code: A\n"
	csvText := CSVHeader + "\ntype,A,甲,,person,,,,,,,,long_term,,,,,,,,,\nitem_material,,,,,,,,,,,,,,,,S1,事项,D1,A,,\n"
	var got []Catalog
	for _, s := range []string{yamlText, csvText} {
		c, errs, err := Parse(strings.NewReader(s), "")
		if err != nil || len(errs) != 0 {
			t.Fatalf("err %v, errs %v", err, errs)
		}
		got = append(got, c)
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("formats disagree on defaults:\nyaml %+v\n csv %+v", got[0], got[1])
	}
	ty, m := got[0].Types[0], got[0].Items[0].Materials[0]
	if !ty.Shareable || ty.OriginalRequired || ty.Colour != "any" || ty.Sensitivity != "normal" || len(ty.Formats) != 4 || !m.Required || m.ReuseAccepted {
		t.Errorf("defaults: type %+v, material %+v", ty, m)
	}
}

func TestCatalogParseUnknownFormat(t *testing.T) {
	if _, _, err := Parse(strings.NewReader("material_types: []"), "xml"); err == nil {
		t.Error("format xml accepted")
	}
}

func TestCatalogLineErrorString(t *testing.T) {
	if s := (LineError{12, "min_dpi", "must be positive"}).String(); s != "line 12: min_dpi: must be positive" {
		t.Errorf("String() = %q", s)
	}
}
