package vault

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// fuzzMeta is the "metadata" part of POST /api/v1/materials as the API decodes it (the
// API's materialMeta): a conversion to MaterialInfo compiles only while the fields agree.
type fuzzMeta struct {
	HolderKind       HolderKind `json:"holder_kind"`
	HolderNumber     string     `json:"holder_number"`
	TypeCode         string     `json:"type_code"`
	Title            string     `json:"title"`
	Source           string     `json:"source"`
	IssuingAuthority string     `json:"issuing_authority"`
	IssuedOn         string     `json:"issued_on"`
	ValidUntil       string     `json:"valid_until"`
	LongTerm         bool       `json:"long_term"`
	OriginalVerified bool       `json:"original_verified"`
	Supersedes       *uuid.UUID `json:"supersedes"`
	Holder           *Holder    `json:"-"`
}

// FuzzMaterialMetadata decodes any metadata part as the materials endpoint does and checks
// it. Nothing panics; a refusal names only fields of the metadata and never echoes the
// holder number; accepted metadata yields a holder that opens to its normalized number
// and is masked, and dates that are what was sent, in order, and not in the future.
func FuzzMaterialMetadata(f *testing.F) {
	for _, s := range []string{
		`{"holder_kind":"id_card","holder_number":"11010519491231002X","type_code":"ID-CARD","title":"居民身份证","source":"scan","original_verified":true}`,
		`{"holder_kind":"credit_code","holder_number":"91350100M000100Y43","type_code":"BUSINESS-LICENCE","title":"营业执照","source":"e-licence","issuing_authority":"天河区市场监督管理局","issued_on":"2020-02-29","long_term":true}`,
		`{"holder_kind":"passport","holder_number":"e12345678","type_code":"PASSPORT","title":" 护照 ","source":"upload","issued_on":"2024-01-01","valid_until":"2034-01-01","supersedes":"0194d3c0-4b8e-7a3e-9b1f-2f6c2c1d9e01"}`,
		`{"holder_kind":"other","holder_number":"Case-1","type_code":"X","title":"t","source":"scan","issued_on":"2030-01-01","valid_until":"2020-01-01"}`,
		`{"holder_kind":"id_card","holder_number":"110105194912310021","type_code":"-x","title":"","source":"fax","issued_on":"2024-13-01"}`,
		`{"holder_kind":"id_card","holder_number":"1101051949123100２X","title":"\u0000","unknown":1}`,
		`{"holder_number":12345678901234567}`,
		`{"title":"a"}{"title":"b"}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	keys, err := ParseHolderKeys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	known := map[string]bool{"holder_number": true, "type_code": true, "title": true, "source": true,
		"issuing_authority": true, "issued_on": true, "valid_until": true}
	f.Fuzz(func(t *testing.T, part []byte) {
		var meta fuzzMeta
		dec := json.NewDecoder(io.LimitReader(bytes.NewReader(part), 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&meta); err != nil {
			return
		}
		info := MaterialInfo(meta)
		v, bad := info.check(keys, now)
		if bad != nil {
			if len(bad.Fields) == 0 {
				t.Fatalf("check(%s) refused with no field named", part)
			}
			for field, reason := range bad.Fields {
				if !known[field] || reason == "" {
					t.Fatalf("check(%s): field %q, reason %q", part, field, reason)
				}
				if echoes(reason, info.HolderNumber) {
					t.Fatalf("check(%s): reason %q echoes the holder number", part, reason)
				}
			}
			return
		}
		n, err := NormalizeHolder(info.HolderKind, info.HolderNumber)
		if err != nil {
			t.Fatalf("check(%s) accepted a holder number NormalizeHolder refuses: %v", part, err)
		}
		if v.holder.Kind != info.HolderKind || v.holder.Masked != MaskHolder(info.HolderKind, n) || v.holder.Lookup != keys.Lookup(info.HolderKind, n) {
			t.Fatalf("check(%s): holder %+v is not the normalized number's", part, v.holder)
		}
		if opened, err := keys.Open(v.holder.Kind, v.holder.Lookup, v.holder.Sealed); err != nil || opened != n {
			t.Fatalf("check(%s): the sealed holder opens to %q, %v, want %q", part, opened, err, n)
		}
		if info.HolderKind != HolderOther && v.holder.Masked == n {
			t.Fatalf("check(%s): the holder is shown unmasked", part)
		}
		if title := strings.TrimSpace(info.Title); title == "" || utf8.RuneCountInString(title) > 200 {
			t.Fatalf("check(%s) accepted the title %q", part, info.Title)
		}
		for sent, d := range map[string]*Date{info.IssuedOn: v.issuedOn, info.ValidUntil: v.validUntil} {
			if (sent == "") != (d == nil) {
				t.Fatalf("check(%s): date %q read as %v", part, sent, d)
			}
			if d == nil {
				continue
			}
			if b, _ := d.MarshalText(); string(b) != sent {
				t.Fatalf("check(%s): date %q is stored as %s", part, sent, b)
			}
		}
		if v.issuedOn != nil && (v.issuedOn.After(now) || v.validUntil != nil && v.validUntil.Before(v.issuedOn.Time)) {
			t.Fatalf("check(%s): issued %v, valid until %v accepted on %v", part, v.issuedOn, v.validUntil, now)
		}
		if info.LongTerm && v.validUntil != nil {
			t.Fatalf("check(%s): long-term with an end date accepted", part)
		}
	})
}

// echoes reports whether reason holds four consecutive digits of number.
func echoes(reason, number string) bool {
	var digits []rune
	for _, r := range foldHolder(number) {
		if isDigit(r) {
			digits = append(digits, r)
			if len(digits) >= 4 && strings.Contains(reason, string(digits[len(digits)-4:])) {
				return true
			}
			continue
		}
		digits = digits[:0]
	}
	return false
}
