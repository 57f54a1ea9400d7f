package seal

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/seal/keys"
	"sealvault/seal/ses"
	"sealvault/vault"
)

// sealDataImport is another vendor's seal data and its signer's key, checked.
type sealDataImport struct {
	digest  vault.Digest  // where the SES_Seal is stored
	seal    *ses.Seal     // as parsed
	key     crypto.Signer // the signer's SM2 key
	cert    *smx509.Certificate
	trusted [][]byte     // the signer's issuers and the maker's certificate, trusted on import
	picture vault.Digest // the PNG the seal data carries, stored
	width   int
	height  int
}

// ImportSealData registers an SM2 seal whose GB/T 38540 seal data (SES_Seal, version 4)
// another vendor's seal maker made: data, the signer's SM2 key, and issuers, the
// certificates that issued the signer's certificate (the seal administrator trusts them and
// the maker's certificate the data carries, as one trusts an imported certificate's chain).
// The data must verify now, name the key's certificate, chain it to issuers, and carry a
// PNG picture with transparency, which becomes the seal's image; the seal's name and term
// are the data's unless n gives them within it. Its uses are electronic signatures with
// that data, checked before each use against the trusted certificates; its image cannot be
// changed here (new data from its maker is a new import).
func (s *Service) ImportSealData(ctx context.Context, a Actor, n NewSeal, data []byte, key crypto.Signer, issuers []*smx509.Certificate) (Seal, error) {
	bad := func(field, why string) error { return &InvalidError{Fields: map[string]string{field: why}} }
	d, err := ses.ParseSeal(data)
	if err != nil {
		return Seal{}, bad("seal_data", "is not GB/T 38540 seal data (SES_Seal, version 4): "+err.Error())
	}
	if key == nil || !keys.IsSM2(key.Public()) {
		return Seal{}, bad("private_key", "must be the SM2 private key of a signer the seal data names")
	}
	var cert *smx509.Certificate
	for _, c := range d.Certs {
		if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(key.Public()) {
			cert = c
		}
	}
	if cert == nil {
		return Seal{}, bad("private_key", "is not the key of a certificate the seal data lists")
	}
	roots := smx509.NewCertPool()
	var trusted [][]byte
	for _, c := range issuers {
		roots.AddCert(c)
		trusted = append(trusted, c.Raw)
	}
	if d.Maker != nil {
		roots.AddCert(d.Maker)
		trusted = append(trusted, d.Maker.Raw)
	}
	now := s.now()
	if r := d.Verify(now, roots); !r.Valid {
		for _, c := range r.Checks {
			if !c.OK {
				return Seal{}, bad("seal_data", "does not verify now: "+c.Detail)
			}
		}
	}
	if _, err := cert.Verify(smx509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
		return Seal{}, bad("certificate", "the signer's certificate does not chain to the issuers given: "+err.Error())
	}
	if d.Picture.Type != "PNG" {
		return Seal{}, bad("seal_data", fmt.Sprintf("carries a %s picture; only a PNG picture can be stamped on a PDF", d.Picture.Type))
	}
	w, h, err := CheckImage(d.Picture.Data)
	if err != nil {
		return Seal{}, bad("seal_data", "its picture: "+err.Error())
	}
	if n.Name == "" {
		n.Name = d.Name
	} else if n.Name != d.Name {
		return Seal{}, bad("name", fmt.Sprintf("is not the seal data's name %q", d.Name))
	}
	start, end := d.ValidStart.In(cst), d.ValidEnd.In(cst)
	if n.ValidFrom == "" {
		n.ValidFrom = fmtDate(maxTime(start, now.In(cst)))
	}
	if n.ValidUntil == "" {
		n.ValidUntil = fmtDate(end.Add(-time.Second))
	}
	if from, err := time.ParseInLocation(time.DateOnly, n.ValidFrom, cst); err == nil && from.Before(start.Truncate(24*time.Hour)) {
		return Seal{}, bad("valid_from", "is before the seal data's start, "+fmtDate(start))
	}
	if until, err := time.ParseInLocation(time.DateOnly, n.ValidUntil, cst); err == nil && !until.Before(end) {
		return Seal{}, bad("valid_until", "is not before the seal data's end, "+fmtDate(end))
	}
	digest, _, err := vault.Put(ctx, s.Blobs, bytes.NewReader(data), s.Pins)
	if err != nil {
		return Seal{}, err
	}
	pic, _, err := vault.Put(ctx, s.Blobs, bytes.NewReader(d.Picture.Data), s.Pins)
	if err != nil {
		return Seal{}, err
	}
	return s.register(ctx, a, n, nil, &sealDataImport{digest: digest, seal: d, key: key, cert: cert,
		trusted: trusted, picture: pic, width: w, height: h})
}

// recordImportedImage records, on the transaction filing seal id, its imported seal data's
// picture as image version 1 and the data as that version's seal data.
func (s *Service) recordImportedImage(ctx context.Context, tx pgx.Tx, a Actor, id uuid.UUID, ref string, si *sealDataImport) error {
	pic := si.picture
	if err := s.Pins.Hold(ctx, tx, s.Blobs, pic); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO seal_images (seal_id, version, digest, width, height, created_by)
		VALUES ($1, 1, $2, $3, $4, $5)`, id, pic.String(), si.width, si.height, a.User.ID); err != nil {
		return err
	}
	if err := s.recordSealData(ctx, tx, id, 1, si.digest); err != nil {
		return err
	}
	return audit.Append(ctx, tx, a.Event(s.now(), "seal.image", map[string]string{audit.SubjectSeal: id.String(),
		audit.SubjectObject: pic.String()}, map[string]any{"ref": ref, "version": 1, "seal_data": si.digest.String(),
		"seal_data_imported": true, "vendor": si.seal.Header.VendorID}))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
