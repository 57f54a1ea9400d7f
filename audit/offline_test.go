package audit_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
)

// TestExportLineRoundTrip: what WriteExportLine writes, ParseExportLine reads back byte for
// byte, whatever the event text holds.
func TestExportLineRoundTrip(t *testing.T) {
	bodies := []string{
		`{}`,
		`{"v":1}`,
		`{"v":1,"details":{"text":"quote \" brace } comma , \"leaf\":\"x\""}}`,
		`{"v":1,"details":{"text":"合同 \u003c盖章\u003e","nested":{"a":[1,{"b":"}"}]}}}`,
		`{"v":1,"details":{"seq":5,"event":{"seq":6}}}`,
	}
	for i, body := range bodies {
		seq := int64(i * 1000003)
		leaf := tlog.RecordHash([]byte(body))
		var buf bytes.Buffer
		if err := audit.WriteExportLine(&buf, seq, leaf, []byte(body)); err != nil {
			t.Fatal(err)
		}
		line := buf.Bytes()
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("export line %q is not one line", line)
		}
		for _, l := range [][]byte{line, bytes.TrimSuffix(line, []byte("\n")), append(bytes.TrimSuffix(line, []byte("\n")), "\r\n"...)} {
			e, err := audit.ParseExportLine(l)
			if err != nil {
				t.Fatalf("ParseExportLine(%q): %v", l, err)
			}
			if e.Seq != seq || e.Leaf != leaf || string(e.Body) != body {
				t.Errorf("ParseExportLine(%q) = seq %d, leaf %v, body %s; want %d, %v, %s", l, e.Seq, e.Leaf, e.Body, seq, leaf, body)
			}
		}
	}
}

// TestVerifyExportMalformed: a malformed line stops the offline verifier with an error
// naming its line number, never with a panic or a report.
func TestVerifyExportMalformed(t *testing.T) {
	var good []string
	for i := range 5 {
		body := fmt.Sprintf(`{"v":1,"n":%d}`, i)
		var buf bytes.Buffer
		if err := audit.WriteExportLine(&buf, int64(i), tlog.RecordHash([]byte(body)), []byte(body)); err != nil {
			t.Fatal(err)
		}
		good = append(good, strings.TrimSuffix(buf.String(), "\n"))
	}
	// The well-formed export verifies (there is no checkpoint to compare with).
	r, err := audit.VerifyExport(strings.NewReader(strings.Join(good, "\n")+"\n"), nil, nil, nil)
	if err != nil || !r.OK() || r.Events != 5 {
		t.Fatalf("well-formed export: %+v, %v", r, err)
	}
	leaf := base64.StdEncoding.EncodeToString(make([]byte, 32))
	bad := map[string]string{
		"empty":                 ``,
		"not JSON":              `seq 2`,
		"fields out of order":   `{"leaf":"` + leaf + `","seq":2,"event":{}}`,
		"seq not a number":      `{"seq":two,"leaf":"` + leaf + `","event":{}}`,
		"no comma":              `{"seq":2}`,
		"no leaf":               `{"seq":2,"event":{}}`,
		"short leaf":            `{"seq":2,"leaf":"AAAA","event":{}}`,
		"leaf not base64":       `{"seq":2,"leaf":"` + strings.Repeat("!", 44) + `","event":{}}`,
		"leaf without padding":  `{"seq":2,"leaf":"` + strings.Repeat("A", 44) + `","event":{}}`,
		"leaf of 31 bytes":      `{"seq":2,"leaf":"` + base64.StdEncoding.EncodeToString(make([]byte, 31)) + `AAA","event":{}}`,
		"no event":              `{"seq":2,"leaf":"` + leaf + `"}`,
		"event not an object":   `{"seq":2,"leaf":"` + leaf + `","event":[1]}`,
		"event empty":           `{"seq":2,"leaf":"` + leaf + `","event":}`,
		"unterminated":          `{"seq":2,"leaf":"` + leaf + `","event":{"v":1}`,
		"truncated in the leaf": `{"seq":2,"leaf":"AAAAAAAAAAAA`,
	}
	for name, line := range bad {
		t.Run(name, func(t *testing.T) {
			lines := append(append(append([]string{}, good[:2]...), line), good[2:]...)
			export := strings.Join(lines, "\n") + "\n"
			var r *audit.Report
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("VerifyExport panicked: %v", p)
					}
				}()
				r, err = audit.VerifyExport(strings.NewReader(export), nil, nil, nil)
			}()
			if err == nil {
				t.Fatalf("VerifyExport accepted line %q: %+v", line, r)
			}
			if !strings.Contains(err.Error(), "line 3:") {
				t.Errorf("error %q does not name line 3", err)
			}
		})
	}
}
