package keys

import (
	"context"
	"crypto"
	"errors"
	"fmt"
)

// Custody keeps private keys and hands out signers by reference; the reference is what the
// database stores.
//
// owner names the row a key belongs to (e.g. the seal's id) and must not be empty. A key
// is bound to its owner: Signer with another owner than the key was created or imported
// for fails, so a reference copied to another row signs nothing there.
//
// Software custody (NewSoftCustody) stores the key itself, sealed, as the reference. A
// PKCS#11 (hardware security module) implementation would instead keep the key in the
// module and store its label or ID (CKA_LABEL / CKA_ID) as the reference, checking the
// owner against an attribute of the key object; callers do not change.
type Custody interface {
	// Create makes a new key of the given algorithm for owner and returns its reference
	// and public key.
	Create(ctx context.Context, alg Algorithm, owner string) (ref []byte, pub crypto.PublicKey, err error)
	// Import takes an existing key (e.g. from ImportPEM or ImportPKCS12) into custody for
	// owner and returns its reference.
	Import(ctx context.Context, key crypto.Signer, owner string) (ref []byte, err error)
	// Signer returns a signer for the key ref names. It fails with ErrWrongKey if ref was
	// not made for owner or by this custody's key.
	Signer(ctx context.Context, ref []byte, owner string) (crypto.Signer, error)
}

// softCustody keeps keys sealed under a KEK; the reference is the sealed key and the
// owner its additional data.
type softCustody struct{ kek *KEK }

// NewSoftCustody returns software custody under k: each reference is the private key
// sealed by k.Seal with the owner as additional data, so the database holds the key only
// encrypted and bound to its row.
func NewSoftCustody(k *KEK) Custody { return softCustody{kek: k} }

var errNoOwner = errors.New("owner is empty")

func (c softCustody) Create(ctx context.Context, alg Algorithm, owner string) ([]byte, crypto.PublicKey, error) {
	if owner == "" {
		return nil, nil, fmt.Errorf("keys: create: %w", errNoOwner)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("keys: create: %w", err)
	}
	key, err := Generate(alg)
	if err != nil {
		return nil, nil, err
	}
	ref, err := c.kek.Seal(key, []byte(owner))
	if err != nil {
		return nil, nil, err
	}
	return ref, key.Public(), nil
}

func (c softCustody) Import(ctx context.Context, key crypto.Signer, owner string) ([]byte, error) {
	if owner == "" {
		return nil, fmt.Errorf("keys: import: %w", errNoOwner)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keys: import: %w", err)
	}
	return c.kek.Seal(key, []byte(owner))
}

func (c softCustody) Signer(ctx context.Context, ref []byte, owner string) (crypto.Signer, error) {
	if owner == "" {
		return nil, fmt.Errorf("keys: signer: %w", errNoOwner)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("keys: signer: %w", err)
	}
	return c.kek.Open(ref, []byte(owner))
}
