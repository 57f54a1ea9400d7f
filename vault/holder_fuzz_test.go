package vault_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"sealvault/vault"
)

// holderKinds are the kinds FuzzNormalizeHolder picks from by its first argument; the
// last is unknown, which must be refused whatever the number.
var holderKinds = []vault.HolderKind{vault.HolderIDCard, vault.HolderCreditCode, vault.HolderPassport, vault.HolderOther, "ssn"}

// FuzzNormalizeHolder checks what the materials and case endpoints rely on for any number a
// clerk types: NormalizeHolder never panics; an accepted number is its own normal form, is
// checked by an independently computed check character (ISO 7064 weights rather than the
// standards' tables), masks to the same length without showing its middle; a refused one
// gives a *HolderError that echoes no run of digits.
func FuzzNormalizeHolder(f *testing.F) {
	f.Add(uint8(0), sampleID)
	f.Add(uint8(0), " 11010519491231002x\u3000")
	f.Add(uint8(0), fullWidth(sampleID))
	f.Add(uint8(0), "110105194912310021")
	f.Add(uint8(0), "110105491231002")
	f.Add(uint8(0), "11010520000229002X")
	f.Add(uint8(0), "11010519491231 02X")
	f.Add(uint8(1), "91350100M000100Y43")
	f.Add(uint8(1), "91110000600037341I")
	f.Add(uint8(1), "\ufeff９１３５０１００Ｍ０００１００Ｙ４３")
	f.Add(uint8(2), "E12345678")
	f.Add(uint8(2), "e1234")
	f.Add(uint8(3), "Case-2026/0001")
	f.Add(uint8(3), "\x00\xff")
	f.Add(uint8(4), sampleID)
	f.Fuzz(func(t *testing.T, k uint8, number string) {
		kind := holderKinds[int(k)%len(holderKinds)]
		n, err := vault.NormalizeHolder(kind, number)
		if err != nil {
			var he *vault.HolderError
			if !errors.As(err, &he) {
				t.Fatalf("NormalizeHolder(%s, %q): %v is not a *HolderError", kind, number, err)
			}
			if n != "" {
				t.Fatalf("NormalizeHolder(%s, %q) failed but returned %q", kind, number, n)
			}
			for _, msg := range []string{err.Error(), he.ReasonZh} {
				if runs := digitRuns(msg); len(runs) > 0 {
					t.Fatalf("NormalizeHolder(%s, %q): error %q echoes the digits %q", kind, number, msg, runs[0])
				}
			}
			return
		}
		if !utf8.ValidString(n) || n == "" {
			t.Fatalf("NormalizeHolder(%s, %q) = %q: empty or not UTF-8", kind, number, n)
		}
		again, err := vault.NormalizeHolder(kind, n)
		if err != nil || again != n {
			t.Fatalf("NormalizeHolder(%s, %q) = %q, but normalizing that again gives %q, %v", kind, number, n, again, err)
		}
		switch kind {
		case vault.HolderIDCard:
			if len(n) != 18 || idCard(t, n[:17]) != n {
				t.Fatalf("NormalizeHolder(id_card, %q) = %q: the check character is wrong", number, n)
			}
		case vault.HolderCreditCode:
			if len(n) != 18 || creditCode(t, n[:17]) != n {
				t.Fatalf("NormalizeHolder(credit_code, %q) = %q: the check character is wrong", number, n)
			}
		case vault.HolderPassport:
			if len(n) < 5 || len(n) > 20 || strings.ToUpper(n) != n {
				t.Fatalf("NormalizeHolder(passport, %q) = %q: not 5-20 capital letters and digits", number, n)
			}
		case "ssn":
			t.Fatalf("NormalizeHolder(%s, %q) accepted an unknown kind", kind, number)
		}
		masked := vault.MaskHolder(kind, n)
		rs, ms := []rune(n), []rune(masked)
		if len(ms) != len(rs) {
			t.Fatalf("MaskHolder(%s, %q) = %q: length changed", kind, n, masked)
		}
		if len(rs) >= 10 && ms[len(ms)/2] != '*' {
			t.Fatalf("MaskHolder(%s, %q) = %q shows the middle", kind, n, masked)
		}
	})
}
