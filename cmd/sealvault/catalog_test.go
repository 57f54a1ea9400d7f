package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/pflag"

	"sealvault/internal/dbtest"
	"sealvault/internal/identity"
	"sealvault/reuse/catalogfile"
)

// runCatalog runs `sealvault catalog ARGS...` against the database at dbURL and returns what
// it printed to stdout and stderr.
func runCatalog(t *testing.T, dbURL string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	if c, _, err := root.Find([]string{"catalog"}); err != nil || c == root {
		// Not registered on the root yet: give the command an app of its own, configured
		// with the defaults and the test database.
		a := &app{log: slog.New(slog.DiscardHandler)}
		a.cfg.bindFlags(pflag.NewFlagSet("catalog", pflag.ContinueOnError))
		a.cfg.DatabaseURL = dbURL
		root.AddCommand(a.catalogCmd())
	}
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(append([]string{"catalog"}, args...), "--data-dir", t.TempDir(), "--database-url", dbURL, "--log-level", "error"))
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// catalogDepartments creates a center and, under it, departments with the given codes.
func catalogDepartments(t *testing.T, dbURL string, codes ...string) {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	center, err := identity.CreateDepartment(ctx, pool, identity.NewDepartment{Code: "T-CENTER", Name: "测试政务服务中心", Kind: identity.KindCenter, Level: "district"})
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		if _, err := identity.CreateDepartment(ctx, pool, identity.NewDepartment{Code: code, Name: "部门 " + code, Kind: identity.KindDepartment, Level: "district", ParentID: &center.ID}); err != nil {
			t.Fatal(err)
		}
	}
}

// catalogRows returns the catalog tables as text, one line per row, in a fixed order.
func catalogRows(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var rows []string
	for _, q := range []string{
		`SELECT code, name, category, holder_kind, formats, min_dpi, min_pixels, colour, max_bytes, max_pages,
			original_required, validity, validity_months, sensitivity, shareable FROM material_types ORDER BY code`,
		`SELECT s.code, s.name, d.code FROM service_items s JOIN departments d ON d.id = s.department_id ORDER BY s.code`,
		`SELECT item_code, type_code, position, required, reuse_accepted FROM item_materials ORDER BY item_code, position`,
	} {
		rs, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			vals, err := rs.Values()
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, fmt.Sprintf("%v", vals))
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

func countCatalogRows(t *testing.T, dbURL string) int {
	t.Helper()
	pool, err := pgxpool.New(context.WithoutCancel(t.Context()), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	err = pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM material_types) + (SELECT count(*) FROM service_items)
		+ (SELECT count(*) FROM item_materials)`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const testCatalogYAML = `material_types:
  - code: T-ID
    name: 居民身份证
    holder_kind: person
    formats: [jpeg, pdf]
    min_dpi: 300
    colour: colour
    max_pages: 2
    original_required: true
    validity: until_expiry
  - code: T-HEALTH
    name: 健康证明
    holder_kind: person
    validity: fixed_period
    validity_months: 12
    sensitivity: sensitive
    shareable: false
service_items:
  - code: T-ITEM-1
    name: 测试事项
    department_code: T-DEPT
    materials:
      - {type_code: T-ID, reuse_accepted: true}
      - {type_code: T-HEALTH, required: false}
`

// testCatalogCSV is testCatalogYAML in CSV, as a spreadsheet saves it (BOM, CRLF).
const testCatalogCSV = "\xEF\xBB\xBF" + catalogfile.CSVHeader + "\r\n" +
	"type,T-ID,居民身份证,,person,jpeg|pdf,300,,colour,,2,true,until_expiry,,,,,,,,,\r\n" +
	"type,T-HEALTH,健康证明,,person,,,,,,,,fixed_period,12,sensitive,false,,,,,,\r\n" +
	"item_material,,,,,,,,,,,,,,,,T-ITEM-1,测试事项,T-DEPT,T-ID,,true\r\n" +
	"item_material,,,,,,,,,,,,,,,,T-ITEM-1,,,T-HEALTH,false,\r\n"

// TestCatalogImportYAMLAndCSV imports the same catalog once as YAML and once as CSV into two
// databases; both then hold the same rows.
func TestCatalogImportYAMLAndCSV(t *testing.T) {
	var got [][]string
	for _, f := range []struct{ name, content string }{{"catalog.yaml", testCatalogYAML}, {"catalog.csv", testCatalogCSV}} {
		dbURL := dbtest.URL(t)
		catalogDepartments(t, dbURL, "T-DEPT")
		out, errOut, err := runCatalog(t, dbURL, "import", writeFile(t, f.name, f.content))
		if err != nil {
			t.Fatalf("import %s: %v\n%s", f.name, err, errOut)
		}
		if !strings.Contains(out, "imported 2 material types and 1 service items") {
			t.Errorf("import %s printed %q", f.name, out)
		}
		got = append(got, catalogRows(t, dbURL))
	}
	if len(got[0]) != 5 {
		t.Fatalf("YAML import left %d rows, want 2 types + 1 item + 2 materials:\n%s", len(got[0]), strings.Join(got[0], "\n"))
	}
	if !slices.Equal(got[0], got[1]) {
		t.Errorf("YAML and CSV imports differ:\nyaml:\n%s\ncsv:\n%s", strings.Join(got[0], "\n"), strings.Join(got[1], "\n"))
	}
	want := "[T-ITEM-1 T-HEALTH 2 false false]"
	if !slices.Contains(got[0], want) {
		t.Errorf("rows lack %q:\n%s", want, strings.Join(got[0], "\n"))
	}
}

func TestCatalogImportDemo(t *testing.T) {
	dbURL := dbtest.URL(t)
	file := writeFile(t, "demo.yaml", string(catalogfile.Demo))
	if _, _, err := runCatalog(t, dbURL, "import", file); err == nil || !strings.Contains(err.Error(), "no department TH-SCJG") {
		t.Errorf("demo import without its departments: err %v, want one naming the missing department", err)
	}
	if n := countCatalogRows(t, dbURL); n != 0 {
		t.Fatalf("failed import left %d rows (its material types were not rolled back)", n)
	}
	catalogDepartments(t, dbURL, "TH-SCJG", "TH-ZJJ")
	out, errOut, err := runCatalog(t, dbURL, "import", file)
	if err != nil {
		t.Fatalf("import demo: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "imported 9 material types and 4 service items") {
		t.Errorf("import demo printed %q", out)
	}
	// Importing again replaces every entry instead of failing on existing codes.
	if _, errOut, err := runCatalog(t, dbURL, "import", file); err != nil {
		t.Fatalf("second import of demo: %v\n%s", err, errOut)
	}
	if n := countCatalogRows(t, dbURL); n != 9+4+14 {
		t.Errorf("demo import left %d rows, want 9 types + 4 items + 14 materials", n)
	}
}

// TestCatalogImportReportsEveryBadLine feeds a file with three bad lines: all three are
// printed with the file name and line, the command fails, and nothing is written.
func TestCatalogImportReportsEveryBadLine(t *testing.T) {
	dbURL := dbtest.URL(t)
	catalogDepartments(t, dbURL, "T-DEPT")
	bad := catalogfile.CSVHeader + "\n" +
		"type,T-ID,居民身份证,,person,jpeg|pdf,300,,colour,,2,true,until_expiry,,,,,,,,,\n" +
		"type,T-BAD,坏材料,,person,,zero,,,,,,until_expiry,,,,,,,,,\n" +
		"type,T-HEALTH,健康证明,,person,,,,,,,,fixed_period,,,,,,,,,\n" +
		"item_material,,,,,,,,,,,,,,,,T-ITEM-1,测试事项,T-DEPT,T-ID,,true\n" +
		"item_material,,,,,,,,,,,,,,,,T-ITEM-1,,,T-MISSING,,\n"
	file := writeFile(t, "bad.csv", bad)
	out, errOut, err := runCatalog(t, dbURL, "import", file)
	if err == nil {
		t.Fatalf("import of a bad file succeeded:\n%s", out)
	}
	for _, want := range []string{
		file + ":3: min_dpi: must be a whole number",
		file + ":4: validity_months: is required",
		file + ":6: type_code: no material type T-MISSING",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, file+":"); n != 3 {
		t.Errorf("stderr has %d problems, want 3:\n%s", n, errOut)
	}
	if n := countCatalogRows(t, dbURL); n != 0 {
		t.Errorf("a rejected file wrote %d rows", n)
	}
}

func TestCatalogImportUnknownYAMLField(t *testing.T) {
	dbURL := dbtest.URL(t)
	file := writeFile(t, "typo.yaml", strings.Replace(testCatalogYAML, "    min_dpi: 300\n", "    min_dip: 300\n", 1))
	_, errOut, err := runCatalog(t, dbURL, "import", file)
	if err == nil || !strings.Contains(errOut, file+":6: min_dip: unknown field") {
		t.Errorf("err %v, stderr %q; want the unknown field on line 6", err, errOut)
	}
	if n := countCatalogRows(t, dbURL); n != 0 {
		t.Errorf("a rejected file wrote %d rows", n)
	}
}
