package reuse

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"sealvault/internal/identity"
)

// TestCheckReasons: each condition of a rule, when unmet, gives its own reason, in the order
// people expect to hear them; a candidate meeting every condition passes.
func TestCheckReasons(t *testing.T) {
	city, district, dept, other, otherCenter := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	tr := tree{
		city:        {id: city, kind: identity.KindCenter, level: "city", name: "市中心"},
		district:    {id: district, parent: city, kind: identity.KindCenter, level: "district", name: "区中心"},
		dept:        {id: dept, parent: district, kind: identity.KindDepartment, level: "district", name: "区局"},
		other:       {id: other, parent: district, kind: identity.KindDepartment, level: "district", name: "区另一局"},
		otherCenter: {id: otherCenter, kind: identity.KindCenter, level: "district", name: "邻区中心"},
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, cst)
	months := 3
	days := 90
	cert := MaterialType{Code: "NO-CRIMINAL-RECORD", Validity: ValidFixedPeriod, ValidityMonths: &months, Shareable: true}
	card := MaterialType{Code: "ID-CARD", Validity: ValidUntilExpiry, Shareable: true}
	c := Case{DepartmentID: dept}
	consented := Case{DepartmentID: dept, ConsentAt: &now}
	issued := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	old := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	future := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	past := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	good := candidate{dept: other, capturedAt: now.AddDate(0, 0, -10), issuedOn: &issued, validUntil: &future, originalVerified: true}
	tests := []struct {
		name string
		c    Case
		mt   MaterialType
		r    Rule
		cd   candidate
		want string
	}{
		{"passes", c, card, Rule{Scope: ScopeCenter, WithinValidity: true}, good, ""},
		{"department scope", c, card, Rule{Scope: ScopeDepartment}, good, "outside sharing scope (department, captured by 区另一局)"},
		{"other center", c, card, Rule{Scope: ScopeCenter}, candidate{dept: otherCenter, capturedAt: now}, "outside sharing scope"},
		{"same level across centers", c, card, Rule{Scope: ScopeLevel}, candidate{dept: otherCenter, capturedAt: now}, ""},
		{"level differs", c, card, Rule{Scope: ScopeLevel}, candidate{dept: city, capturedAt: now}, "outside sharing scope"},
		{"cross level", c, card, Rule{Scope: ScopeCrossLevel}, candidate{dept: city, capturedAt: now}, ""},
		{"not shareable", c, MaterialType{Validity: ValidLongTerm}, Rule{Scope: ScopeCrossLevel}, good, "not shareable"},
		{"expired by its date", c, card, Rule{Scope: ScopeCenter, WithinValidity: true}, candidate{dept: other, capturedAt: now, validUntil: &past}, "expired on 2026-11-01"},
		{"expired by its period", c, cert, Rule{Scope: ScopeCenter, WithinValidity: true}, candidate{dept: other, capturedAt: now, issuedOn: &old}, "expired on 2026-08-31"},
		{"validity not required", c, cert, Rule{Scope: ScopeCenter}, candidate{dept: other, capturedAt: now, issuedOn: &old}, ""},
		{"too old", c, card, Rule{Scope: ScopeCenter, MaxAgeDays: &days}, candidate{dept: other, capturedAt: now.AddDate(0, 0, -100)}, "older than 90 days"},
		{"not original-verified", c, card, Rule{Scope: ScopeCenter, OriginalRequired: true}, candidate{dept: other, capturedAt: now}, "not original-verified"},
		{"type requires the original", c, MaterialType{Validity: ValidLongTerm, Shareable: true, OriginalRequired: true}, Rule{Scope: ScopeCenter}, candidate{dept: other, capturedAt: now}, "not original-verified"},
		{"consent missing", c, card, Rule{Scope: ScopeCenter, ConsentRequired: true}, good, "consent not recorded"},
		{"consent recorded", consented, card, Rule{Scope: ScopeCenter, ConsentRequired: true}, good, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			en, zh := check(tr, tc.c, tc.mt, tc.r, tc.cd, now)
			if tc.want == "" && en != "" || tc.want != "" && !strings.Contains(en, tc.want) {
				t.Errorf("reason %q, want %q", en, tc.want)
			}
			if (en == "") != (zh == "") {
				t.Errorf("English %q but Chinese %q", en, zh)
			}
		})
	}
}
