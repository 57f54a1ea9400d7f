package seal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/seal/ses"
	"sealvault/vault"
)

// makerOwner binds the seal maker's key reference to its row.
const makerOwner = "seal-maker"

// sealDataVendor is the vendor identifier in the header of the seal data sealvault makes.
const sealDataVendor = "sealvault"

// OpenMaker returns the seal maker (制章人) of GB/T 38540 seal data, the service's SM2 root:
// made on first start (its key in custody), read afterwards.
func OpenMaker(ctx context.Context, db pgxDB, custody keys.Custody, name string, now time.Time) (*ca.Maker, error) {
	var out *ca.Maker
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sealvault.seal_maker'))`); err != nil {
			return err
		}
		var der, ref []byte
		err := tx.QueryRow(ctx, `SELECT cert_der, key_ref FROM seal_ca WHERE id = 2`).Scan(&der, &ref)
		if errors.Is(err, pgx.ErrNoRows) {
			if ref, _, err = custody.Create(ctx, keys.SM2, makerOwner); err != nil {
				return err
			}
			signer, err := custody.Signer(ctx, ref, makerOwner)
			if err != nil {
				return err
			}
			cert, err := ca.NewSM2Root(signer, name, now, 20)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO seal_ca (id, cert_der, key_ref) VALUES (2, $1, $2)`, cert.Raw, ref); err != nil {
				return err
			}
			out = &ca.Maker{Cert: cert, Key: signer}
			return nil
		} else if err != nil {
			return err
		}
		cert, err := smx509.ParseCertificate(der)
		if err != nil {
			return err
		}
		signer, err := custody.Signer(ctx, ref, makerOwner)
		if err != nil {
			return fmt.Errorf("the seal maker's key does not open with this key-encryption key: %w", err)
		}
		out = &ca.Maker{Cert: cert, Key: signer}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal: seal maker: %w", err)
	}
	return out, nil
}

// sealDataType is the SES_ESPropertyInfo type of a seal type.
func sealDataType(t string) int {
	switch t {
	case TypeOfficial:
		return ses.TypeOfficial
	case TypeFinance:
		return ses.TypeFinance
	case TypeContract:
		return ses.TypeContract
	case TypeLegalRep:
		return ses.TypeName
	}
	return ses.TypeOther
}

// pictureMM is the size on paper the seal data states for a seal's image: 42 mm for an
// official seal, 40 mm for other round seals, 20 mm for a name seal (GA 241's usual sizes;
// images carry pixels, not a size).
func pictureMM(t string) int {
	switch t {
	case TypeOfficial:
		return 42
	case TypeLegalRep:
		return 20
	}
	return 40
}

// makeSealData writes the SES_Seal of sl with image (its PNG) and stores it; it returns its
// digest, to be recorded by the caller's transaction.
func (s *Service) makeSealData(ctx context.Context, sl Seal, image []byte) (vault.Digest, error) {
	spec := ses.Spec{VendorID: sealDataVendor, ESID: esID(sl.ID), Type: sealDataType(sl.Type), Name: sl.Name,
		Certs: [][]byte{sl.certDER}, CreateDate: s.now(), ValidStart: sl.validFrom, ValidEnd: sl.validUntil,
		Picture: ses.Picture{Type: "PNG", Data: image, WidthMM: pictureMM(sl.Type), HeightMM: pictureMM(sl.Type)}}
	der, err := ses.Make(spec, s.Maker.Cert, s.Maker.Key)
	if err != nil {
		return vault.Digest{}, fmt.Errorf("seal: seal data of %s: %w", sl.Ref, err)
	}
	d, _, err := vault.Put(ctx, s.Blobs, bytes.NewReader(der), s.Pins)
	return d, err
}

// esID is the seal's identifier in its seal data: its id without hyphens (ASCII, unique).
func esID(id uuid.UUID) string { return strings.ReplaceAll(id.String(), "-", "") }

// recordSealData records on tx that d is the seal data of the seal's image version.
func (s *Service) recordSealData(ctx context.Context, tx pgx.Tx, id uuid.UUID, version int, d vault.Digest) error {
	if err := s.Pins.Hold(ctx, tx, s.Blobs, d); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO seal_data (seal_id, image_version, digest) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, id, version, d.String())
	return err
}

// SealData returns the seal data (GB/T 38540 SES_Seal, DER) of the seal's current image,
// making it first for an image added before seal data was made. ErrNotFound: the seal has no
// image yet.
func (s *Service) SealData(ctx context.Context, id uuid.UUID) ([]byte, Seal, error) {
	sl, err := s.GetSeal(ctx, id)
	if err != nil {
		return nil, Seal{}, err
	}
	if sl.ImageVersion == 0 || s.Maker == nil {
		return nil, sl, ErrNotFound
	}
	var digest string
	err = s.DB.QueryRow(ctx, `SELECT digest FROM seal_data WHERE seal_id = $1 AND image_version = $2`, id, sl.ImageVersion).Scan(&digest)
	if errors.Is(err, pgx.ErrNoRows) {
		img, err := s.readObject(ctx, *sl.ImageDigest)
		if err != nil {
			return nil, sl, err
		}
		d, err := s.makeSealData(ctx, sl, img)
		if err != nil {
			return nil, sl, err
		}
		if err := s.withTx(ctx, func(tx pgx.Tx) error { return s.recordSealData(ctx, tx, id, sl.ImageVersion, d) }); err != nil {
			return nil, sl, err
		}
		err = s.DB.QueryRow(ctx, `SELECT digest FROM seal_data WHERE seal_id = $1 AND image_version = $2`, id, sl.ImageVersion).Scan(&digest)
		if err != nil {
			return nil, sl, fmt.Errorf("seal: seal data of %s: %w", sl.Ref, err)
		}
	} else if err != nil {
		return nil, sl, fmt.Errorf("seal: seal data of %s: %w", sl.Ref, err)
	}
	der, err := s.readObject(ctx, digest)
	return der, sl, err
}

// checkSealData refuses a use of sl whose seal data does not verify now against the seal
// maker, or does not state this seal: its name, its certificate and the image the use draws.
func (s *Service) checkSealData(ctx context.Context, sl Seal, now time.Time) error {
	if s.Maker == nil {
		return nil
	}
	der, cur, err := s.SealData(ctx, sl.ID)
	if err != nil {
		return err
	}
	bad := func(why string) error {
		return refuse("seal-data-invalid", fmt.Sprintf("the electronic seal data (GB/T 38540) of %s %s", sl.Ref, why),
			fmt.Sprintf("印章 %s 的电子印章数据（GB/T 38540）%s", sl.Ref, map[string]string{
				"does not verify":             "验证未通过",
				"is not that of this seal":    "与本印章不符",
				"is not for the image in use": "与所用印模图像不符",
			}[why]))
	}
	d, err := ses.ParseSeal(der)
	if err != nil {
		return bad("does not verify")
	}
	roots := smx509.NewCertPool()
	roots.AddCert(s.Maker.Cert)
	if sl.ImportedSealData {
		// Another vendor's maker: the certificates trusted when it was imported.
		roots = smx509.NewCertPool()
		for _, der := range sl.chainDER {
			if c, err := smx509.ParseCertificate(der); err == nil {
				roots.AddCert(c)
			}
		}
	}
	if r := d.Verify(now, roots); !r.Valid {
		return bad("does not verify")
	}
	if sl.ImportedSealData {
		cert, err := smx509.ParseCertificate(sl.certDER)
		if err != nil || d.Name != sl.Name || !d.Lists(cert) {
			return bad("is not that of this seal")
		}
	} else if d.Name != sl.Name || d.ESID != esID(sl.ID) || len(d.Certs) != 1 || !bytes.Equal(d.Certs[0].Raw, sl.certDER) {
		return bad("is not that of this seal")
	}
	sum := sha256.Sum256(d.Picture.Data)
	if cur.ImageDigest == nil || hex.EncodeToString(sum[:]) != *cur.ImageDigest {
		return bad("is not for the image in use")
	}
	return nil
}
