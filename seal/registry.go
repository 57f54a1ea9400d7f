package seal

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/big"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/vault"
)

// Seal is one registered seal, as the API shows it. Its key never leaves the service.
type Seal struct {
	ID           uuid.UUID `json:"id"`
	Ref          string    `json:"ref"` // S-<no>
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	DepartmentID uuid.UUID `json:"department_id"`
	Department   string    `json:"department"`
	SupervisorID uuid.UUID `json:"supervisor_id"`
	// SupervisorName and Custodians name the people for pages that show the seal.
	SupervisorName string      `json:"supervisor_name"`
	CustodianIDs   []uuid.UUID `json:"custodian_ids"`
	Custodians     []Person    `json:"custodians"`
	Status         string      `json:"status"`
	StatusSince    time.Time   `json:"status_since"`
	ValidFrom      string      `json:"valid_from"`
	ValidUntil     string      `json:"valid_until"`
	KeyAlgorithm   string      `json:"key_algorithm"`
	CertSerial     string      `json:"certificate_serial"`
	ImageVersion   int         `json:"image_version"` // 0: no image yet
	ImageDigest    *string     `json:"image_digest"`
	// ScanToVerify says whether the seal's stamps carry the QR code of their use's public
	// verification address (扫码验真); on unless turned off.
	ScanToVerify bool `json:"scan_to_verify"`
	// ImportedSealData reports an SM2 seal whose GB/T 38540 seal data another vendor's seal
	// maker made (ImportSealData): its image is that data's picture and cannot be changed here.
	ImportedSealData bool `json:"imported_seal_data,omitempty"`
	// ImageNote, on filing only, says why no image could be drawn from the seal's data.
	ImageNote     string    `json:"image_note,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	no            int64
	certDER       []byte
	chainDER      [][]byte // an imported certificate's issuers
	keyRef        []byte
	validFrom     time.Time
	validUntil    time.Time
	departmentNm  string
	imageVersionN int
}

// NewSeal is a seal to register (备案).
type NewSeal struct {
	Name         string      `json:"name"`
	Type         string      `json:"type"`
	DepartmentID uuid.UUID   `json:"department_id"`
	SupervisorID uuid.UUID   `json:"supervisor_id"`
	CustodianIDs []uuid.UUID `json:"custodian_ids"`
	ValidFrom    string      `json:"valid_from"`
	ValidUntil   string      `json:"valid_until"`
	KeyAlgorithm string      `json:"key_algorithm"` // sm2, ecdsa-p256 or rsa-3072 (empty: Service.DefaultKeyAlgorithm)
}

const sealColumns = `s.id, s.no, s.name, s.type, s.department_id, d.name, s.supervisor_id, s.status, s.status_since,
	s.valid_from, s.valid_until, s.key_alg, s.cert_serial, s.cert_der, s.chain_der, s.key_ref, s.created_at,
	(SELECT array_agg(user_id ORDER BY user_id) FROM seal_custodians c WHERE c.seal_id = s.id),
	(SELECT array_agg(cu.display_name ORDER BY c.user_id) FROM seal_custodians c JOIN users cu ON cu.id = c.user_id WHERE c.seal_id = s.id),
	(SELECT su.display_name FROM users su WHERE su.id = s.supervisor_id),
	(SELECT max(version) FROM seal_images i WHERE i.seal_id = s.id),
	(SELECT digest FROM seal_images i WHERE i.seal_id = s.id ORDER BY version DESC LIMIT 1), s.scan_to_verify,
	s.imported_seal_data IS NOT NULL`

func scanSeal(row pgx.Row) (Seal, error) { return scanSealWith(row.Scan) }

// scanSealWith is scanSeal with the row's Scan, which may take other columns before the seal's.
func scanSealWith(scan func(dest ...any) error) (Seal, error) {
	var s Seal
	var custodians []uuid.UUID
	var custodianNames []string
	var supervisor *string
	var version *int32
	err := scan(&s.ID, &s.no, &s.Name, &s.Type, &s.DepartmentID, &s.Department, &s.SupervisorID, &s.Status,
		&s.StatusSince, &s.validFrom, &s.validUntil, &s.KeyAlgorithm, &s.CertSerial, &s.certDER, &s.chainDER, &s.keyRef,
		&s.CreatedAt, &custodians, &custodianNames, &supervisor, &version, &s.ImageDigest, &s.ScanToVerify,
		&s.ImportedSealData)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	} else if err != nil {
		return s, fmt.Errorf("seal: read seal: %w", err)
	}
	s.Ref = sealRef(s.no)
	s.CustodianIDs = custodians
	if s.CustodianIDs == nil {
		s.CustodianIDs = []uuid.UUID{}
	}
	s.Custodians = make([]Person, len(s.CustodianIDs))
	for i, id := range s.CustodianIDs {
		s.Custodians[i] = Person{ID: id, Name: custodianNames[i]}
	}
	if supervisor != nil {
		s.SupervisorName = *supervisor
	}
	if version != nil {
		s.ImageVersion = int(*version)
	}
	s.validFrom = time.Date(s.validFrom.Year(), s.validFrom.Month(), s.validFrom.Day(), 0, 0, 0, 0, cst)
	s.validUntil = time.Date(s.validUntil.Year(), s.validUntil.Month(), s.validUntil.Day(), 0, 0, 0, 0, cst)
	s.ValidFrom, s.ValidUntil = fmtDate(s.validFrom), fmtDate(s.validUntil)
	return s, nil
}

// Certificate returns the seal's certificate; for an SM2 seal, whose certificate the
// standard library cannot read, use SM2Certificate.
func (s Seal) Certificate() (*x509.Certificate, error) {
	if s.KeyAlgorithm == string(keys.SM2) {
		return nil, fmt.Errorf("seal: %s has an SM2 certificate", s.Ref)
	}
	return x509.ParseCertificate(s.certDER)
}

// imageFixed refuses a new image for a seal whose seal data another vendor's maker made:
// the data carries the picture, and only its maker can make new data.
func (s Seal) imageFixed() error {
	if !s.ImportedSealData {
		return nil
	}
	return &ConflictError{Detail: fmt.Sprintf("seal %s carries seal data another seal maker made, with its picture: a new image needs new seal data from that maker, imported as a new seal", s.Ref),
		DetailZh: fmt.Sprintf("印章 %s 的电子印章数据由其他制章系统制作，印模图像随数据而定：更换图像需由原制章方制作新的印章数据，并作为新印章导入", s.Ref)}
}

// SM2Certificate returns an SM2 seal's certificate, issued by the SM2 root.
func (s Seal) SM2Certificate() (*smx509.Certificate, error) {
	return smx509.ParseCertificate(s.certDER)
}

// CertificatePEM returns the seal's certificate as PEM, whatever its algorithm.
func (s Seal) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.certDER})
}

// CertificateDER returns the seal's certificate, DER-encoded.
func (s Seal) CertificateDER() []byte { return s.certDER }

// chain returns the certificates a signature by the seal carries: its own, then its
// issuers (the internal CA's root, or an imported certificate's chain).
func (s Seal) chain(root *x509.Certificate) ([]*x509.Certificate, error) {
	if s.KeyAlgorithm == string(keys.SM2) {
		return nil, nil // an SM2 seal's certificate travels in its electronic signature
	}
	cert, err := s.Certificate()
	if err != nil {
		return nil, err
	}
	if s.KeyAlgorithm != "imported" {
		return []*x509.Certificate{cert, root}, nil
	}
	out := []*x509.Certificate{cert}
	for _, der := range s.chainDER {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Imported is an externally issued seal certificate (with its issuers, nearest first) and its
// private key, from a PKCS#12 or PEM file (seal/keys.ImportPKCS12, ImportPEM).
type Imported struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// getSeal reads one seal; lock is "" or a row-lock clause such as "FOR SHARE OF s".
func getSeal(ctx context.Context, db vault.Querier, id uuid.UUID, lock string) (Seal, error) {
	return scanSeal(db.QueryRow(ctx, `SELECT `+sealColumns+` FROM seals s JOIN departments d ON d.id = s.department_id
		WHERE s.id = $1 `+lock, id))
}

// GetSeal returns one seal. Every signed-in user may read the registry.
func (s *Service) GetSeal(ctx context.Context, id uuid.UUID) (Seal, error) {
	return getSeal(ctx, s.DB, id, "")
}

// ListSeals returns the seals, of one department if dept is not nil, by number.
func (s *Service) ListSeals(ctx context.Context, dept *uuid.UUID) ([]Seal, error) {
	rows, err := s.DB.Query(ctx, `SELECT `+sealColumns+` FROM seals s JOIN departments d ON d.id = s.department_id
		WHERE $1::uuid IS NULL OR s.department_id = $1 ORDER BY s.no`, dept)
	if err != nil {
		return nil, fmt.Errorf("seal: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Seal, error) { return scanSeal(r) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateSeal registers (备案) a seal in status pending: it generates the seal's key in
// custody and has the CA issue its certificate, valid within the seal's dates. It has no
// image yet: DrawFirstImage draws one from its data.
func (s *Service) CreateSeal(ctx context.Context, a Actor, n NewSeal) (Seal, error) {
	return s.register(ctx, a, n, nil, nil)
}

// ImportSeal registers a seal whose certificate an outside CA issued, with its key (which
// then stays in custody like a generated one). The seal's dates must lie within the
// certificate's validity, and the certificate must allow signing.
func (s *Service) ImportSeal(ctx context.Context, a Actor, n NewSeal, imp Imported) (Seal, error) {
	n.KeyAlgorithm = ""
	return s.register(ctx, a, n, &imp, nil)
}

// register files a seal: with a key made here (imp and si nil), an imported certificate and
// key (imp), or imported SM2 seal data and its signer's key (si).
func (s *Service) register(ctx context.Context, a Actor, n NewSeal, imp *Imported, si *sealDataImport) (Seal, error) {
	bad := map[string]string{}
	n.Name = strings.TrimSpace(n.Name)
	if l := len([]rune(n.Name)); l == 0 || l > 64 {
		bad["name"] = "is required, at most 64 characters (the certificate's common name)"
	}
	if _, ok := typeNames[n.Type]; !ok {
		bad["type"] = "must be one of official, business, contract, finance, legal_rep"
	}
	from, until := parseTerm(n.ValidFrom, n.ValidUntil, bad)
	if n.KeyAlgorithm == "" {
		n.KeyAlgorithm = s.DefaultKeyAlgorithm
	}
	alg, err := keys.ParseAlgorithm(n.KeyAlgorithm)
	if si != nil {
		alg, err = keys.SM2, nil
	}
	if err != nil && imp == nil {
		bad["key_algorithm"] = "must be sm2, ecdsa-p256 or rsa-3072"
	} else if alg == keys.SM2 && imp == nil && si == nil && s.Maker == nil {
		bad["key_algorithm"] = "sm2 needs the service's SM2 root, which this service has not"
	}
	if n.DepartmentID == uuid.Nil {
		bad["department_id"] = "is required"
	}
	if n.SupervisorID == uuid.Nil {
		bad["supervisor_id"] = "is required"
	}
	if len(bad) > 0 {
		return Seal{}, &InvalidError{Fields: bad}
	}
	dept, err := identity.GetDepartment(ctx, s.DB, n.DepartmentID)
	if errors.Is(err, identity.ErrNotFound) {
		return Seal{}, &InvalidError{Fields: map[string]string{"department_id": "no such department"}}
	} else if err != nil {
		return Seal{}, err
	}
	if err := s.manages(ctx, s.DB, a, dept.ID); err != nil {
		return Seal{}, err
	}
	for i, uid := range append([]uuid.UUID{n.SupervisorID}, n.CustodianIDs...) {
		field := "supervisor_id"
		if i > 0 {
			field = fmt.Sprintf("custodian_ids[%d]", i-1)
		}
		u, err := identity.GetUser(ctx, s.DB, uid)
		if errors.Is(err, identity.ErrNotFound) || (err == nil && u.Disabled) {
			bad[field] = "no such active user"
		} else if err != nil {
			return Seal{}, err
		}
	}
	if len(bad) > 0 {
		return Seal{}, &InvalidError{Fields: bad}
	}

	notAfter := until.AddDate(0, 0, 1).Add(-time.Second)
	if imp != nil {
		if err := checkImported(*imp, from, notAfter); err != nil {
			return Seal{}, err
		}
	}
	id := uuid.New()
	var no int64
	if err := s.DB.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('seals', 'no'))`).Scan(&no); err != nil {
		return Seal{}, fmt.Errorf("seal: number: %w", err)
	}
	var ref []byte
	var cert *x509.Certificate
	var certDER []byte
	var serial string
	var chainDER [][]byte
	var importedData *string
	switch {
	case si != nil:
		certDER, serial = si.cert.Raw, si.cert.SerialNumber.Text(16)
		chainDER = si.trusted
		d := si.digest.String()
		importedData = &d
		if ref, err = s.Custody.Import(ctx, si.key, id.String()); err != nil {
			return Seal{}, fmt.Errorf("seal: key: %w", err)
		}
	case imp != nil:
		alg, cert = "imported", imp.Chain[0]
		for _, c := range imp.Chain[1:] {
			chainDER = append(chainDER, c.Raw)
		}
		if ref, err = s.Custody.Import(ctx, imp.Key, id.String()); err != nil {
			return Seal{}, fmt.Errorf("seal: key: %w", err)
		}
	default:
		var pub crypto.PublicKey
		if ref, pub, err = s.Custody.Create(ctx, alg, id.String()); err != nil {
			return Seal{}, fmt.Errorf("seal: key: %w", err)
		}
		subject := ca.SealSubject{Department: dept.Name, DepartmentCode: dept.Code, SealName: n.Name,
			SealCode: sealRef(no), SealType: n.Type}
		if alg == keys.SM2 {
			c, err := s.Maker.IssueSeal(pub, subject, from, notAfter, s.sm2CRLURL())
			if err != nil {
				return Seal{}, fmt.Errorf("seal: certificate: %w", err)
			}
			certDER, serial = c.Raw, c.SerialNumber.Text(16)
		} else if cert, err = s.CA.IssueSeal(pub, subject, from, notAfter); err != nil {
			return Seal{}, fmt.Errorf("seal: certificate: %w", err)
		}
	}
	if cert != nil {
		certDER, serial = cert.Raw, cert.SerialNumber.Text(16)
	}
	if chainDER == nil {
		chainDER = [][]byte{}
	}
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO seals (id, no, name, type, department_id, supervisor_id, valid_from, valid_until, key_alg,
				key_ref, cert_der, chain_der, cert_serial, created_by, imported_seal_data)
			OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			id, no, n.Name, n.Type, dept.ID, n.SupervisorID, from, until, string(alg), ref, certDER, chainDER,
			serial, a.User.ID, importedData); err != nil {
			return err
		}
		if si != nil {
			if err := s.recordImportedImage(ctx, tx, a, id, sealRef(no), si); err != nil {
				return err
			}
		}
		for _, c := range n.CustodianIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO seal_custodians (seal_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, c); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "seal.create", map[string]string{audit.SubjectSeal: id.String(),
			audit.SubjectDepartment: dept.ID.String()}, map[string]any{"ref": sealRef(no), "type": n.Type,
			"key_algorithm": string(alg), "certificate_serial": serial}))
	})
	if isUnique(err, "seals_cert_serial_key") {
		return Seal{}, &InvalidError{Fields: map[string]string{"certificate": "is already registered for another seal"}}
	}
	if err != nil {
		return Seal{}, err
	}
	return s.GetSeal(ctx, id)
}

// checkImported makes sure an imported certificate can sign for the seal's whole term.
func checkImported(imp Imported, from, notAfter time.Time) error {
	if imp.Key == nil || len(imp.Chain) == 0 {
		return &InvalidError{Fields: map[string]string{"certificate": "a certificate and its private key are required"}}
	}
	c := imp.Chain[0]
	switch {
	case c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0:
		return &InvalidError{Fields: map[string]string{"certificate": "does not allow signing (key usage digitalSignature or contentCommitment)"}}
	case from.Before(c.NotBefore.Truncate(24 * time.Hour)):
		return &InvalidError{Fields: map[string]string{"valid_from": "is before the certificate's start, " + fmtDate(c.NotBefore)}}
	case notAfter.After(c.NotAfter):
		return &InvalidError{Fields: map[string]string{"valid_until": "is after the certificate's end, " + fmtDate(c.NotAfter)}}
	}
	return nil
}

// transitions lists the allowed status changes and their audit actions.
var transitions = map[[2]string]string{
	{StatusPending, StatusActive}:    "seal.activate",
	{StatusSuspended, StatusActive}:  "seal.reactivate",
	{StatusActive, StatusSuspended}:  "seal.suspend",
	{StatusPending, StatusRevoked}:   "seal.revoke",
	{StatusActive, StatusRevoked}:    "seal.revoke",
	{StatusSuspended, StatusRevoked}: "seal.revoke",
}

// Transition moves a seal to status to, for reason. Activation needs a seal image.
// Revocation is final and revokes the seal's certificate (it appears on the CRL).
func (s *Service) Transition(ctx context.Context, a Actor, id uuid.UUID, to, reason string) (Seal, error) {
	reason = strings.TrimSpace(reason)
	bad := map[string]string{}
	if _, ok := statusNames[to]; !ok || to == StatusPending {
		bad["status"] = "must be active, suspended or revoked"
	}
	if l := len([]rune(reason)); l == 0 || l > 500 {
		bad["reason"] = "is required, at most 500 characters"
	}
	if len(bad) > 0 {
		return Seal{}, &InvalidError{Fields: bad}
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		cur, err := getSeal(ctx, tx, id, "FOR UPDATE OF s")
		if err != nil {
			return err
		}
		if err := s.manages(ctx, tx, a, cur.DepartmentID); err != nil {
			return err
		}
		action := transitions[[2]string{cur.Status, to}]
		if action == "" {
			return &ConflictError{
				Detail:   fmt.Sprintf("seal %s is %s; it cannot become %s", cur.Ref, cur.Status, to),
				DetailZh: fmt.Sprintf("印章 %s 当前为「%s」，不能变更为「%s」", cur.Ref, statusNames[cur.Status], statusNames[to])}
		}
		if to == StatusActive && cur.ImageVersion == 0 {
			return &ConflictError{Detail: fmt.Sprintf("seal %s has no seal image yet; upload one before activating it", cur.Ref),
				DetailZh: fmt.Sprintf("印章 %s 尚无印模图像，请先上传后再启用", cur.Ref)}
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE seals SET status = $2, status_since = $3 WHERE id = $1`, id, to, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO seal_transitions (seal_id, from_status, to_status, reason, by_user, at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, cur.Status, to, reason, a.User.ID, now); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(now, action, map[string]string{audit.SubjectSeal: id.String(),
			audit.SubjectDepartment: cur.DepartmentID.String()}, map[string]any{"ref": cur.Ref, "from": cur.Status,
			"to": to, "reason": reason}))
	})
	s.signers.forget(id)
	if err != nil {
		return Seal{}, err
	}
	return s.GetSeal(ctx, id)
}

// Seal image limits: a PNG of at most 2 MiB, 64 to 2000 pixels a side, with transparency.
const (
	maxImageBytes = 2 << 20
	minImageSide  = 64
	maxImageSide  = 2000
)

// CheckImage decodes a seal image and returns its size, or an *InvalidError saying why it
// cannot be one.
func CheckImage(data []byte) (w, h int, err error) {
	bad := func(reason string) (int, int, error) {
		return 0, 0, &InvalidError{Fields: map[string]string{"image": reason}}
	}
	if len(data) > maxImageBytes {
		return bad(fmt.Sprintf("is larger than %d bytes", maxImageBytes))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return bad("is not a PNG image")
	}
	if cfg.Width < minImageSide || cfg.Height < minImageSide || cfg.Width > maxImageSide || cfg.Height > maxImageSide {
		return bad(fmt.Sprintf("is %d×%d pixels; a seal image must be %d to %d pixels on each side", cfg.Width, cfg.Height, minImageSide, maxImageSide))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return bad("is a damaged PNG image")
	}
	if !hasTransparency(img) {
		return bad("has no transparent pixels; a seal image must be a PNG with a transparent background")
	}
	return cfg.Width, cfg.Height, nil
}

func hasTransparency(img image.Image) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += max(1, b.Dy()/64) {
		for x := b.Min.X; x < b.Max.X; x += max(1, b.Dx()/64) {
			if _, _, _, a := img.At(x, y).RGBA(); a < 0xffff {
				return true
			}
		}
	}
	return false
}

// AddImage stores a new version of the seal's image; earlier uses keep the version they drew.
func (s *Service) AddImage(ctx context.Context, a Actor, id uuid.UUID, data []byte) (Seal, error) {
	w, h, err := CheckImage(data)
	if err != nil {
		return Seal{}, err
	}
	cur, err := s.GetSeal(ctx, id)
	if err != nil {
		return Seal{}, err
	}
	if err := s.manages(ctx, s.DB, a, cur.DepartmentID); err != nil {
		return Seal{}, err
	}
	if cur.Status == StatusRevoked {
		return Seal{}, &ConflictError{Detail: fmt.Sprintf("seal %s is revoked", cur.Ref), DetailZh: fmt.Sprintf("印章 %s 已注销", cur.Ref)}
	}
	if err := cur.imageFixed(); err != nil {
		return Seal{}, err
	}
	d, _, err := vault.Put(ctx, s.Blobs, bytes.NewReader(data), s.Pins)
	if err != nil {
		return Seal{}, err
	}
	// The seal data (GB/T 38540) of this image, made before the transaction that records
	// both: an object stored without its row is left to gc.
	var sd vault.Digest
	if s.Maker != nil {
		if sd, err = s.makeSealData(ctx, cur, data); err != nil {
			return Seal{}, err
		}
	}
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		if err := s.Pins.Hold(ctx, tx, s.Blobs, d); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `
			INSERT INTO seal_images (seal_id, version, digest, width, height, created_by)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 FROM seal_images WHERE seal_id = $1
			RETURNING version`, id, d.String(), w, h, a.User.ID).Scan(&version); err != nil {
			return err
		}
		details := map[string]any{"ref": cur.Ref, "version": version}
		if s.Maker != nil {
			if err := s.recordSealData(ctx, tx, id, version, sd); err != nil {
				return err
			}
			details["seal_data"] = sd.String()
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "seal.image", map[string]string{audit.SubjectSeal: id.String(),
			audit.SubjectObject: d.String()}, details))
	})
	if isUnique(err, "seal_images_pkey") {
		return Seal{}, &ConflictError{Detail: "another image was uploaded at the same time; try again", DetailZh: "同时有其他印模图像上传，请重试"}
	}
	if err != nil {
		return Seal{}, err
	}
	return s.GetSeal(ctx, id)
}

// CRL returns the CA's current certificate revocation list (DER), listing every revoked seal's
// certificate; each call issues a new one with the next CRL number.
func (s *Service) CRL(ctx context.Context) ([]byte, error) {
	// A revoked seal's current certificate and those it had before a re-key.
	return s.issueCRL(ctx, 1, `SELECT cert_serial, status_since FROM seals WHERE status = 'revoked' AND key_alg <> 'sm2'
		UNION ALL SELECT c.cert_serial, s.status_since FROM seal_certificates c JOIN seals s ON s.id = c.seal_id WHERE s.status = 'revoked'`,
		s.CA.CRL)
}

// SM2CRL returns the SM2 root's current certificate revocation list (DER, signed with SM2),
// listing every revoked SM2 seal's certificate it issued; each call issues a new one with the
// next CRL number of the SM2 root.
func (s *Service) SM2CRL(ctx context.Context) ([]byte, error) {
	if s.Maker == nil {
		return nil, ErrNotFound
	}
	return s.issueCRL(ctx, 2, `SELECT cert_serial, status_since FROM seals
		WHERE status = 'revoked' AND key_alg = 'sm2' AND imported_seal_data IS NULL`, s.Maker.CRL)
}

// issueCRL issues, with sign and the next CRL number of seal_ca row caRow, a CRL listing the
// certificates revoked (serial in hexadecimal, revocation time) that query selects.
func (s *Service) issueCRL(ctx context.Context, caRow int, query string,
	sign func(number int64, revoked []ca.Revoked, thisUpdate, nextUpdate time.Time) ([]byte, error)) ([]byte, error) {
	rows, err := s.DB.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("seal: crl: %w", err)
	}
	revoked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ca.Revoked, error) {
		var serial string
		var at time.Time
		if err := r.Scan(&serial, &at); err != nil {
			return ca.Revoked{}, err
		}
		n, ok := new(big.Int).SetString(serial, 16)
		if !ok {
			return ca.Revoked{}, fmt.Errorf("seal: crl: certificate serial %q", serial)
		}
		return ca.Revoked{Serial: n, At: at, Reason: 0}, nil
	})
	if err != nil {
		return nil, err
	}
	var number int64
	if err := s.DB.QueryRow(ctx, `UPDATE seal_ca SET crl_number = crl_number + 1 WHERE id = $1 RETURNING crl_number`, caRow).Scan(&number); err != nil {
		return nil, fmt.Errorf("seal: crl number: %w", err)
	}
	now := s.now()
	return sign(number, revoked, now, now.Add(24*time.Hour))
}

// sm2CRLURL is where SM2 seal certificates say their CRL is.
func (s *Service) sm2CRLURL() string {
	base := s.PublicURL
	if base == "" {
		base = DefaultPublicURL
	}
	return strings.TrimRight(base, "/") + "/api/v1/ca/sm2-crl"
}

// Person names a member of staff on a page: a seal's custodian, a supervisor.
type Person struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// SealTag names a seal a letter covers.
type SealTag struct {
	ID   uuid.UUID `json:"id"`
	Ref  string    `json:"ref"`
	Name string    `json:"name"`
}
