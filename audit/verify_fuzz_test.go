package audit_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"sealvault/audit"
)

// FuzzParseExportLine: any line, even one a DBA wrote, is parsed or refused without a
// panic, and an entry it yields writes back to a line that parses to the same entry, so
// the offline verifier reads what the export wrote.
func FuzzParseExportLine(f *testing.F) {
	for _, line := range fuzzExport(f, 3) {
		f.Add(line)
	}
	leaf := base64.StdEncoding.EncodeToString(make([]byte, 32))
	f.Add([]byte(`{"seq":-1,"leaf":"` + leaf + `","event":{}}` + "\r\n"))
	f.Add([]byte(`{"seq":+07,"leaf":"` + leaf + `","event":{"a":"}"}}`))
	f.Add([]byte(`{"seq":9223372036854775807,"leaf":"` + leaf + `","event":{`))
	f.Add([]byte(`{"seq":2,"leaf":"AAAAAAAAAAAA`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := audit.ParseExportLine(line)
		if err != nil {
			return
		}
		if len(e.Body) == 0 || e.Body[0] != '{' || e.Body[len(e.Body)-1] != '}' {
			t.Fatalf("ParseExportLine(%q): event %q is not braced", line, e.Body)
		}
		var buf bytes.Buffer
		if err := audit.WriteExportLine(&buf, e.Seq, e.Leaf, e.Body); err != nil {
			t.Fatal(err)
		}
		again, err := audit.ParseExportLine(buf.Bytes())
		if err != nil {
			t.Fatalf("ParseExportLine(%q) = %+v, but its written form %q does not parse: %v", line, e, buf.Bytes(), err)
		}
		if again.Seq != e.Seq || again.Leaf != e.Leaf || !bytes.Equal(again.Body, e.Body) {
			t.Fatalf("ParseExportLine(%q) = %+v, written and parsed again %+v", line, e, again)
		}
	})
}

// fuzzEvents is how many events the fuzzed export's signed checkpoint covers.
const fuzzEvents = 4

// FuzzVerifyExport runs the offline verifier on any export against a checkpoint signed over
// fuzzEvents real events. It never panics, and it never reports an export as sound unless
// the events the checkpoint covers are there, in order, byte for byte: whatever was
// changed in the covered range is found.
func FuzzVerifyExport(f *testing.F) {
	lines := fuzzExport(f, fuzzEvents)
	var bodies [][]byte
	for _, l := range lines {
		e, err := audit.ParseExportLine(l)
		if err != nil {
			f.Fatal(err)
		}
		bodies = append(bodies, e.Body)
	}
	signer, verifier := fuzzNoteKey(f)
	tree := &memTree{}
	for i, b := range bodies {
		hs, err := tlog.StoredHashes(int64(i), b, tree)
		if err != nil {
			f.Fatal(err)
		}
		tree.hashes = append(tree.hashes, hs...)
	}
	root, err := tlog.TreeHash(fuzzEvents, tree)
	if err != nil {
		f.Fatal(err)
	}
	cp, err := note.Sign(&note.Note{Text: fmt.Sprintf("sealvault-test\n%d\n%s\n", fuzzEvents, base64.StdEncoding.EncodeToString(root[:]))}, signer)
	if err != nil {
		f.Fatal(err)
	}
	whole := bytes.Join(lines, nil)
	if r, err := audit.VerifyExport(bytes.NewReader(whole), [][]byte{cp}, verifier, nil); err != nil || !r.OK() {
		f.Fatalf("the untouched export does not verify: %+v, %v", r, err)
	}
	f.Add(whole)
	f.Add(bytes.Join(lines[:3], nil))
	f.Add(bytes.Join([][]byte{lines[0], lines[2], lines[1], lines[3]}, nil))
	f.Add(bytes.Replace(whole, []byte(`"n":2`), []byte(`"n":3`), 1))
	f.Add(append(bytes.Clone(whole), lines[3]...))
	f.Add(bytes.ReplaceAll(whole, []byte("\n"), []byte("\r\n")))
	f.Fuzz(func(t *testing.T, export []byte) {
		r, err := audit.VerifyExport(bytes.NewReader(export), [][]byte{cp}, verifier, nil)
		if err != nil || !r.OK() {
			return
		}
		var got []audit.Entry
		for l := range bytes.Lines(export) {
			e, err := audit.ParseExportLine(l)
			if err != nil {
				t.Fatalf("VerifyExport accepted an export with the line %q, which does not parse: %v", l, err)
			}
			got = append(got, e)
		}
		if len(got) < fuzzEvents {
			t.Fatalf("VerifyExport reports %d events sound against a checkpoint of %d: %q", len(got), fuzzEvents, export)
		}
		for i, e := range got[:fuzzEvents] {
			if e.Seq != int64(i) || !bytes.Equal(e.Body, bodies[i]) {
				t.Fatalf("VerifyExport reports sound an export whose line %d is seq %d %q, not seq %d %q", i+1, e.Seq, e.Body, i, bodies[i])
			}
		}
	})
}

// fuzzExport returns the export lines of the first n generated events.
func fuzzExport(tb testing.TB, n int) [][]byte {
	var lines [][]byte
	for i := range n {
		b, err := audit.Canonical(trailEvent(i))
		if err != nil {
			tb.Fatal(err)
		}
		var buf bytes.Buffer
		if err := audit.WriteExportLine(&buf, int64(i), tlog.RecordHash(b), b); err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, buf.Bytes())
	}
	return lines
}

// fuzzNoteKey returns a fixed checkpoint signing key, derived from a constant.
func fuzzNoteKey(tb testing.TB) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), "sealvault-test")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, v
}
