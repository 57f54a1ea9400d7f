package vault_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"sealvault/vault"
)

const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // SHA-256("abc")

func TestSum(t *testing.T) {
	if got := vault.Sum([]byte("abc")).String(); got != abc {
		t.Errorf(`Sum("abc") = %s, want %s`, got, abc)
	}
	if vault.Sum(nil).IsZero() || !(vault.Digest{}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestParseDigest(t *testing.T) {
	for _, c := range []struct {
		in      string
		wantErr string // substring of the error; empty for success
	}{
		{abc, ""},
		{"", "has 0 characters, want 64 hexadecimal digits"},
		{abc[:63], "has 63 characters"},
		{abc + "0", "has 65 characters"},
		{strings.ToUpper(abc[:1]) + abc[1:], `upper-case 'B' at position 0, digests are lower-case hex`},
		{abc[:10] + "g" + abc[11:], `'g' at position 10 is not a hexadecimal digit`},
		{"sha256:" + abc, `without "sha256:"`},
		{"-" + abc[1:], `'-' at position 0 is not a hexadecimal digit`},
		{strings.Repeat("x", 1000), "has 1000 characters"},
	} {
		d, err := vault.ParseDigest(c.in)
		if c.wantErr == "" {
			if err != nil || d.String() != c.in {
				t.Errorf("ParseDigest(%q) = %s, %v", c.in, d, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, vault.ErrBadDigest) {
			t.Errorf("ParseDigest(%.70q) error %v, want ErrBadDigest saying %q", c.in, err, c.wantErr)
		}
		if len(err.Error()) > 200 {
			t.Errorf("ParseDigest of a long input echoes it whole: %d characters", len(err.Error()))
		}
		if !d.IsZero() {
			t.Errorf("ParseDigest(%.70q) failed but returned %s", c.in, d)
		}
	}
}

func TestDigestJSON(t *testing.T) {
	type doc struct {
		Object vault.Digest `json:"object"`
	}
	b, err := json.Marshal(doc{vault.Sum([]byte("abc"))})
	if err != nil || string(b) != `{"object":"`+abc+`"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.Object.String() != abc {
		t.Errorf("Unmarshal = %s, %v", back.Object, err)
	}
	if err := json.Unmarshal([]byte(`{"object":"ABC"}`), &back); !errors.Is(err, vault.ErrBadDigest) {
		t.Errorf("Unmarshal of a bad digest: %v", err)
	}
}

func TestCorruptError(t *testing.T) {
	want, got := vault.Sum([]byte("stored")), vault.Sum([]byte("read"))
	err := fmt.Errorf("serving: %w", &vault.CorruptError{Digest: want, Got: got})
	if !errors.Is(err, vault.ErrCorrupt) || errors.Is(err, vault.ErrNotFound) {
		t.Errorf("errors.Is: corrupt %v, not found %v", errors.Is(err, vault.ErrCorrupt), errors.Is(err, vault.ErrNotFound))
	}
	var ce *vault.CorruptError
	if !errors.As(err, &ce) || ce.Digest != want || ce.Got != got {
		t.Errorf("errors.As: %+v", ce)
	}
	if msg := err.Error(); !strings.Contains(msg, want.String()) || !strings.Contains(msg, got.String()) {
		t.Errorf("message %q names neither digest", msg)
	}
}
