package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/emmansun/gmsm/smx509"
)

// ErrWrongKey is returned by Open when a sealed key does not authenticate: the KEK is not
// the one it was sealed under, the owner (additional data) is not the one it was sealed
// for, or the sealed bytes were changed.
var ErrWrongKey = errors.New("keys: sealed key does not open: wrong key-encryption key or owner, or the bytes were changed")

// kekSize is the size of a KEK: AES-256.
const kekSize = 32

// sealV1 is the first byte of every sealed key in the current format:
// sealV1 || 12-byte nonce || AES-256-GCM(PKCS#8 DER) with its 16-byte tag.
// The version byte is authenticated with the owner, so it cannot be swapped unnoticed.
const sealV1 byte = 1

// KEK is a key-encryption key: an AES-256-GCM key that seals private keys for storage.
// Losing it makes every sealed key unusable; keep a copy apart from the database backups.
// Printing a KEK prints no key.
type KEK struct {
	aead cipher.AEAD // AES-256-GCM, random 12-byte nonce in front of the ciphertext
}

// ParseKEK reads a KEK given as text, from the environment or a _FILE setting: 32 bytes in
// standard base64 with padding; white space around it is ignored. Errors never contain
// the text.
func ParseKEK(text string) (*KEK, error) {
	k, err := parseKEK(text)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	return k, nil
}

func parseKEK(text string) (*KEK, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return nil, errors.New("not standard base64")
	}
	defer clear(b)
	if len(b) != kekSize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), kekSize)
	}
	block, err := aes.NewCipher(b)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &KEK{aead: aead}, nil
}

// GenerateKEK returns a new random KEK in the form ParseKEK reads.
func GenerateKEK() string {
	b := make([]byte, kekSize)
	rand.Read(b) // never fails: the program crashes first if the system has no randomness
	defer clear(b)
	return base64.StdEncoding.EncodeToString(b)
}

// LoadKEK reads the KEK kept in the file at path (ParseKEK's form, one line). If the file
// does not exist and create is true, it makes a new KEK and writes it there, readable by
// the owner only (0600, in a directory made 0700 with its parents if missing). The file
// appears whole or not at all, and never replaces another: when several instances start
// at once, all end up with the KEK of the first to write it. An existing file is never
// changed, and its mode is not checked, so that mounted secrets can be used.
func LoadKEK(path string, create bool) (*KEK, error) {
	k, err := readKEK(path)
	if err == nil || !create || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := writeKEK(path); err != nil {
		return nil, err
	}
	return readKEK(path)
}

func readKEK(path string) (*KEK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: read key-encryption key: %w", err)
	}
	defer clear(b)
	k, err := parseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key in %s: %w", path, err)
	}
	return k, nil
}

// writeKEK writes a new KEK to a temporary file in path's directory, syncs it and links it
// to path. A link, unlike a rename, fails if path exists, so a KEK another instance has
// just written (and may already have sealed keys under) is kept. On file systems without
// hard links it falls back to a rename.
func writeKEK(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keys: create key-encryption key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return fmt.Errorf("keys: create key-encryption key: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.WriteString(GenerateKEK() + "\n")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keys: create key-encryption key: %w", err)
	}
	err = os.Link(tmp.Name(), path)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil // another instance wrote it first: use theirs
	case err != nil:
		if _, serr := os.Lstat(path); serr == nil {
			return nil
		}
		if err = os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("keys: create key-encryption key: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("keys: create key-encryption key: sync %s: %w", dir, err)
		}
	}
	return nil
}

// String keeps the key out of logs and error messages.
func (KEK) String() string { return "keys.KEK{redacted}" }

// GoString keeps the key out of %#v.
func (k KEK) GoString() string { return k.String() }

// additionalData binds a sealed key to its format version and to its owner.
func additionalData(aad []byte) []byte { return append([]byte{sealV1}, aad...) }

// Seal encrypts a private key for storage: its PKCS#8 DER under AES-256-GCM with a new
// random nonce, after a format version byte. aad binds the result to its owner (callers
// pass e.g. the seal's id), so that it opens only with the same aad: a sealed key copied
// to another row is useless there. Only keys CheckPublicKey accepts, and SM2 keys, are
// sealed.
func (k *KEK) Seal(key crypto.Signer, aad []byte) ([]byte, error) {
	if key == nil {
		return nil, errors.New("keys: seal: no key")
	}
	if err := CheckPublicKey(key.Public()); err != nil && !IsSM2(key.Public()) {
		return nil, fmt.Errorf("keys: seal: %w", err)
	}
	der, err := smx509.MarshalPKCS8PrivateKey(key) // standard keys as crypto/x509 writes them, and SM2
	if err != nil {
		return nil, fmt.Errorf("keys: seal: %w", err)
	}
	defer clear(der)
	return k.aead.Seal([]byte{sealV1}, nil, der, additionalData(aad)), nil
}

// Open decrypts what Seal returned, given the same aad. It returns ErrWrongKey when the
// sealed bytes do not authenticate under this KEK and aad.
func (k *KEK) Open(sealed, aad []byte) (crypto.Signer, error) {
	if len(sealed) == 0 {
		return nil, errors.New("keys: open: sealed key is empty")
	}
	if sealed[0] != sealV1 {
		return nil, fmt.Errorf("keys: open: unknown sealed key format %d", sealed[0])
	}
	if len(sealed) < 1+k.aead.NonceSize()+k.aead.Overhead() {
		return nil, fmt.Errorf("keys: open: sealed key is truncated (%d bytes)", len(sealed))
	}
	der, err := k.aead.Open(nil, nil, sealed[1:], additionalData(aad))
	if err != nil {
		return nil, ErrWrongKey
	}
	defer clear(der)
	key, err := smx509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: open: sealed PKCS#8 key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: open: sealed %T key cannot sign", key)
	}
	return s, nil
}
