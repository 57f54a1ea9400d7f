package benchtable

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
# bench: ./seal/pades/ ^Benchmark(Sign|Floor)$
BenchmarkSign/scan-1p/c=1-2     300   500000 ns/op   2000 ops/s   0.50 p50-ms   1.1 p99-ms
BenchmarkSign/scan-1p/c=1-2     300   500000 ns/op   2000 ops/s   0.70 p50-ms   1.1 p99-ms
BenchmarkSign/scan-1p/c=1-2     300   500000 ns/op   2000 ops/s   0.52 p50-ms   1.1 p99-ms
BenchmarkFloor/scan-1p/c=1-2    300   400000 ns/op   2500 ops/s   0.40 p50-ms   0.5 p99-ms
BenchmarkSign/scan-20p/c=1-2    300  4000000 ns/op    250 ops/s   4.00 p50-ms   9.0 p99-ms
BenchmarkFloor/scan-20p/c=1-2   300  3000000 ns/op    333 ops/s   3.00 p50-ms   4.0 p99-ms
BenchmarkSign/text-1p/c=1-2     300   100000 ns/op  10000 ops/s   0.10 p50-ms   0.2 p99-ms
PASS
# bench: ./seal/pades/ ^Benchmark(SignBT|Floor)$
BenchmarkFloor/text-1p/c=1-2    300    50000 ns/op  20000 ops/s   0.05 p50-ms   0.1 p99-ms
BenchmarkCustodySign/ecdsa-p256/software-2          2000    31000 ns/op
BenchmarkCustodySign/ecdsa-p256/pkcs11-softhsm2-2   2000    62000 ns/op
# bench: ./api/ ^BenchmarkSealApplyHTTP$
BenchmarkSealApplyHTTP/ecdsa/c=8-2   1000   4700000 ns/op   212.2 applies/s   30.1 p50-ms   64.8 p99-ms   18.06 sql/op
# bench: ./vault/ ^Benchmark(IngestScans|IngestFloor)$
BenchmarkIngestScans/fs/pages=2/c=1-2   100  66751009 ns/op
BenchmarkIngestFloor/fs/pages=2/c=1-2   100  46602402 ns/op
`

func find(rows []Row, title, key string) (Row, bool) {
	for _, r := range rows {
		if strings.HasPrefix(r.Title, title) && r.Key == key {
			return r, true
		}
	}
	return Row{}, false
}

func TestTable(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 13 {
		t.Fatalf("%d results, want 13", len(res))
	}
	if res[0].Name != "BenchmarkSign/scan-1p/c=1" || res[0].Section != "./seal/pades/ ^Benchmark(Sign|Floor)$" {
		t.Fatalf("first result %+v", res[0])
	}
	rows := Table(res, Rules)

	// The median of three (0.50, 0.52, 0.70) over the floor: 1.3, which meets ≤ 1.3.
	r, ok := find(rows, "Sign vs its floor", "scan-1p/c=1")
	if !ok || r.Ours != 0.52 || r.Peer != 0.40 || r.N != 1 || r.Met == nil || !*r.Met || r.Target != "≤ 1.30×" {
		t.Errorf("scan-1p row %+v (met %v)", r, r.Met)
	}
	// 4.0 / 3.0 misses ≤ 1.1.
	if r, ok := find(rows, "Sign vs its floor", "scan-20p/c=1"); !ok || r.Met == nil || *r.Met {
		t.Errorf("scan-20p row %+v", r)
	}
	// The text page's floor ran in another section: no row pairs them.
	if r, ok := find(rows, "Sign vs its floor", "text-1p/c=1"); ok {
		t.Errorf("paired across sections: %+v", r)
	}
	// A "*" in the middle of the name.
	if r, ok := find(rows, "PKCS#11", "ecdsa-p256"); !ok || r.Ratio != 2 {
		t.Errorf("custody row %+v", r)
	}
	// A value held against its target, and the percentage of the floor.
	if r, ok := find(rows, "seal applications over HTTP, rate", "ecdsa/c=8"); !ok || r.Met == nil || !*r.Met {
		t.Errorf("rate row %+v", r)
	}
	if r, ok := find(rows, "seal applications over HTTP, p99", "ecdsa/c=8"); !ok || r.Met == nil || *r.Met {
		t.Errorf("p99 row %+v", r)
	}
	r, ok = find(rows, "ingest vs its floor", "fs/pages=2/c=1")
	if !ok || r.Met == nil || *r.Met {
		t.Errorf("ingest row %+v", r)
	}

	var buf bytes.Buffer
	missed, err := Write(&buf, rows, Rules)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if missed != 3 {
		t.Errorf("%d rows missed their target, want 3 (20-page sign, HTTP p99, fs ingest):\n%s", missed, out)
	}
	for _, want := range []string{
		"### ./api/ ^BenchmarkSealApplyHTTP$",
		"69.8 %", // 46.60 / 66.75 ms, not rounded up to the 70 % it misses
		"66.75 ms",
		"212/s",
		"| 2.00×",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

func TestParseRefusesABrokenLine(t *testing.T) {
	for _, in := range []string{
		"BenchmarkSign/x-2  300  12x ns/op\n",
		"BenchmarkSign/x-2  300  12 ns/op  7\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err %v, want one naming line 1", in, err)
		}
	}
	// Lines that are not results are skipped, a failed benchmark's line among them.
	res, err := Parse(strings.NewReader("--- FAIL: BenchmarkX\nBenchmarkX-2 --- FAIL\nok  \tsealvault/seal\t1.2s\n"))
	if err != nil || len(res) != 0 {
		t.Errorf("got %v, %v", res, err)
	}
}
