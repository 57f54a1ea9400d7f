package vault_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"sealvault/vault"
)

// The fixed test secret: bytes 0x00–0x3f, so the lookup key is 0x00–0x1f and the
// encryption key 0x20–0x3f.
const testHolderSecret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="

// goldenLookup is HMAC-SHA256 under the test lookup key of "id_card:11010519491231002X",
// computed with openssl. If it changes, every stored lookup hash stops matching.
const goldenLookup = "101b9c094c6dd7b9e063d97c358ac6f2a3470c963296bf691ac546ae5042835d"

// sampleID is the sample number of GB 11643-1999.
const sampleID = "11010519491231002X"

func testHolderKeys(t *testing.T) *vault.HolderKeys {
	t.Helper()
	k, err := vault.ParseHolderKeys(testHolderSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// idCard appends the check character to 17 digits. It computes ISO 7064 MOD 11-2 with the
// weights 2^(17-i) mod 11, not with GB 11643's weight table, so the two can disagree.
func idCard(t *testing.T, first17 string) string {
	t.Helper()
	if len(first17) != 17 {
		t.Fatalf("idCard(%q): want 17 digits", first17)
	}
	sum, w := 0, 1
	for i := 16; i >= 0; i-- {
		w = w * 2 % 11
		sum += int(first17[i]-'0') * w
	}
	c := (12 - sum%11) % 11
	if c == 10 {
		return first17 + "X"
	}
	return first17 + string(rune('0'+c))
}

// creditCode appends the check character to 17 characters, with the weights 3^i mod 31
// rather than GB 32100's weight table.
func creditCode(t *testing.T, first17 string) string {
	t.Helper()
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	if len(first17) != 17 {
		t.Fatalf("creditCode(%q): want 17 characters", first17)
	}
	sum, w := 0, 1
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(alphabet, first17[i])
		if v < 0 {
			t.Fatalf("creditCode(%q): %q is not in the alphabet", first17, first17[i])
		}
		sum += v * w
		w = w * 3 % 31
	}
	return first17 + string(alphabet[(31-sum%31)%31])
}

// fullWidth writes ASCII letters and digits as their full-width forms.
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if '!' <= r && r <= '~' {
			return r - '!' + '！'
		}
		return r
	}, s)
}

func TestNormalizeHolderAccepts(t *testing.T) {
	if got := idCard(t, sampleID[:17]); got != sampleID {
		t.Fatalf("the test's check character for the GB 11643 sample is %q, want %q", got, sampleID)
	}
	yesterday := time.Now().AddDate(0, 0, -1).Format("20060102")
	credit := creditCode(t, "91350100M000100Y4")
	for _, c := range []struct {
		kind     vault.HolderKind
		in, want string
	}{
		{vault.HolderIDCard, sampleID, sampleID},
		{vault.HolderIDCard, "11010519491231002x", sampleID},
		{vault.HolderIDCard, fullWidth(sampleID), sampleID},
		{vault.HolderIDCard, fullWidth("11010519491231002x"), sampleID},
		{vault.HolderIDCard, "\u3000 " + sampleID + "\t\r\n\u3000", sampleID},
		{vault.HolderIDCard, "\ufeff" + sampleID + "\u200b", sampleID},
		{vault.HolderIDCard, idCard(t, "44010619850312431"), idCard(t, "44010619850312431")},
		{vault.HolderIDCard, idCard(t, "31011520000229001"), idCard(t, "31011520000229001")}, // leap day
		{vault.HolderIDCard, idCard(t, "11010519000101001"), idCard(t, "11010519000101001")}, // earliest year
		{vault.HolderIDCard, idCard(t, "110105"+yesterday+"001"), idCard(t, "110105"+yesterday+"001")},
		{vault.HolderCreditCode, credit, credit},
		{vault.HolderCreditCode, strings.ToLower(credit), credit},
		{vault.HolderCreditCode, " " + fullWidth(strings.ToLower(credit)) + "\u3000", credit},
		{vault.HolderCreditCode, creditCode(t, "91110000600037341"), creditCode(t, "91110000600037341")},
		{vault.HolderPassport, "e12345678", "E12345678"},
		{vault.HolderPassport, fullWidth("G12345678"), "G12345678"},
		{vault.HolderPassport, "AB123", "AB123"},
		{vault.HolderPassport, strings.Repeat("K9", 10), strings.Repeat("K9", 10)},
		{vault.HolderOther, "abc-123/x", "abc-123/x"}, // case kept
		{vault.HolderOther, fullWidth("AB-12"), "AB-12"},
		{vault.HolderOther, "\u3000沪A-12345 ", "沪A-12345"},
		{vault.HolderOther, "7", "7"},
		{vault.HolderOther, strings.Repeat("a", 64), strings.Repeat("a", 64)},
	} {
		got, err := vault.NormalizeHolder(c.kind, c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeHolder(%s, %q) = %q, %v, want %q", c.kind, c.in, got, err, c.want)
		}
	}
}

type holderRejection struct {
	kind             vault.HolderKind
	in               string
	reason, reasonZh string // substrings of Reason and ReasonZh
}

func holderRejections(t *testing.T) []holderRejection {
	t.Helper()
	nextYear := time.Now().AddDate(1, 0, 0).Format("20060102")
	credit := creditCode(t, "91350100M000100Y4")
	wrongCheck := credit[:17] + "0"
	if wrongCheck == credit {
		wrongCheck = credit[:17] + "1"
	}
	rs := []holderRejection{
		{vault.HolderIDCard, "", "is empty", "号码为空"},
		{vault.HolderIDCard, " \u3000\t", "is empty", "号码为空"},
		{vault.HolderIDCard, sampleID[:16], "must be 18 characters, got 16", "应为18位，实际为16位"},
		{vault.HolderIDCard, sampleID[:17], "must be 18 characters, got 17", "实际为17位"},
		{vault.HolderIDCard, sampleID + "1", "must be 18 characters, got 19", "实际为19位"},
		{vault.HolderIDCard, strings.Repeat(sampleID, 8), "must be 18 characters, got far more", "远超"},
		{vault.HolderIDCard, "110105491231002", "old 15-digit number; use the 18-digit number", "请使用现行身份证上的18位号码"},
		{vault.HolderIDCard, fullWidth("110105491231002"), "use the 18-digit number", "18位号码"},
		{vault.HolderIDCard, "110105 19491231 002X", "character 7 is a space", "第7位是空格"},
		{vault.HolderIDCard, "110105\u300019491231002X", "character 7 is a space", "第7位是空格"},
		{vault.HolderIDCard, "1101051949123100XX", "character 17 must be a digit", "第17位应为数字"},
		{vault.HolderIDCard, "A1010519491231002X", "character 1 must be a digit", "第1位应为数字"},
		{vault.HolderIDCard, sampleID[:17] + "Y", "check character, must be a digit or X", "第18位（校验位）应为数字或X"},
		{vault.HolderIDCard, sampleID[:17] + "5", "check digit does not match (a typing error?)", "校验位不符，请核对号码"},
		{vault.HolderIDCard, idCard(t, "11010519900230001"), "the birth date part is not a real date", "出生日期部分不是有效日期"}, // 30 February
		{vault.HolderIDCard, idCard(t, "11010519901332001"), "not a real date", "不是有效日期"},
		{vault.HolderIDCard, idCard(t, "11010519900100001"), "not a real date", "不是有效日期"},
		{vault.HolderIDCard, idCard(t, "11010519000229001"), "not a real date", "不是有效日期"}, // 1900 was no leap year
		{vault.HolderIDCard, idCard(t, "11010518991231001"), "implausibly early", "过早"},
		{vault.HolderIDCard, idCard(t, "110105"+nextYear+"001"), "in the future", "晚于今天"},
		{vault.HolderIDCard, "\xff" + sampleID, "not valid UTF-8", "无效的字符编码"},

		{vault.HolderCreditCode, wrongCheck, "check character does not match (a typing error?)", "校验位不符"},
		{vault.HolderCreditCode, credit[:17], "must be 18 characters, got 17", "实际为17位"},
		{vault.HolderCreditCode, credit + "0", "got 19", "实际为19位"},
		{vault.HolderCreditCode, credit[:9] + " " + credit[9:17], "character 10 is a space", "第10位是空格"},
		{vault.HolderCreditCode, credit[:17] + "-", "character 18 is not allowed", "第18位字符不允许"},
		{vault.HolderCreditCode, "91350100甲000100Y4", "must be 18 characters, got 17", "实际为17位"},

		{vault.HolderPassport, "E123", "must be 5 to 20 letters or digits, got 4", "应为5至20位字母或数字，实际为4位"},
		{vault.HolderPassport, strings.Repeat("E1", 10) + "2", "got 21", "实际为21位"},
		{vault.HolderPassport, "E-1234567", "character 2 must be a letter or a digit", "第2位应为字母或数字"},
		{vault.HolderPassport, fullWidth("E123-456"), "character 5 must be a letter or a digit", "第5位"},
		{vault.HolderPassport, "E1234 5678", "character 6 is a space", "第6位是空格"},
		{vault.HolderPassport, "", "is empty", "号码为空"},

		{vault.HolderOther, strings.Repeat("a", 65), "must be at most 64 characters, got 65", "应为不超过64位，实际为65位"},
		{vault.HolderOther, "ab cd", "character 3 is a space", "第3位是空格"},
		{vault.HolderOther, "ab\u3000cd", "character 3 is a space", "第3位是空格"},
		{vault.HolderOther, "ab\x00cd", "character 3 is not a printable character", "第3位是不可打印的字符"},
		{vault.HolderOther, "\u3000", "is empty", "号码为空"},

		{vault.HolderKind("ssn"), "123-45-6789", "unknown kind", "未知的证件类型"},
		{vault.HolderKind("ID_CARD"), sampleID, "unknown kind", "未知的证件类型"},
	}
	// GB 32100 leaves out I, O, Z, S and V, whatever case they are typed in.
	for _, bad := range "IOZSViozsv" {
		rs = append(rs, holderRejection{vault.HolderCreditCode, credit[:8] + string(bad) + credit[9:],
			"character 9 is not allowed; credit codes use digits and capital letters except I, O, Z, S and V",
			"第9位字符不允许"})
	}
	return rs
}

func TestNormalizeHolderRejects(t *testing.T) {
	for _, c := range holderRejections(t) {
		got, err := vault.NormalizeHolder(c.kind, c.in)
		var he *vault.HolderError
		if !errors.As(err, &he) {
			t.Errorf("NormalizeHolder(%s, %.40q) = %q, %v, want a *HolderError", c.kind, c.in, got, err)
			continue
		}
		if got != "" {
			t.Errorf("NormalizeHolder(%s, %.40q) failed but returned %q", c.kind, c.in, got)
		}
		if he.Kind != c.kind || !strings.Contains(he.Reason, c.reason) || !strings.Contains(he.ReasonZh, c.reasonZh) {
			t.Errorf("NormalizeHolder(%s, %.40q) error %+v, want kind %s, reason with %q and %q",
				c.kind, c.in, *he, c.kind, c.reason, c.reasonZh)
		}
		if !strings.Contains(err.Error(), he.Reason) {
			t.Errorf("Error() %q does not give the reason %q", err, he.Reason)
		}
	}
}

func TestHolderIDCardCheckDigitCatchesTypos(t *testing.T) {
	bases := []string{sampleID, idCard(t, "44010619850312431"), idCard(t, "31011520000229001"), idCard(t, "65010219991130123")}
	for _, base := range bases {
		if _, err := vault.NormalizeHolder(vault.HolderIDCard, base); err != nil {
			t.Fatalf("base %s: %v", base, err)
		}
		// Every single wrong character: GB 11643's check character catches them all.
		for pos := 0; pos < 18; pos++ {
			for _, c := range "0123456789X" {
				if byte(c) == base[pos] {
					continue
				}
				typo := base[:pos] + string(c) + base[pos+1:]
				_, err := vault.NormalizeHolder(vault.HolderIDCard, typo)
				var he *vault.HolderError
				if !errors.As(err, &he) {
					t.Errorf("%s with character %d typed as %c is accepted: %v", base, pos+1, c, err)
					continue
				}
				born, dateErr := time.Parse("20060102", typo[6:14])
				plausible := dateErr == nil && born.Year() >= 1900 && !born.After(time.Now())
				switch {
				case c == 'X' && pos < 17:
					if !strings.Contains(he.Reason, "must be a digit") {
						t.Errorf("%s with character %d typed as X: reason %q", base, pos+1, he.Reason)
					}
				case plausible && !strings.Contains(he.Reason, "check digit does not match"):
					t.Errorf("%s with character %d typed as %c: reason %q, want the check digit", base, pos+1, c, he.Reason)
				case !plausible && !strings.Contains(he.Reason, "birth date part"):
					t.Errorf("%s with character %d typed as %c: reason %q, want the birth date", base, pos+1, c, he.Reason)
				}
			}
		}
		// Every swap of two neighbouring characters.
		for i := 0; i < 17; i++ {
			if base[i] == base[i+1] {
				continue
			}
			swapped := base[:i] + base[i+1:i+2] + base[i:i+1] + base[i+2:]
			if _, err := vault.NormalizeHolder(vault.HolderIDCard, swapped); err == nil {
				t.Errorf("%s with characters %d and %d swapped is accepted", base, i+1, i+2)
			}
		}
	}
	// A swap written out: 1949 typed as 1994 is still a real date, so only the check digit finds it.
	_, err := vault.NormalizeHolder(vault.HolderIDCard, "11010519941231002X")
	var he *vault.HolderError
	if !errors.As(err, &he) || !strings.Contains(he.Reason, "check digit does not match") {
		t.Errorf("1949 typed as 1994: %v, want a check digit error", err)
	}
}

func TestHolderCreditCodeCheckCharacterCatchesTypos(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	for _, base := range []string{creditCode(t, "91350100M000100Y4"), creditCode(t, "91110000600037341"), creditCode(t, "52440300MJL1234XW")} {
		if _, err := vault.NormalizeHolder(vault.HolderCreditCode, base); err != nil {
			t.Fatalf("base %s: %v", base, err)
		}
		for pos := 0; pos < 18; pos++ {
			for _, c := range alphabet {
				if byte(c) == base[pos] {
					continue
				}
				typo := base[:pos] + string(c) + base[pos+1:]
				_, err := vault.NormalizeHolder(vault.HolderCreditCode, typo)
				var he *vault.HolderError
				if !errors.As(err, &he) || !strings.Contains(he.Reason, "check character does not match") {
					t.Errorf("%s with character %d typed as %c: %v, want a check character error", base, pos+1, c, err)
				}
			}
		}
		for i := 0; i < 17; i++ {
			if base[i] == base[i+1] {
				continue
			}
			swapped := base[:i] + base[i+1:i+2] + base[i:i+1] + base[i+2:]
			if _, err := vault.NormalizeHolder(vault.HolderCreditCode, swapped); err == nil {
				t.Errorf("%s with characters %d and %d swapped is accepted", base, i+1, i+2)
			}
		}
	}
}

// digitRuns returns every run of 4 consecutive digits in s, full-width digits read as ASCII.
func digitRuns(s string) []string {
	var runs []string
	var run []rune
	for _, r := range s {
		if '０' <= r && r <= '９' {
			r = r - '０' + '0'
		}
		if '0' <= r && r <= '9' {
			run = append(run, r)
			if len(run) >= 4 {
				runs = append(runs, string(run[len(run)-4:]))
			}
			continue
		}
		run = run[:0]
	}
	return runs
}

func TestHolderErrorsNeverEchoTheNumber(t *testing.T) {
	type input struct {
		kind vault.HolderKind
		in   string
	}
	var inputs []input
	for _, c := range holderRejections(t) {
		inputs = append(inputs, input{c.kind, c.in})
	}
	for pos := 0; pos < 18; pos++ {
		for _, c := range "0123456789X" {
			inputs = append(inputs, input{vault.HolderIDCard, sampleID[:pos] + string(c) + sampleID[pos+1:]})
		}
	}
	for _, in := range inputs {
		_, err := vault.NormalizeHolder(in.kind, in.in)
		var he *vault.HolderError
		if !errors.As(err, &he) {
			continue // the typo loop also makes the valid number itself
		}
		whole := strings.ToUpper(strings.TrimSpace(in.in))
		for _, msg := range []string{err.Error(), he.Reason, he.ReasonZh} {
			for _, run := range digitRuns(in.in) {
				if strings.Contains(msg, run) {
					t.Errorf("the error for %s %.40q contains %q from the number: %q", in.kind, in.in, run, msg)
				}
			}
			if utf8.RuneCountInString(whole) >= 4 && strings.Contains(strings.ToUpper(msg), whole) {
				t.Errorf("the error for %s %.40q contains the number: %q", in.kind, in.in, msg)
			}
		}
	}
}

func TestHolderLookup(t *testing.T) {
	k := testHolderKeys(t)
	if got := k.Lookup(vault.HolderIDCard, sampleID); got != goldenLookup {
		t.Errorf("Lookup(id_card, %s) = %s, want %s", sampleID, got, goldenLookup)
	}
	for _, typed := range []string{"11010519491231002x", fullWidth(sampleID), fullWidth("11010519491231002x"), " " + sampleID + "\u3000"} {
		h, err := k.NewHolder(vault.HolderIDCard, typed)
		if err != nil || h.Lookup != goldenLookup {
			t.Errorf("NewHolder(id_card, %q).Lookup = %s, %v, want %s", typed, h.Lookup, err, goldenLookup)
		}
	}
	if a, b := k.Lookup(vault.HolderPassport, "E12345678"), k.Lookup(vault.HolderOther, "E12345678"); a == b {
		t.Errorf("one number as passport and as other has one lookup hash %s", a)
	}
	if a, b := k.Lookup(vault.HolderIDCard, sampleID), k.Lookup(vault.HolderIDCard, idCard(t, "44010619850312431")); a == b {
		t.Errorf("two ID card numbers have one lookup hash %s", a)
	}
	other, err := vault.ParseHolderKeys(vault.GenerateHolderKeys())
	if err != nil {
		t.Fatal(err)
	}
	if got := other.Lookup(vault.HolderIDCard, sampleID); got == goldenLookup {
		t.Errorf("other keys give the same lookup hash %s", got)
	}
}

func TestHolderSealOpen(t *testing.T) {
	k := testHolderKeys(t)
	kind, n := vault.HolderIDCard, sampleID
	lookup := k.Lookup(kind, n)
	sealed, err := k.Seal(kind, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 12+len(n)+16 {
		t.Errorf("sealed is %d bytes, want 12 (nonce) + %d + 16 (tag)", len(sealed), len(n))
	}
	if bytes.Contains(sealed, []byte(n)) || bytes.Contains(sealed, []byte(n[:8])) {
		t.Error("the sealed bytes contain the number in clear")
	}
	if got, err := k.Open(kind, lookup, sealed); err != nil || got != n {
		t.Fatalf("Open = %q, %v, want %q", got, err, n)
	}
	again, err := k.Seal(kind, n)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, sealed) || bytes.Equal(again[:12], sealed[:12]) {
		t.Error("two seals of one number are equal or share a nonce")
	}
	if got, err := k.Open(kind, lookup, again); err != nil || got != n {
		t.Errorf("Open of the second seal = %q, %v", got, err)
	}

	other, err := vault.ParseHolderKeys(vault.GenerateHolderKeys())
	if err != nil {
		t.Fatal(err)
	}
	fails := []struct {
		name   string
		keys   *vault.HolderKeys
		kind   vault.HolderKind
		lookup string
		sealed []byte
	}{
		{"other keys", other, kind, lookup, sealed},
		{"other kind", k, vault.HolderOther, lookup, sealed},
		{"other kind with its own lookup hash", k, vault.HolderOther, k.Lookup(vault.HolderOther, n), sealed},
		{"another row's lookup hash", k, kind, k.Lookup(kind, idCard(t, "44010619850312431")), sealed},
		{"truncated", k, kind, lookup, sealed[:len(sealed)-1]},
		{"nonce only", k, kind, lookup, sealed[:12]},
		{"empty", k, kind, lookup, nil},
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 1 << (i % 8)
		fails = append(fails, struct {
			name   string
			keys   *vault.HolderKeys
			kind   vault.HolderKind
			lookup string
			sealed []byte
		}{fmt.Sprintf("bit %d of byte %d flipped", i%8, i), k, kind, lookup, tampered})
	}
	for _, c := range fails {
		got, err := c.keys.Open(c.kind, c.lookup, c.sealed)
		if err == nil || got != "" {
			t.Errorf("Open with %s = %q, %v, want an error", c.name, got, err)
			continue
		}
		if strings.Contains(err.Error(), n[:6]) {
			t.Errorf("Open with %s: error %q shows the number", c.name, err)
		}
	}

	if _, err := k.Seal(vault.HolderKind("ssn"), "123456789"); err == nil {
		t.Error("Seal of an unknown kind succeeded")
	}
}

func TestNewHolder(t *testing.T) {
	k := testHolderKeys(t)
	h, err := k.NewHolder(vault.HolderIDCard, " 11010519491231002x ")
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != vault.HolderIDCard || h.Masked != "1101**********002X" || h.Lookup != goldenLookup {
		t.Errorf("NewHolder = {%s %s %s}, want {id_card 1101**********002X %s}", h.Kind, h.Masked, h.Lookup, goldenLookup)
	}
	if got, err := k.Open(h.Kind, h.Lookup, h.Sealed); err != nil || got != sampleID {
		t.Errorf("Open of NewHolder's seal = %q, %v, want %s", got, err, sampleID)
	}
	h, err = k.NewHolder(vault.HolderIDCard, sampleID[:17]+"5")
	var he *vault.HolderError
	if !errors.As(err, &he) || h.Lookup != "" || h.Sealed != nil || h.Masked != "" {
		t.Errorf("NewHolder of a wrong number = %+v, %v, want a *HolderError and nothing else", h, err)
	}
}

func TestMaskHolder(t *testing.T) {
	credit := creditCode(t, "91350100M000100Y4")
	for _, c := range []struct {
		kind     vault.HolderKind
		in, want string
	}{
		{vault.HolderIDCard, sampleID, "1101**********002X"},
		{vault.HolderCreditCode, credit, "91************" + credit[14:]},
		{vault.HolderPassport, "E12345678", "E*****678"},
		{vault.HolderPassport, "AB123", "A*123"},
		{vault.HolderOther, "abc-123/x", "a******/x"},
		{vault.HolderOther, "沪A-12345", "沪*****45"},
		{vault.HolderOther, "abcdef", "a***ef"},
		{vault.HolderOther, "abcde", "*****"},
		{vault.HolderOther, "a", "*"},
		// Numbers that were not normalized show nothing.
		{vault.HolderIDCard, "1101051949", "**********"},
		{vault.HolderCreditCode, credit[:10], "**********"},
		{vault.HolderPassport, "E123", "****"},
		{vault.HolderKind("ssn"), "123456789", "*********"},
	} {
		if got := vault.MaskHolder(c.kind, c.in); got != c.want {
			t.Errorf("MaskHolder(%s, %q) = %q, want %q", c.kind, c.in, got, c.want)
		}
	}
}

func TestParseHolderKeys(t *testing.T) {
	raw := make([]byte, 64)
	for i := range raw {
		raw[i] = byte(i)
	}
	fromBytes, err := vault.NewHolderKeys(raw[:32], raw[32:])
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := fromBytes.Seal(vault.HolderIDCard, sampleID)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(raw)
	for _, secret := range []string{
		std,
		base64.RawURLEncoding.EncodeToString(raw),
		"\n " + std + " \n",
		std[:64] + "\n" + std[64:] + "\n", // as openssl rand -base64 64 prints it
	} {
		k, err := vault.ParseHolderKeys(secret)
		if err != nil {
			t.Errorf("ParseHolderKeys(%q): %v", secret, err)
			continue
		}
		if got := k.Lookup(vault.HolderIDCard, sampleID); got != goldenLookup {
			t.Errorf("ParseHolderKeys(%q): lookup hash %s, want %s", secret, got, goldenLookup)
		}
		if got, err := k.Open(vault.HolderIDCard, goldenLookup, sealed); err != nil || got != sampleID {
			t.Errorf("ParseHolderKeys(%q): Open = %q, %v", secret, got, err)
		}
	}

	equalHalves := append(bytes.Clone(raw[:32]), raw[:32]...)
	for _, c := range []struct {
		secret, wantErr string
	}{
		{"", "decodes to 0 bytes, want 64"},
		{"@@@@ garbage @@@@", "not base64"},
		{std[:40] + "*" + std[41:], "not base64"},
		{base64.StdEncoding.EncodeToString(raw[:32]), "decodes to 32 bytes, want 64"},
		{base64.StdEncoding.EncodeToString(raw[:63]), "decodes to 63 bytes"},
		{base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 0)), "decodes to 65 bytes"},
		{base64.StdEncoding.EncodeToString(equalHalves), "are equal"},
	} {
		k, err := vault.ParseHolderKeys(c.secret)
		if err == nil || k != nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ParseHolderKeys(%.20q…) = %v, %v, want an error saying %q", c.secret, k, err, c.wantErr)
			continue
		}
		if len(c.secret) >= 8 && strings.Contains(err.Error(), c.secret[:8]) {
			t.Errorf("ParseHolderKeys error %q shows the secret", err)
		}
	}

	for _, c := range []struct {
		lookup, enc []byte
		wantErr     string
	}{
		{raw[:16], raw[32:], "lookup key has 16 bytes"},
		{raw[:32], raw[32:63], "encryption key 31"},
		{raw[:32], bytes.Clone(raw[:32]), "are equal"},
	} {
		if _, err := vault.NewHolderKeys(c.lookup, c.enc); err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("NewHolderKeys(%d bytes, %d bytes) error %v, want %q", len(c.lookup), len(c.enc), err, c.wantErr)
		}
	}

	// Keys are copied: changing the caller's slice afterwards changes nothing.
	lookupKey := bytes.Clone(raw[:32])
	k, err := vault.NewHolderKeys(lookupKey, raw[32:])
	if err != nil {
		t.Fatal(err)
	}
	lookupKey[0] ^= 0xff
	if got := k.Lookup(vault.HolderIDCard, sampleID); got != goldenLookup {
		t.Errorf("changing the caller's key slice changed the lookup hash to %s", got)
	}

	// Printed keys show no key material.
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%v", *k), fmt.Sprintf("%x", *k)} {
		if strings.Contains(out, "1 2 3 4") || strings.Contains(out, "0x1, 0x2") || strings.Contains(out, "0102030405") || strings.Contains(out, "AAECAwQF") {
			t.Errorf("printed keys show key material: %s", out)
		}
	}
}

func TestGenerateHolderKeys(t *testing.T) {
	a, b := vault.GenerateHolderKeys(), vault.GenerateHolderKeys()
	if a == b {
		t.Fatal("GenerateHolderKeys returned the same secret twice")
	}
	if raw, err := base64.StdEncoding.DecodeString(a); err != nil || len(raw) != 64 {
		t.Errorf("generated secret decodes to %d bytes, %v, want 64", len(raw), err)
	}
	ka, err := vault.ParseHolderKeys(a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := vault.ParseHolderKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ka.Seal(vault.HolderPassport, "E12345678")
	if err != nil {
		t.Fatal(err)
	}
	lookup := ka.Lookup(vault.HolderPassport, "E12345678")
	if got, err := ka.Open(vault.HolderPassport, lookup, sealed); err != nil || got != "E12345678" {
		t.Errorf("Open with the generated keys = %q, %v", got, err)
	}
	if _, err := kb.Open(vault.HolderPassport, lookup, sealed); err == nil {
		t.Error("a seal opens with keys from another generated secret")
	}
}
