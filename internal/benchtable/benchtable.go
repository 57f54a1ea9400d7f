// Package benchtable reads the output of `make bench` and prints the table of ratios that
// docs/BENCHMARKS.md reports: each benchmark against its floor or peer measured in the same
// run, with the target where there is one.
//
// The input is `go test -bench` output in sections, each opened by a line
// "# bench: PKG PATTERN" (tools/bench.sh writes one before each run). A ratio is only ever
// taken between two results of the same section, because only those ran side by side; when
// a section holds several results of one benchmark (-count, or a repeated line), their
// median is used.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// A Result is one line of benchmark output.
type Result struct {
	Section string             // the "# bench:" line's text after the colon, "" before any
	Name    string             // "BenchmarkSign/scan-1p/c=1", without the -GOMAXPROCS suffix
	Metrics map[string]float64 // "ns/op", "p50-ms", "applies/s", ...
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads benchmark output. Lines other than results and section headers are skipped;
// a result line whose values do not parse is an error naming the line.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	section := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# bench:"); ok {
			section = strings.TrimSpace(rest)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // "BenchmarkX ... --- FAIL" and similar
		}
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("line %d: a value without its unit: %q", n, line)
		}
		res := Result{Section: section, Name: procSuffix.ReplaceAllString(f[0], ""), Metrics: map[string]float64{}}
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q is not a number", n, f[i])
			}
			res.Metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// How a rule turns the two values into the ratio it prints.
type How int

const (
	// OursOverPeer: "× the floor", lower is better (times, latencies).
	OursOverPeer How = iota
	// PeerOverOurs: "× faster than the peer" or "% of the floor" from times.
	PeerOverOurs
	// Value: no peer; the metric itself is printed and held against the target.
	Value
)

// A Target is a bound on the printed number for the sub-benchmarks whose key matches the
// regular expression Key from its start ("" matches all).
type Target struct {
	Key string
	Max float64 // the number must be at most Max, when Max > 0
	Min float64 // at least Min, when Min > 0
}

// A Rule pairs results. Ours and Peer are benchmark names with one "*" standing for the
// key that must be the same in both ("BenchmarkSign/*" with "BenchmarkFloor/*"). With How
// Value, Peer is empty.
type Rule struct {
	Title   string
	Ours    string
	Peer    string
	Metric  string
	How     How
	Percent bool    // print the ratio as a percentage
	Scale   float64 // a Value rule's number is the metric times Scale (0: 1)
	Unit    string
	Targets []Target
}

// A Row is one line of the table.
type Row struct {
	Section, Title, Key string
	Ours, Peer, Ratio   float64 // Peer is NaN for a Value rule; Ratio is the printed number
	N                   int     // results the medians are taken over (the fewer of the two)
	Target              string  // "≤ 1.3×", "" when none
	Met                 *bool
}

// Rules are the pairings of docs/BENCHMARKS.md, with issue #14's targets and the earlier
// issues' targets that BENCHMARKS.md still checks.
var Rules = []Rule{
	{Title: "ingest vs its floor (decode + raw Put), uploads", Ours: "BenchmarkIngestScans/*", Peer: "BenchmarkIngestFloor/*",
		Metric: "ns/op", How: PeerOverOurs, Percent: true, Targets: []Target{{Key: "fs/", Min: 70}, {Key: "s3/", Min: 60}}},
	{Title: "ingest vs raw Put of the same bytes", Ours: "BenchmarkIngest/*", Peer: "BenchmarkRawPut/*",
		Metric: "ns/op", How: PeerOverOurs, Percent: true},
	{Title: "server memory above idle, one large upload", Ours: "BenchmarkIngestMemory/*", Metric: "rss-growth-B", How: Value,
		Scale: 1.0 / (1 << 20), Unit: " MB"},
	{Title: "sealvault ingest of generated pages vs its floor", Ours: "BenchmarkBulkIngest", Metric: "ingest/floor", How: Value, Percent: true},
	{Title: "bulk ingest rate", Ours: "BenchmarkBulkIngest", Metric: "ingest-pages/s", How: Value, Unit: " pages/s"},
	{Title: "page worker's job for one scan vs a full decode of it", Ours: "BenchmarkPageJob/*/work", Peer: "BenchmarkPageJob/*/decode",
		Metric: "ns/op", How: OursOverPeer, Unit: "×"},
	{Title: "PDF of JPEG pages: the page writer vs pdfcpu", Ours: "BenchmarkAssemble/*/direct", Peer: "BenchmarkAssemble/*/pdfcpu",
		Metric: "ns/op", How: OursOverPeer, Unit: "×"},
	{Title: "Sign vs its floor (SHA-256 + one signature), p50", Ours: "BenchmarkSign/*", Peer: "BenchmarkFloor/*",
		Metric: "p50-ms", How: OursOverPeer, Unit: "×", Targets: []Target{{Key: "scan-1p/", Max: 1.3}, {Key: "scan-20p/", Max: 1.1}}},
	{Title: "SignTo (streaming) vs its floor, p50", Ours: "BenchmarkSignTo/*", Peer: "BenchmarkFloor/*",
		Metric: "p50-ms", How: OursOverPeer, Unit: "×", Targets: []Target{{Key: "scan-1p/", Max: 1.3}, {Key: "scan-20p/", Max: 1.1}}},
	{Title: "pdfsign vs Sign, p50 (× faster)", Ours: "BenchmarkSign/*", Peer: "BenchmarkPdfsign/*",
		Metric: "p50-ms", How: PeerOverOurs, Unit: "×", Targets: []Target{{Key: "scan-1p/", Min: 5}}},
	{Title: "PDFBox, JIT warm, vs Sign, p50 (× faster)", Ours: "BenchmarkSign/*", Peer: "BenchmarkPdfbox/*",
		Metric: "p50-ms", How: PeerOverOurs, Unit: "×", Targets: []Target{{Min: 6}}},
	{Title: "B-T vs B-B, p50", Ours: "BenchmarkSignBT/*", Peer: "BenchmarkSign/*", Metric: "p50-ms", How: OursOverPeer, Unit: "×"},
	{Title: "B-LT vs B-B, p50", Ours: "BenchmarkSignLT/*", Peer: "BenchmarkSign/*", Metric: "p50-ms", How: OursOverPeer, Unit: "×",
		Targets: []Target{{Key: "scan-", Max: 1.5}}},
	{Title: "B-LTA vs B-B, p50", Ours: "BenchmarkSignLTA/*", Peer: "BenchmarkSign/*", Metric: "p50-ms", How: OursOverPeer, Unit: "×"},
	{Title: "SM2 seal vs its SM2 floor, p50", Ours: "BenchmarkSignSM2/*", Peer: "BenchmarkFloorSM2/*", Metric: "p50-ms", How: OursOverPeer, Unit: "×"},
	{Title: "SM2 seal vs ECDSA seal, p50", Ours: "BenchmarkSignSM2/*", Peer: "BenchmarkSign/*", Metric: "p50-ms", How: OursOverPeer, Unit: "×"},
	{Title: "TSA token vs one bare signature", Ours: "BenchmarkToken/*", Peer: "BenchmarkTokenFloor/*", Metric: "ns/op", How: OursOverPeer, Unit: "×"},
	{Title: "PKCS#11 (SoftHSM2) vs software custody", Ours: "BenchmarkCustodySign/*/pkcs11-softhsm2", Peer: "BenchmarkCustodySign/*/software",
		Metric: "ns/op", How: OursOverPeer, Unit: "×"},
	{Title: "SM2/SM3 vs ECDSA P-256/SHA-256", Ours: "BenchmarkAlgorithms/*/sm2-sm3", Peer: "BenchmarkAlgorithms/*/ecdsa-p256-sha256",
		Metric: "ns/op", How: OursOverPeer, Unit: "×"},
	{Title: "SM3 vs SHA-256", Ours: "BenchmarkAlgorithms/digest/sm3", Peer: "BenchmarkAlgorithms/digest/sha256",
		Metric: "ns/op", How: OursOverPeer, Unit: "×"},
	{Title: "seal applications over HTTP, rate", Ours: "BenchmarkSealApplyHTTP/*", Metric: "applies/s", How: Value, Unit: "/s",
		Targets: []Target{{Key: "ecdsa/c=8$", Min: 200}}},
	{Title: "seal applications over HTTP, p99", Ours: "BenchmarkSealApplyHTTP/*", Metric: "p99-ms", How: Value, Unit: " ms",
		Targets: []Target{{Key: "ecdsa/c=8$", Max: 25}}},
	{Title: "seal applications over HTTP, SQL round trips", Ours: "BenchmarkSealApplyHTTP/*", Metric: "sql/op", How: Value},
	{Title: "sealing a 200 MB document, resident memory above idle", Ours: "BenchmarkSealApplyMemory", Metric: "peak-rss-MB", How: Value, Unit: " MB",
		Targets: []Target{{Max: 40}}},
	{Title: "request, approval and application over HTTP, rate", Ours: "BenchmarkSealRequestApproveApplyHTTP/*", Metric: "ops/s", How: Value, Unit: "/s"},
	{Title: "audit Append, events a second (key: clients)", Ours: "BenchmarkAppend/c=*", Metric: "events/s", How: Value, Unit: "/s",
		Targets: []Target{{Min: 2000}}},
	{Title: "audit Append as a share of a plain INSERT's rate", Ours: "BenchmarkAppend/*", Peer: "BenchmarkPlainInsert/*", Metric: "events/s",
		How: OursOverPeer, Percent: true, Targets: []Target{{Min: 50}}},
	{Title: "audit integration of a backlog", Ours: "BenchmarkAppend/integrate-*", Metric: "events/s", How: Value, Unit: "/s"},
	{Title: "audit inclusion proof, p99", Ours: "BenchmarkInclusionProof/*", Metric: "p99-us", How: Value, Unit: " µs"},
	{Title: "audit offline verification of an export", Ours: "BenchmarkVerifyOffline/*", Metric: "events/s", How: Value, Unit: "/s",
		Targets: []Target{{Min: 200000}}},
	{Title: "reuse plan, p99", Ours: "BenchmarkPlan/*", Metric: "p99-ms", How: Value, Unit: " ms", Targets: []Target{{Key: "c=1$", Max: 5}}},
	{Title: "reuse plan, rate", Ours: "BenchmarkPlan/*", Metric: "plans/s", How: Value, Unit: "/s"},
}

// match reports whether name fits pattern, and the part "*" stood for.
func match(pattern, name string) (string, bool) {
	before, after, wild := strings.Cut(pattern, "*")
	if !wild {
		return "", name == pattern
	}
	if len(name) < len(before)+len(after) || !strings.HasPrefix(name, before) || !strings.HasSuffix(name, after) {
		return "", false
	}
	return name[len(before) : len(name)-len(after)], true
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Table applies the rules to the results, section by section, in the order the sections
// and the keys first appear.
func Table(results []Result, rules []Rule) []Row {
	var sections []string
	for _, r := range results {
		if !slices.Contains(sections, r.Section) {
			sections = append(sections, r.Section)
		}
	}
	var rows []Row
	for _, sec := range sections {
		for _, rule := range rules {
			ours, keys := collect(results, sec, rule.Ours, rule.Metric)
			var peer map[string][]float64
			if rule.How != Value {
				peer, _ = collect(results, sec, rule.Peer, rule.Metric)
			}
			for _, k := range keys {
				row := Row{Section: sec, Title: rule.Title, Key: k, Ours: median(ours[k]), Peer: math.NaN(), N: len(ours[k])}
				switch rule.How {
				case Value:
					row.Ratio = row.Ours
					if rule.Scale != 0 {
						row.Ratio *= rule.Scale
					}
				default:
					p, ok := peer[k]
					if !ok {
						continue
					}
					row.Peer, row.N = median(p), min(row.N, len(p))
					if rule.How == OursOverPeer {
						row.Ratio = row.Ours / row.Peer
					} else {
						row.Ratio = row.Peer / row.Ours
					}
				}
				if rule.Percent {
					row.Ratio *= 100
				}
				for _, t := range rule.Targets {
					if !regexp.MustCompile("^(?:" + t.Key + ")").MatchString(k) {
						continue
					}
					met := true
					if t.Max > 0 {
						row.Target, met = "≤ "+format(t.Max, rule), row.Ratio <= t.Max
					}
					if t.Min > 0 {
						row.Target, met = "≥ "+format(t.Min, rule), row.Ratio >= t.Min
					}
					row.Met = &met
					break
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}

func collect(results []Result, section, pattern, metric string) (map[string][]float64, []string) {
	vals := map[string][]float64{}
	var keys []string
	for _, r := range results {
		if r.Section != section {
			continue
		}
		k, ok := match(pattern, r.Name)
		if !ok {
			continue
		}
		v, ok := r.Metrics[metric]
		if !ok {
			continue
		}
		if _, seen := vals[k]; !seen {
			keys = append(keys, k)
		}
		vals[k] = append(vals[k], v)
	}
	return vals, keys
}

func format(v float64, r Rule) string {
	if r.Percent {
		return strconv.FormatFloat(v, 'f', 1, 64) + " %"
	}
	var s string
	switch {
	case math.Abs(v) >= 100:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return s + r.Unit
}

// number prints a measured value; times in ns/op are printed in ms.
func number(v float64, metric string) string {
	if metric == "ns/op" && !math.IsNaN(v) {
		return number(v/1e6, "") + " ms"
	}
	if strings.HasSuffix(metric, "-ms") && !math.IsNaN(v) {
		return number(v, "") + " ms"
	}
	switch {
	case math.IsNaN(v):
		return "—"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// Write prints the rows as a Markdown table, one per section, and returns how many rows
// missed their target.
func Write(w io.Writer, rows []Row, rules []Rule) (missed int, err error) {
	byTitle := map[string]Rule{}
	for _, r := range rules {
		byTitle[r.Title] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	section := "\x00"
	for _, row := range rows {
		if row.Section != section {
			if section != "\x00" {
				fmt.Fprintln(tw)
			}
			section = row.Section
			fmt.Fprintf(tw, "### %s\n\n", row.Section)
			fmt.Fprintln(tw, "| what\t| benchmark key\t| ours\t| floor or peer\t| ratio\t| target\t| met\t| n\t|")
			fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
		}
		rule := byTitle[row.Title]
		met, target := "", row.Target
		if target == "" {
			target = "—"
		}
		if row.Met != nil {
			met = "yes"
			if !*row.Met {
				met, missed = "**no**", missed+1
			}
		}
		key := row.Key
		if key == "" {
			key = "—"
		}
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %d\t|\n",
			row.Title, key, number(row.Ours, rule.Metric), number(row.Peer, rule.Metric), format(row.Ratio, rule), target, met, row.N)
	}
	if err := tw.Flush(); err != nil {
		return missed, err
	}
	return missed, nil
}
