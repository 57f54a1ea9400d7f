package audit_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"sealvault/audit"
)

// TestEvents: each filter selects exactly the matching events, newest first.
func TestEvents(t *testing.T) {
	tr := newTrail(t, nil)
	ctx := t.Context()
	// Ten events, appended in order of their request ids; event i is at trailEpoch + i
	// minutes, except event 7, which happened earlier than all but the first two (it was
	// recorded late).
	const n = 10
	at := func(i int) time.Time {
		if i == 7 {
			return trailEpoch.Add(90 * time.Second)
		}
		return trailEpoch.Add(time.Duration(i) * time.Minute)
	}
	for i := range n {
		e := trailEvent(i)
		e.Time = at(i)
		if err := audit.Append(ctx, tr.pool, e); err != nil {
			t.Fatal(err)
		}
	}
	tr.integrate(t, n)
	// Two more stay unsequenced: the query shows them too, without a seq.
	for i := n; i < n+2; i++ {
		if err := audit.Append(ctx, tr.pool, trailEvent(i)); err != nil {
			t.Fatal(err)
		}
	}

	type ev struct {
		RequestID string `json:"request_id"`
	}
	ids := func(f audit.Filter) ([]string, []int64) {
		t.Helper()
		recs, err := tr.log.Events(ctx, f)
		if err != nil {
			t.Fatalf("Events(%+v): %v", f, err)
		}
		var out []string
		var appendIDs []int64
		for _, r := range recs {
			var e ev
			if err := json.Unmarshal(r.Event, &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e.RequestID)
			appendIDs = append(appendIDs, r.ID)
		}
		return out, appendIDs
	}
	req := func(is ...int) []string {
		out := make([]string, len(is))
		for k, i := range is {
			out[k] = fmt.Sprintf("req-%d", i)
		}
		return out
	}
	shanghai := time.FixedZone("CST", 8*3600)

	all, allIDs := ids(audit.Filter{})
	if want := req(11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0); !equalStrings(all, want) {
		t.Fatalf("all events: %q, want %q", all, want)
	}
	cases := []struct {
		name string
		f    audit.Filter
		want []string
	}{
		{"action", audit.Filter{Action: "material.download"}, req(10, 7, 4, 1)},
		{"action, unknown", audit.Filter{Action: "seal.revoke"}, nil},
		{"actor", audit.Filter{Actor: "user-2"}, req(11, 8, 5, 2)},
		{"department", audit.Filter{Department: "dept-1"}, req(11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)},
		{"seal", audit.Filter{Seal: "seal-1"}, req(9, 5, 1)},
		{"case", audit.Filter{Case: "case-4"}, req(4)},
		{"seal and action", audit.Filter{Seal: "seal-1", Action: "material.download"}, req(1)},
		{"seal and actor", audit.Filter{Seal: "seal-0", Actor: "user-2"}, req(8)},
		{"from, inclusive", audit.Filter{From: at(8)}, req(11, 10, 9, 8)},
		{"to, exclusive", audit.Filter{To: at(2)}, req(7, 1, 0)},
		{"from and to", audit.Filter{From: at(3), To: at(6)}, req(5, 4, 3)},
		{"from in another zone", audit.Filter{From: at(8).In(shanghai)}, req(11, 10, 9, 8)},
		{"time range and action", audit.Filter{From: at(1), To: at(9), Action: "material.download"}, req(7, 4, 1)},
		{"limit", audit.Filter{Limit: 3}, req(11, 10, 9)},
		{"before", audit.Filter{Before: allIDs[4], Limit: 3}, req(6, 5, 4)},
		{"before and actor", audit.Filter{Before: allIDs[4], Actor: "user-1"}, req(4, 1)},
		{"before the first", audit.Filter{Before: allIDs[len(allIDs)-1]}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := ids(c.f)
			if !equalStrings(got, c.want) {
				t.Errorf("Events(%+v) = %q, want %q", c.f, got, c.want)
			}
		})
	}

	// Paging with the cursor visits every event once, newest first.
	var paged []string
	var before int64
	for {
		page, pageIDs := ids(audit.Filter{Before: before, Limit: 5})
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		before = pageIDs[len(pageIDs)-1]
	}
	if !equalStrings(paged, all) {
		t.Errorf("paging gave %q, want %q", paged, all)
	}

	// Records carry their sequence number once integrated, and their exact bytes.
	recs, err := tr.log.Events(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var e ev
		if err := json.Unmarshal(r.Event, &e); err != nil {
			t.Fatal(err)
		}
		var i int
		if _, err := fmt.Sscanf(e.RequestID, "req-%d", &i); err != nil {
			t.Fatalf("request id %q: %v", e.RequestID, err)
		}
		switch {
		case i < n && (r.Seq == nil || *r.Seq != int64(i)):
			t.Errorf("%s: seq %v, want %d", e.RequestID, r.Seq, i)
		case i >= n && r.Seq != nil:
			t.Errorf("%s: seq %d before it was integrated", e.RequestID, *r.Seq)
		}
		want := trailEvent(i)
		if i < n {
			want.Time = at(i)
		}
		if b, _ := audit.Canonical(want); string(b) != string(r.Event) {
			t.Errorf("%s: record %s, want %s", e.RequestID, r.Event, b)
		}
	}
}
