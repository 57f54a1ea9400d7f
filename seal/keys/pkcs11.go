package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11Config selects a PKCS#11 token (a hardware security module, 密码机 with a PKCS#11
// interface, or SoftHSM2 in tests): the module library, the token's label, and a file
// holding the user PIN (its first line), so that the PIN is in no command line or
// environment listing.
type PKCS11Config struct {
	Module  string
	Token   string
	PINFile string
}

// pkcs11Prefix begins every reference to a key in the token; a software reference begins
// with its version byte, never with this.
const pkcs11Prefix = "pkcs11:id="

// PKCS11Custody keeps ECDSA P-256 and RSA-3072 keys in a PKCS#11 token: Create generates
// them inside it, sensitive and not extractable, labelled with their owner; the reference
// the database stores is "pkcs11:id=<hex CKA_ID>". Signer finds the key pair by that id and
// the owner's label, so a reference copied to another row finds nothing. Keys the token
// cannot hold (SM2: neither SoftHSM2 nor PKCS#11 has a standard SM2 mechanism; imported
// keys, which crypto11 cannot write into a token) stay in the software custody given, behind
// the same interface.
type PKCS11Custody struct {
	ctx   *crypto11.Context
	soft  Custody
	token string
}

// OpenPKCS11 logs in to the token cfg names; soft keeps what the token cannot. A module that
// does not load, a token that is not there or a wrong PIN is an error saying which.
func OpenPKCS11(cfg PKCS11Config, soft Custody) (*PKCS11Custody, error) {
	switch {
	case cfg.Module == "":
		return nil, errors.New("keys: pkcs11: no module library given (--pkcs11-module)")
	case cfg.Token == "":
		return nil, errors.New("keys: pkcs11: no token label given (--pkcs11-token)")
	case cfg.PINFile == "":
		return nil, errors.New("keys: pkcs11: no PIN file given (--pkcs11-pin-file)")
	}
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("keys: pkcs11: module %s: %w", cfg.Module, err)
	}
	raw, err := os.ReadFile(cfg.PINFile)
	if err != nil {
		return nil, fmt.Errorf("keys: pkcs11: PIN file: %w", err)
	}
	pin, _, _ := strings.Cut(string(raw), "\n")
	if pin = strings.TrimSpace(pin); pin == "" {
		return nil, fmt.Errorf("keys: pkcs11: the PIN file %s is empty", cfg.PINFile)
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.Token, Pin: pin})
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "CKR_PIN_INCORRECT"):
			return nil, fmt.Errorf("keys: pkcs11: token %q refused the PIN in %s (CKR_PIN_INCORRECT)", cfg.Token, cfg.PINFile)
		case strings.Contains(msg, "CKR_PIN_LOCKED"):
			return nil, fmt.Errorf("keys: pkcs11: token %q has locked its user PIN (CKR_PIN_LOCKED): its security officer must unlock it", cfg.Token)
		case strings.Contains(msg, "could not find PKCS#11 token"):
			return nil, fmt.Errorf("keys: pkcs11: no token labelled %q in %s", cfg.Token, cfg.Module)
		}
		return nil, fmt.Errorf("keys: pkcs11: token %q in %s: %w", cfg.Token, cfg.Module, err)
	}
	return &PKCS11Custody{ctx: ctx, soft: soft, token: cfg.Token}, nil
}

// Close logs out and unloads the module.
func (c *PKCS11Custody) Close() error { return c.ctx.Close() }

// InToken reports whether ref names a key in the token (not in software custody).
func InToken(ref []byte) bool { return bytes.HasPrefix(ref, []byte(pkcs11Prefix)) }

func (c *PKCS11Custody) Create(ctx context.Context, alg Algorithm, owner string) ([]byte, crypto.PublicKey, error) {
	if owner == "" {
		return nil, nil, fmt.Errorf("keys: create: %w", errNoOwner)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("keys: create: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, nil, err
	}
	var signer crypto11.Signer
	var err error
	switch alg {
	case ECDSAP256:
		signer, err = c.ctx.GenerateECDSAKeyPairWithLabel(id, []byte(owner), elliptic.P256())
	case RSA3072:
		signer, err = c.ctx.GenerateRSAKeyPairWithLabel(id, []byte(owner), 3072)
	default:
		return c.soft.Create(ctx, alg, owner)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("keys: create %s in token %q: %w", alg, c.token, err)
	}
	return []byte(pkcs11Prefix + hex.EncodeToString(id)), signer.Public(), nil
}

// Import keeps an imported key in software custody: crypto11 does not write private keys
// into a token.
func (c *PKCS11Custody) Import(ctx context.Context, key crypto.Signer, owner string) ([]byte, error) {
	return c.soft.Import(ctx, key, owner)
}

func (c *PKCS11Custody) Signer(ctx context.Context, ref []byte, owner string) (crypto.Signer, error) {
	if !InToken(ref) {
		return c.soft.Signer(ctx, ref, owner)
	}
	if owner == "" {
		return nil, fmt.Errorf("keys: signer: %w", errNoOwner)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keys: signer: %w", err)
	}
	id, err := hex.DecodeString(strings.TrimPrefix(string(ref), pkcs11Prefix))
	if err != nil || len(id) == 0 {
		return nil, fmt.Errorf("keys: signer: the reference %q is not a token key's: %w", ref, ErrWrongKey)
	}
	found, err := c.ctx.FindKeyPairs(id, []byte(owner))
	if err != nil {
		return nil, fmt.Errorf("keys: signer: token %q: %w", c.token, err)
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("keys: signer: token %q has no key %x for this owner: %w", c.token, id, ErrWrongKey)
	}
	return found[0], nil
}

// Extractable reports whether the token would let the private key of ref out (CKA_EXTRACTABLE),
// and whether it is marked sensitive (CKA_SENSITIVE), for checks and tests.
func (c *PKCS11Custody) Extractable(ref []byte, owner string) (extractable, sensitive bool, err error) {
	s, err := c.Signer(context.Background(), ref, owner)
	if err != nil {
		return false, false, err
	}
	attrs, err := c.ctx.GetAttributes(s, []crypto11.AttributeType{crypto11.CkaExtractable, crypto11.CkaSensitive})
	if err != nil {
		return false, false, err
	}
	get := func(t crypto11.AttributeType) bool {
		a := attrs[t]
		return a != nil && len(a.Value) == 1 && a.Value[0] != 0
	}
	return get(crypto11.CkaExtractable), get(crypto11.CkaSensitive), nil
}
