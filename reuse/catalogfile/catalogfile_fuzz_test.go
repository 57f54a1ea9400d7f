package catalogfile_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"sealvault/reuse/catalogfile"
)

// FuzzParse reads any file as a catalog, in the format given or guessed. It never panics and
// never fails for the content of an in-memory file; every bad line it reports is a line of
// the file; and a catalog it accepts, written again as YAML and as CSV, reads back to the
// same catalog with no errors: an accepted import is exactly what the file meant.
func FuzzParse(f *testing.F) {
	demoCSV, err := os.ReadFile("testdata/demo.csv")
	if err != nil {
		f.Fatal(err)
	}
	for _, format := range []string{"", "yaml", "csv"} {
		f.Add(catalogfile.Demo, format)
		f.Add(demoCSV, format)
	}
	f.Add(append([]byte("\xEF\xBB\xBF"), bytes.ReplaceAll(demoCSV, []byte("\n"), []byte("\r\n"))...), "")
	f.Add([]byte("material_types:\n  - &t {code: A, name: a, holder_kind: person, validity: long_term}\n  - *t\nservice_items: []\n"), "yaml")
	f.Add([]byte("material_types: [{code: A, name: a, holder_kind: person, validity: long_term, formats: [pdf], min_dpi: 0x10}]\n---\n"), "")
	f.Add([]byte("# only a comment\n"), "")
	f.Add([]byte(catalogfile.CSVHeader+"\n\"type,\"A\n"), "csv")
	f.Fuzz(func(t *testing.T, data []byte, format string) {
		if format != "" && format != "yaml" && format != "csv" {
			return
		}
		c, errs, err := catalogfile.Parse(bytes.NewReader(data), format)
		if err != nil {
			t.Fatalf("Parse(%q, %q): %v, want line errors for a file's content", data, format, err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("Parse(%q, %q): %s is not a line of the file (%d lines)", data, format, e, lines)
			}
		}
		if len(errs) > 0 {
			return
		}
		asYAML, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string][]byte{"yaml": asYAML, "csv": catalogCSV(t, c)} {
			again, errs, err := catalogfile.Parse(bytes.NewReader(out), name)
			if err != nil || len(errs) > 0 {
				t.Fatalf("Parse(%q, %q) accepted %+v, but written as %s\n%s\nit has %v %v", data, format, c, name, out, err, errs)
			}
			if !reflect.DeepEqual(again, c) {
				t.Fatalf("Parse(%q, %q) = %+v, written as %s\n%s\nread back as %+v", data, format, c, name, out, again)
			}
		}
	})
}

// catalogCSV writes c in the CSV form of catalogfile.CSVHeader.
func catalogCSV(t *testing.T, c catalogfile.Catalog) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := strings.Split(catalogfile.CSVHeader, ",")
	w.Write(header)
	num := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	for _, ty := range c.Types {
		maxBytes := ""
		if ty.MaxBytes != nil {
			maxBytes = strconv.FormatInt(*ty.MaxBytes, 10)
		}
		row := []string{"type", ty.Code, ty.Name, ty.Category, ty.HolderKind, strings.Join(ty.Formats, "|"),
			num(ty.MinDPI), num(ty.MinPixels), ty.Colour, maxBytes, num(ty.MaxPages), strconv.FormatBool(ty.OriginalRequired),
			ty.Validity, num(ty.ValidityMonths), ty.Sensitivity, strconv.FormatBool(ty.Shareable)}
		w.Write(append(row, make([]string, len(header)-len(row))...))
	}
	for _, it := range c.Items {
		for i, m := range it.Materials {
			name, dept := it.Name, it.DepartmentCode
			if i > 0 {
				name, dept = "", ""
			}
			row := append(make([]string, len(header)-8), it.Code, name, dept, m.TypeCode,
				strconv.FormatBool(m.Required), strconv.FormatBool(m.ReuseAccepted), it.Kind, num(it.TimeLimitDays))
			row[0] = "item_material"
			w.Write(row)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
