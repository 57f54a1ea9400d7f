package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// HolderKind says what kind of number identifies a holder. Holder numbers are personal
// information under China's PIPL: they are stored only sealed (HolderKeys.Seal), found by
// a keyed hash (HolderKeys.Lookup) and shown only masked (MaskHolder).
type HolderKind string

const (
	// HolderIDCard is a resident identity card number (居民身份证, GB 11643-1999):
	// 17 digits and a check character, 0-9 or X.
	HolderIDCard HolderKind = "id_card"
	// HolderCreditCode is a unified social credit code (统一社会信用代码, GB 32100-2015):
	// 18 digits and capital letters other than I, O, Z, S and V, the last a check character.
	HolderCreditCode HolderKind = "credit_code"
	// HolderPassport is a passport number (护照): 5 to 20 letters and digits.
	HolderPassport HolderKind = "passport"
	// HolderOther is any other number: 1 to 64 printable characters, no spaces inside.
	HolderOther HolderKind = "other"
)

func (k HolderKind) known() bool {
	switch k {
	case HolderIDCard, HolderCreditCode, HolderPassport, HolderOther:
		return true
	}
	return false
}

// HolderError says why NormalizeHolder refused a number. Reason (English) and ReasonZh
// (Chinese, for staff) say what is wrong and never contain the number or any part of it,
// so the error may be logged and shown as it is.
type HolderError struct {
	Kind     HolderKind
	Reason   string
	ReasonZh string
}

func (e *HolderError) Error() string {
	if !e.Kind.known() {
		return "vault: holder number: " + e.Reason
	}
	return fmt.Sprintf("vault: %s number: %s", e.Kind, e.Reason)
}

func holderErr(kind HolderKind, reason, reasonZh string) error {
	return &HolderError{Kind: kind, Reason: reason, ReasonZh: reasonZh}
}

// badLength reports a wrong length. A count of 100 or more is left out, so that no
// message carries a run of digits that could be mistaken for part of a number.
func badLength(kind HolderKind, want, wantZh string, n int) error {
	if n > 99 {
		return holderErr(kind, fmt.Sprintf("must be %s, got far more", want), fmt.Sprintf("应为%s，实际长度远超", wantZh))
	}
	return holderErr(kind, fmt.Sprintf("must be %s, got %d", want, n), fmt.Sprintf("应为%s，实际为%d位", wantZh, n))
}

// creditAlphabet is GB 32100's character set, in the order that gives each character its
// value for the check character: digits and capital letters without I, O, Z, S and V.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// NormalizeHolder returns the one spelling of number under which it is looked up, sealed
// and masked, or a *HolderError. It trims surrounding white space (including the
// ideographic space U+3000), maps full-width characters (０-９, Ａ-Ｚ, ａ-ｚ and full-width
// punctuation) to ASCII and, except for HolderOther, whose case may matter, upper-cases
// ASCII letters. Then it checks the number:
//
//   - HolderIDCard: 18 characters, the GB 11643 check character, and a birth date
//     (characters 7–14, YYYYMMDD) that is a real date from 1900 on and not after today in
//     China. A 15-digit number from before 1999 is refused: the 18-digit one is wanted.
//   - HolderCreditCode: 18 characters from creditAlphabet and the GB 32100 check character.
//   - HolderPassport: 5 to 20 letters and digits.
//   - HolderOther: 1 to 64 printable characters.
//
// A space inside the number is refused for every kind rather than removed.
func NormalizeHolder(kind HolderKind, number string) (string, error) {
	if !kind.known() {
		return "", holderErr(kind, "unknown kind, want id_card, credit_code, passport or other", "未知的证件类型")
	}
	if !utf8.ValidString(number) {
		return "", holderErr(kind, "is not valid UTF-8 text", "含有无效的字符编码")
	}
	s := foldHolder(number)
	if kind != HolderOther {
		s = upperASCII(s)
	}
	rs := []rune(s)
	if len(rs) == 0 {
		return "", holderErr(kind, "is empty", "号码为空")
	}
	for i, r := range rs {
		if unicode.IsSpace(r) && i >= 99 {
			// As in badLength: no run of digits that could be taken for part of a number.
			return "", holderErr(kind, "has a space inside; type the number without spaces", "号码中有空格，请去掉号码中的空格")
		}
		if unicode.IsSpace(r) {
			return "", holderErr(kind,
				fmt.Sprintf("character %d is a space; type the number without spaces", i+1),
				fmt.Sprintf("第%d位是空格，请去掉号码中的空格", i+1))
		}
	}
	var err error
	switch kind {
	case HolderIDCard:
		err = checkIDCard(rs)
	case HolderCreditCode:
		err = checkCreditCode(rs)
	case HolderPassport:
		err = checkPassport(rs)
	case HolderOther:
		err = checkOther(rs)
	}
	if err != nil {
		return "", err
	}
	return s, nil
}

// foldHolder trims white space and the invisible characters that copying from office
// documents leaves, and maps the full-width forms Chinese input methods type to ASCII.
func foldHolder(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' })
	return strings.Map(func(r rune) rune {
		if '！' <= r && r <= '～' { // U+FF01–U+FF5E mirror U+0021–U+007E
			return r - '！' + '!'
		}
		return r
	}, s)
}

func upperASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

func checkIDCard(rs []rune) error {
	const kind = HolderIDCard
	if len(rs) == 15 && allDigits(rs) {
		return holderErr(kind,
			"is an old 15-digit number; use the 18-digit number on the current card",
			"这是旧的15位号码，请使用现行身份证上的18位号码")
	}
	if len(rs) != 18 {
		return badLength(kind, "18 characters", "18位", len(rs))
	}
	for i, r := range rs[:17] {
		if !isDigit(r) {
			return holderErr(kind,
				fmt.Sprintf("character %d must be a digit", i+1),
				fmt.Sprintf("第%d位应为数字", i+1))
		}
	}
	if !isDigit(rs[17]) && rs[17] != 'X' {
		return holderErr(kind,
			"character 18, the check character, must be a digit or X",
			"第18位（校验位）应为数字或X")
	}
	if err := checkBirthDate(rs[6:14]); err != nil {
		return err
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(rs[i]-'0') * w
	}
	if rune("10X98765432"[sum%11]) != rs[17] {
		return holderErr(kind, "check digit does not match (a typing error?)", "校验位不符，请核对号码")
	}
	return nil
}

func allDigits(rs []rune) bool {
	for _, r := range rs {
		if !isDigit(r) {
			return false
		}
	}
	return true
}

// checkBirthDate checks the YYYYMMDD part of an ID card number. "Today" is China's, so that
// a number issued there this morning is not refused while it is still yesterday in UTC.
func checkBirthDate(ds []rune) error {
	const kind = HolderIDCard
	num := func(rs []rune) int {
		n := 0
		for _, r := range rs {
			n = 10*n + int(r-'0')
		}
		return n
	}
	y, m, d := num(ds[:4]), num(ds[4:6]), num(ds[6:8])
	born := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if born.Year() != y || int(born.Month()) != m || born.Day() != d {
		return holderErr(kind, "the birth date part is not a real date", "出生日期部分不是有效日期")
	}
	if y < 1900 {
		return holderErr(kind, "the birth date part is implausibly early", "出生日期部分过早，不合常理")
	}
	now := time.Now().In(time.FixedZone("UTC+8", 8*60*60))
	if born.After(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)) {
		return holderErr(kind, "the birth date part is in the future", "出生日期部分晚于今天")
	}
	return nil
}

func checkCreditCode(rs []rune) error {
	const kind = HolderCreditCode
	if len(rs) != 18 {
		return badLength(kind, "18 characters", "18位", len(rs))
	}
	var vals [18]int
	for i, r := range rs {
		vals[i] = strings.IndexRune(creditAlphabet, r)
		if vals[i] < 0 {
			return holderErr(kind,
				fmt.Sprintf("character %d is not allowed; credit codes use digits and capital letters except I, O, Z, S and V", i+1),
				fmt.Sprintf("第%d位字符不允许；统一社会信用代码只用数字和大写字母（不含I、O、Z、S、V）", i+1))
		}
	}
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i, w := range weights {
		sum += vals[i] * w
	}
	if (31-sum%31)%31 != vals[17] {
		return holderErr(kind, "check character does not match (a typing error?)", "校验位不符，请核对号码")
	}
	return nil
}

func checkPassport(rs []rune) error {
	const kind = HolderPassport
	if len(rs) < 5 || len(rs) > 20 {
		return badLength(kind, "5 to 20 letters or digits", "5至20位字母或数字", len(rs))
	}
	for i, r := range rs {
		if !isDigit(r) && !('A' <= r && r <= 'Z') {
			return holderErr(kind,
				fmt.Sprintf("character %d must be a letter or a digit", i+1),
				fmt.Sprintf("第%d位应为字母或数字", i+1))
		}
	}
	return nil
}

func checkOther(rs []rune) error {
	const kind = HolderOther
	if len(rs) > 64 {
		return badLength(kind, "at most 64 characters", "不超过64位", len(rs))
	}
	for i, r := range rs {
		if !unicode.IsPrint(r) {
			return holderErr(kind,
				fmt.Sprintf("character %d is not a printable character", i+1),
				fmt.Sprintf("第%d位是不可打印的字符", i+1))
		}
	}
	return nil
}

// MaskHolder shows enough of a normalized number for staff to recognise it, and keeps its
// length: an ID card number its first 4 and last 4 characters, a credit code its first 2
// and last 4, a passport number its first 1 and last 3, another number its first 1 and
// last 2 if it has at least 6 characters. Everything else becomes "*", and so does the
// whole of a number whose length its kind does not allow, so that a caller who forgets to
// normalize shows less, never more.
func MaskHolder(kind HolderKind, normalized string) string {
	rs := []rune(normalized)
	head, tail := 0, 0
	switch {
	case kind == HolderIDCard && len(rs) == 18:
		head, tail = 4, 4
	case kind == HolderCreditCode && len(rs) == 18:
		head, tail = 2, 4
	case kind == HolderPassport && len(rs) >= 5:
		head, tail = 1, 3
	case kind == HolderOther && len(rs) >= 6:
		head, tail = 1, 2
	}
	return string(rs[:head]) + strings.Repeat("*", len(rs)-head-tail) + string(rs[len(rs)-tail:])
}

// HolderKeys holds the two secrets for holder numbers: an HMAC-SHA256 key for lookup
// hashes and an AES-256-GCM key for sealing. They are independent, so that a leaked
// lookup key lets nobody open a sealed number. Printing a HolderKeys prints no key.
type HolderKeys struct {
	lookup []byte
	aead   cipher.AEAD // AES-256-GCM, 12-byte random nonce in front of the ciphertext
}

// holderKeySize is the size of each of the two keys.
const holderKeySize = 32

// NewHolderKeys returns keys from a 32-byte lookup key and a 32-byte encryption key, which
// must differ. It keeps copies, not the slices given.
func NewHolderKeys(lookupKey, encKey []byte) (*HolderKeys, error) {
	if len(lookupKey) != holderKeySize || len(encKey) != holderKeySize {
		return nil, fmt.Errorf("vault: holder keys: lookup key has %d bytes and encryption key %d, want %d each",
			len(lookupKey), len(encKey), holderKeySize)
	}
	if hmac.Equal(lookupKey, encKey) {
		return nil, errors.New("vault: holder keys: lookup key and encryption key are equal; they must be independent")
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("vault: holder keys: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("vault: holder keys: %w", err)
	}
	return &HolderKeys{lookup: bytes.Clone(lookupKey), aead: aead}, nil
}

// ParseHolderKeys parses the configured secret: 64 bytes in base64, standard (padded) or
// URL-safe without padding; line breaks are ignored. The first 32 bytes are the lookup
// key, the last 32 the encryption key. Errors never contain the secret.
func ParseHolderKeys(secret string) (*HolderKeys, error) {
	s := strings.TrimSpace(secret)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return nil, errors.New("vault: holder keys: the secret is not base64 (standard, or URL-safe without padding)")
		}
	}
	if len(b) != 2*holderKeySize {
		return nil, fmt.Errorf("vault: holder keys: the secret decodes to %d bytes, want %d (lookup key, then encryption key)",
			len(b), 2*holderKeySize)
	}
	return NewHolderKeys(b[:holderKeySize], b[holderKeySize:])
}

// GenerateHolderKeys returns a new random secret in the form ParseHolderKeys reads, for a
// first start. Losing it makes every sealed number unreadable and every lookup hash useless.
func GenerateHolderKeys() string {
	b := make([]byte, 2*holderKeySize)
	rand.Read(b) // never fails: the program crashes first if the system has no randomness
	return base64.StdEncoding.EncodeToString(b)
}

// String keeps the keys out of logs and error messages.
func (HolderKeys) String() string { return "vault.HolderKeys{redacted}" }

// GoString keeps the keys out of %#v.
func (k HolderKeys) GoString() string { return k.String() }

// Lookup returns the lookup hash of a normalized number: hex(HMAC-SHA256(lookup key,
// kind + ":" + normalized)). Equal numbers have equal hashes only within one kind. It
// hashes what it is given, so give it NormalizeHolder's result: another spelling of the
// same number has another hash.
func (k *HolderKeys) Lookup(kind HolderKind, normalized string) string {
	m := hmac.New(sha256.New, k.lookup)
	m.Write([]byte(string(kind) + ":" + normalized))
	return hex.EncodeToString(m.Sum(nil))
}

// holderAD is the additional data a sealed number is bound to: its kind and lookup hash,
// so that it opens only beside the lookup hash of its own row.
func holderAD(kind HolderKind, lookup string) []byte { return []byte(string(kind) + ":" + lookup) }

// Seal encrypts a normalized number with AES-256-GCM and returns nonce || ciphertext,
// bound to kind and to Lookup(kind, normalized). Each call uses a new random nonce, so two
// seals of one number differ: find rows by the lookup hash, never by sealed bytes.
func (k *HolderKeys) Seal(kind HolderKind, normalized string) ([]byte, error) {
	if !kind.known() {
		return nil, errors.New("vault: seal holder number: unknown kind")
	}
	if normalized == "" {
		return nil, fmt.Errorf("vault: seal %s number: the number is empty", kind)
	}
	return k.seal(kind, normalized, k.Lookup(kind, normalized)), nil
}

func (k *HolderKeys) seal(kind HolderKind, normalized, lookup string) []byte {
	return k.aead.Seal(nil, nil, []byte(normalized), holderAD(kind, lookup))
}

// Open decrypts what Seal returned. It needs the lookup hash stored beside the sealed
// bytes, because the seal is bound to it; a wrong key, kind or lookup hash, or any
// change to the sealed bytes, makes it fail.
func (k *HolderKeys) Open(kind HolderKind, lookup string, sealed []byte) (string, error) {
	plain, err := k.aead.Open(nil, nil, sealed, holderAD(kind, lookup))
	if err != nil {
		return "", errors.New("vault: open holder number: wrong key, kind or lookup hash, or the sealed bytes were changed")
	}
	return string(plain), nil
}

// Holder is a holder number in the forms that may be stored and shown: never in clear.
type Holder struct {
	Kind   HolderKind
	Masked string // MaskHolder's result, for display
	Lookup string // HolderKeys.Lookup's result, for finding and de-duplicating rows
	Sealed []byte // HolderKeys.Seal's result; Open it with Kind and Lookup
}

// NewHolder normalizes number (returning NormalizeHolder's *HolderError if it is refused)
// and returns it looked up, sealed and masked.
func (k *HolderKeys) NewHolder(kind HolderKind, number string) (Holder, error) {
	n, err := NormalizeHolder(kind, number)
	if err != nil {
		return Holder{}, err
	}
	lookup := k.Lookup(kind, n)
	return Holder{Kind: kind, Masked: MaskHolder(kind, n), Lookup: lookup, Sealed: k.seal(kind, n, lookup)}, nil
}
