package seal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/seal/pades"
	"sealvault/seal/ses"
	"sealvault/vault"
	"sealvault/vault/pages"
)

// Document is a PDF uploaded to be sealed, as its department sees it.
type Document struct {
	Digest     string    `json:"digest"`
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	PageCount  int       `json:"page_count"`
	UploadedBy uuid.UUID `json:"uploaded_by"`
	UploadedAt time.Time `json:"uploaded_at"`
}

// UploadDocument checks a spooled PDF (in a page worker, as material uploads are, and with
// the signer's reader, so that only documents it can sign are accepted), stores it in the
// vault and records it for the uploader's department, which may then request seals on it.
// Uploading the same bytes again returns the earlier record.
func (s *Service) UploadDocument(ctx context.Context, a Actor, f *vault.Spooled, lim pages.Limits, workDir string) (Document, error) {
	dir, err := os.MkdirTemp(workDir, "sealvault-document-*")
	if err != nil {
		return Document{}, fmt.Errorf("seal: document: %w", err)
	}
	defer os.RemoveAll(dir)
	lim.MaxPages = max(lim.MaxPages, 1000)
	res, err := pages.Run(ctx, pages.Job{Kind: "pdf", Files: []pages.JobFile{{Name: f.Name, Path: f.Path}}, Limits: lim, OutDir: dir})
	if err != nil {
		return Document{}, err
	}
	if err := checkSignable(f, res.PageCount); err != nil {
		return Document{}, err
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return Document{}, err
	}
	d, n, err := vault.Put(ctx, s.Blobs, fh, s.Pins)
	fh.Close()
	if err != nil {
		return Document{}, err
	}
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		if err := s.Pins.Hold(ctx, tx, s.Blobs, d); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO seal_documents (digest, department_id, name, size, page_count, uploaded_by, uploaded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, d.String(), a.User.DepartmentID, f.Name, n,
			res.PageCount, a.User.ID, s.now())
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "seal.document.upload", map[string]string{audit.SubjectObject: d.String()},
			map[string]any{"pages": res.PageCount, "size": n}))
	})
	if err != nil {
		return Document{}, err
	}
	return s.GetDocument(ctx, a, d)
}

// checkSignable reads the spooled PDF with the signer's own reader (pades.CheckAt), so that
// a document the signer could not sign is refused at upload, naming why, instead of failing
// when the seal is applied. The reader reads only what the signer would, from the file.
func checkSignable(f *vault.Spooled, pageCount int) error {
	fh, err := os.Open(f.Path)
	if err != nil {
		return fmt.Errorf("seal: document: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("seal: document: %w", err)
	}
	if fi.Size() == 0 {
		return &pages.RejectError{File: f.Name, Reason: "is empty", ReasonZh: "是空文件"}
	}
	n, err := pades.CheckAt(fh, fi.Size())
	if err != nil {
		return &pages.RejectError{File: f.Name,
			Reason:   "cannot be sealed: the signer cannot read it (" + err.Error() + "); save or export it again as PDF",
			ReasonZh: "无法加盖电子印章：签章程序无法读取该文件（" + err.Error() + "），请重新导出为 PDF 后上传"}
	}
	if n != pageCount {
		return &pages.RejectError{File: f.Name,
			Reason:   fmt.Sprintf("cannot be sealed: its page tree holds %d pages, its pages are %d; save or export it again as PDF", n, pageCount),
			ReasonZh: fmt.Sprintf("无法加盖电子印章：页面树记载 %d 页，实有 %d 页，请重新导出为 PDF 后上传", n, pageCount)}
	}
	return nil
}

// GetDocument returns a document of the actor's department.
func (s *Service) GetDocument(ctx context.Context, a Actor, d vault.Digest) (Document, error) {
	var doc Document
	err := s.DB.QueryRow(ctx, `SELECT digest, name, size, page_count, uploaded_by, uploaded_at FROM seal_documents
		WHERE digest = $1 AND department_id = $2`, d.String(), a.User.DepartmentID).Scan(&doc.Digest, &doc.Name, &doc.Size,
		&doc.PageCount, &doc.UploadedBy, &doc.UploadedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return doc, ErrNotFound
	}
	return doc, err
}

// caOwner binds the CA key's custody reference to its row.
const caOwner = "seal-ca"

// OpenCA returns the internal CA, creating its root key and certificate on first use (one
// creator among concurrent first starts).
func OpenCA(ctx context.Context, db pgxDB, custody keys.Custody, name string, now time.Time) (*ca.CA, error) {
	var out *ca.CA
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sealvault.seal_ca'))`); err != nil {
			return err
		}
		var der, ref []byte
		err := tx.QueryRow(ctx, `SELECT cert_der, key_ref FROM seal_ca WHERE id = 1`).Scan(&der, &ref)
		if errors.Is(err, pgx.ErrNoRows) {
			ref, _, err = custody.Create(ctx, keys.ECDSAP256, caOwner)
			if err != nil {
				return err
			}
			signer, err := custody.Signer(ctx, ref, caOwner)
			if err != nil {
				return err
			}
			cert, err := ca.NewRoot(signer, name, now, 20)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO seal_ca (id, cert_der, key_ref) VALUES (1, $1, $2)`, cert.Raw, ref); err != nil {
				return err
			}
			out = &ca.CA{Cert: cert, Key: signer}
			return nil
		} else if err != nil {
			return err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		signer, err := custody.Signer(ctx, ref, caOwner)
		if err != nil {
			return fmt.Errorf("the CA key does not open with this key-encryption key: %w", err)
		}
		out = &ca.CA{Cert: cert, Key: signer}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal: CA: %w", err)
	}
	return out, nil
}

// pgxDB is what OpenCA needs of a database.
type pgxDB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Verification is the report on every signature of a PDF.
type Verification struct {
	Digest     string            `json:"digest"`
	Size       int64             `json:"size"`
	Signatures []SignatureReport `json:"signatures"`
	Valid      bool              `json:"valid"` // at least one signature, and every one valid, trusted and not followed by foreign bytes
	// RegisterConsulted is false for an offline verification (VerifyOffline): no seal or
	// register entry was looked up.
	RegisterConsulted bool `json:"register_consulted"`
	// EmbeddedRoots are the roots taken from the file itself (offline, without a given root).
	EmbeddedRoots []EmbeddedRoot `json:"embedded_roots,omitempty"`
	// ArchiveTimestamps are the file's document timestamps (PAdES B-LTA), oldest first; each
	// must be valid for the file to be.
	ArchiveTimestamps []ArchiveTimestampReport `json:"archive_timestamps"`
}

// ArchiveTimestampReport is one document timestamp (/SubFilter /ETSI.RFC3161): a TSA's
// token over the whole file before it, which keeps the signatures and validation data
// before it verifiable after their certificates expire.
type ArchiveTimestampReport struct {
	Field           string    `json:"field"`
	Time            time.Time `json:"time"`
	TSA             string    `json:"tsa"`
	Serial          string    `json:"serial"`
	CoversWholeFile bool      `json:"covers_whole_file"`
	LaterAdditions  []string  `json:"later_additions"`
	Valid           bool      `json:"valid"`
	Problems        []string  `json:"problems"`
}

// EmbeddedRoot is a self-signed certificate a signature carries, trusted by VerifyOffline
// when no root is given.
type EmbeddedRoot struct {
	Subject string `json:"subject"`
	SHA256  string `json:"sha256"` // of the DER certificate
}

// SignatureReport is one signature: what pades found, and which seal and register entry it is.
type SignatureReport struct {
	Field           string    `json:"field"`
	SubFilter       string    `json:"sub_filter"`
	Signer          string    `json:"signer"`
	CertSerial      string    `json:"certificate_serial"`
	Name            string    `json:"name"`
	Reason          string    `json:"reason"`
	Location        string    `json:"location"`
	SignedAt        time.Time `json:"signed_at"`
	DigestValid     bool      `json:"digest_valid"`
	ChainValid      bool      `json:"chain_valid"`
	ChainError      string    `json:"chain_error,omitempty"`
	CoversWholeFile bool      `json:"covers_whole_file"`
	AppendedBytes   int64     `json:"appended_bytes"`
	RevisionDigest  string    `json:"revision_digest"`
	Problems        []string  `json:"problems"`
	SealID          *string   `json:"seal_id"`
	SealRef         string    `json:"seal_ref,omitempty"`
	SealStatus      string    `json:"seal_status,omitempty"`
	RegisterEntry   *Use      `json:"register_entry"`
	// Timestamp is the signature timestamp (PAdES B-T), nil for a signature without one.
	Timestamp *TimestampReport `json:"timestamp"`
	// SealedAt is the trusted time of the signature: the valid timestamp's, else the
	// register entry's; nil when neither is known (the claimed SignedAt is not trusted).
	// SealedAtSource says which: "timestamp" or "register".
	SealedAt       *time.Time `json:"sealed_at"`
	SealedAtSource string     `json:"sealed_at_source,omitempty"`
	// SealRevokedAt is when the seal was revoked (register consulted), and
	// RevokedAfterSealing whether that was after SealedAt: a use made before its seal's
	// revocation stays valid.
	SealRevokedAt       *time.Time `json:"seal_revoked_at,omitempty"`
	RevokedAfterSealing bool       `json:"revoked_after_sealing,omitempty"`
	// LaterAdditions names what later revisions of the file added after this signature
	// without changing what it signed: "validation data (DSS)", "signature Seal-2",
	// "document timestamp …". They leave the signature valid; anything else after it does
	// not.
	LaterAdditions []string `json:"later_additions"`
	// Level is the PAdES baseline level the signature reaches: B-B; B-T with a valid
	// timestamp; B-LT when the file also embeds the certificates and a CRL of the signer's
	// issuer, so that it validates without the network; B-LTA when a valid document
	// timestamp covers all that.
	Level string `json:"level"`
	// ValidationData counts what the file's Document Security Store holds; nil without one.
	ValidationData *ValidationDataReport `json:"validation_data"`
	// Revocation is what the newest CRL of the signer's issuer at hand (embedded in the file,
	// or given to an offline verification) says of the signer's certificate; nil when none
	// was. Without the register, a revocation it lists is judged against the trusted time.
	Revocation *RevocationReport `json:"revocation"`
	// Summary says in one line when it was sealed and how the seal stands, such as "sealed
	// on 2026-12-07 13:54:11 +08:00 (timestamp by sealvault 时间戳服务), seal revoked on
	// 2027-01-04 09:00:00 +08:00 (after sealing)".
	Summary string `json:"summary"`
	// SealData is, for a PDF electronic seal of the national algorithms (a GB/T 38540
	// SES_Signature made with SM2 over SM3), what the seal data it carries states and every
	// check of the electronic signature; nil for a CMS (PAdES) signature.
	SealData *SealDataReport `json:"seal_data,omitempty"`
	Valid    bool            `json:"valid"`

	ends int64 // where the signed bytes end
}

// SealDataReport is the GB/T 38540 seal data (SES_Seal) inside an electronic signature, and
// the checks of that signature: data-digest, signer-signature, signer-certificate,
// signer-chain, signer-listed, maker-signature, seal-validity, maker-chain.
type SealDataReport struct {
	Name       string `json:"name"`
	ESID       string `json:"es_id"`
	VendorID   string `json:"vendor_id"`
	Maker      string `json:"maker"`
	ValidStart string `json:"valid_start"`
	ValidEnd   string `json:"valid_end"`
	// Valid reports that every check passed.
	Valid  bool        `json:"valid"`
	Checks []ses.Check `json:"checks"`
}

// ValidationDataReport counts what a file embeds for offline validation (PAdES B-LT).
type ValidationDataReport struct {
	Certificates int `json:"certificates"`
	CRLs         int `json:"crls"`
}

// RevocationReport is what a CRL said of a signer certificate: when the CRL was issued,
// whether it came from the file ("embedded") or was given ("given"), and whether and when it
// lists the certificate as revoked.
type RevocationReport struct {
	CRLIssuedAt time.Time  `json:"crl_issued_at"`
	Source      string     `json:"source"`
	Revoked     bool       `json:"revoked"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// readValidationData takes the level, the embedded validation data and the revocation
// status from the signature's verification.
func (r *SignatureReport) readValidationData(sg pades.Signature) {
	if vd := sg.ValidationData; vd != nil {
		r.ValidationData = &ValidationDataReport{Certificates: len(vd.Certs), CRLs: len(vd.CRLs)}
	}
	if rv := sg.Revocation; rv != nil {
		r.Revocation = &RevocationReport{CRLIssuedAt: rv.CRLThisUpdate, Source: "given", Revoked: rv.Revoked}
		if rv.Embedded {
			r.Revocation.Source = "embedded"
		}
		if rv.Revoked {
			at := rv.RevokedAt
			r.Revocation.RevokedAt = &at
		}
	}
	r.Level = "B-B"
	if sg.Timestamp != nil && sg.Timestamp.Valid {
		r.Level = "B-T"
		if sg.ValidationData != nil && len(sg.ValidationData.CRLs) > 0 && len(sg.ValidationData.Certs) > 0 {
			r.Level = "B-LT"
		}
	}
}

// TimestampReport is a signature's timestamp: the TSA's time and name, and whether it
// verifies against the same roots as the signature.
type TimestampReport struct {
	Time     time.Time `json:"time"`
	Accuracy string    `json:"accuracy"`
	TSA      string    `json:"tsa"`
	Serial   string    `json:"serial"`
	Policy   string    `json:"policy"`
	Valid    bool      `json:"valid"`
	Error    string    `json:"error,omitempty"`
}

// Verify checks every signature of pdf against the internal CA's root and finds its seal and
// its seal-use register entry (by the digest of the revision it signed).
func (s *Service) Verify(ctx context.Context, pdf []byte) (Verification, error) {
	t, err := s.trust(ctx)
	if err != nil {
		return Verification{}, err
	}
	return verify(ctx, pdf, t, s)
}

// Trust is what an offline verification trusts besides the file: the roots of PAdES
// signatures, the SM2 roots of electronic seals (GB/T 38540), and CRLs (DER) to judge the
// seals by besides those the file embeds.
type Trust struct {
	Roots    *x509.CertPool
	SM2Roots *smx509.CertPool
	CRLs     [][]byte
}

// VerifyOffline checks every signature of pdf against roots alone, without a register: no
// seal or register entry is looked up and RegisterConsulted is false. With roots nil, the
// self-signed certificates the signatures themselves carry are trusted, and
// EmbeddedRoots names them: a relying party compares them with the service's published root.
// crls are revocation lists (DER) to judge the seals by besides those the file embeds, such
// as a later CRL of the service (GET /api/v1/ca/crl) naming a seal revoked since.
func VerifyOffline(pdf []byte, roots *x509.CertPool, crls ...[]byte) (Verification, error) {
	return VerifyOfflineWith(pdf, Trust{Roots: roots, CRLs: crls})
}

// VerifyOfflineWith is VerifyOffline with the SM2 roots of electronic seals too. With
// t.Roots nil, the self-signed roots the file's signatures carry are trusted (the seal
// makers of electronic seals among them) and named in EmbeddedRoots.
func VerifyOfflineWith(pdf []byte, t Trust) (Verification, error) {
	roots, crls := t.Roots, t.CRLs
	var embedded []EmbeddedRoot
	if roots == nil {
		sigs, err := pades.Verify(pdf, x509.NewCertPool())
		if err != nil {
			return Verification{Signatures: []SignatureReport{}}, &InvalidError{Fields: map[string]string{"file": "is not a readable PDF"}}
		}
		roots = x509.NewCertPool()
		if t.SM2Roots == nil {
			t.SM2Roots = smx509.NewCertPool()
		}
		seen := map[string]bool{}
		for _, sg := range sigs {
			for _, c := range sg.Chain {
				if c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil && !seen[string(c.Raw)] {
					seen[string(c.Raw)] = true
					roots.AddCert(c)
					embedded = append(embedded, EmbeddedRoot{Subject: ca.NameString(c.Subject), SHA256: fmt.Sprintf("%x", sha256.Sum256(c.Raw))})
				}
			}
			// An electronic seal's maker is the SM2 root that also issues its signer.
			if sg.ESeal != nil {
				if c := sg.ESeal.Signature.Seal.Maker; c != nil && c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) &&
					c.CheckSignatureFrom(c) == nil && !seen[string(c.Raw)] {
					seen[string(c.Raw)] = true
					t.SM2Roots.AddCert(c)
					embedded = append(embedded, EmbeddedRoot{Subject: ca.NameString(c.Subject), SHA256: fmt.Sprintf("%x", sha256.Sum256(c.Raw))})
				}
			}
		}
	}
	v, err := verify(context.Background(), pdf, Trust{Roots: roots, SM2Roots: t.SM2Roots, CRLs: crls}, nil)
	v.EmbeddedRoots = append(v.EmbeddedRoots, embedded...)
	return v, err
}

// verify checks pdf's signatures against roots and, when reg is not nil, looks up each one's
// seal and register entry in reg's database.
func verify(ctx context.Context, pdf []byte, t Trust, reg *Service) (Verification, error) {
	sum := sha256.Sum256(pdf)
	v := Verification{Digest: fmt.Sprintf("%x", sum), Size: int64(len(pdf)), Signatures: []SignatureReport{}, RegisterConsulted: reg != nil}
	sigs, err := pades.VerifyWith(pdf, pades.VerifyOptions{Roots: t.Roots, CRLs: t.CRLs, SM2Roots: t.SM2Roots})
	if err != nil {
		return v, &InvalidError{Fields: map[string]string{"file": "is not a readable PDF"}}
	}
	v.Valid = slices.ContainsFunc(sigs, func(sg pades.Signature) bool { return !sg.DocumentTimestamp })
	v.ArchiveTimestamps = []ArchiveTimestampReport{}
	var archivedUpTo int64 // the end of the newest valid document timestamp's signed bytes
	for _, sg := range sigs {
		if sg.DocumentTimestamp {
			a := ArchiveTimestampReport{Field: sg.Field, Time: sg.Time, CoversWholeFile: sg.CoversWholeFile,
				LaterAdditions: sg.LaterAdditions, Problems: sg.Problems,
				Valid: sg.DigestValid && sg.ChainValid && (sg.CoversWholeFile || sg.OnlyAdditionsAfter)}
			if t := sg.Timestamp; t != nil {
				if t.Cert != nil {
					a.TSA = ca.NameString(t.Cert.Subject)
				}
				if t.Serial != nil {
					a.Serial = t.Serial.String()
				}
			}
			if a.LaterAdditions == nil {
				a.LaterAdditions = []string{}
			}
			if a.Problems == nil {
				a.Problems = []string{}
			}
			if a.Valid {
				archivedUpTo = max(archivedUpTo, sg.ByteRange[2]+sg.ByteRange[3])
			}
			v.Valid = v.Valid && a.Valid
			v.ArchiveTimestamps = append(v.ArchiveTimestamps, a)
			continue
		}
		r := SignatureReport{Field: sg.Field, SubFilter: sg.SubFilter, Name: sg.Name, Reason: sg.Reason, Location: sg.Location,
			SignedAt: sg.Time, DigestValid: sg.DigestValid, ChainValid: sg.ChainValid, ChainError: sg.ChainError,
			CoversWholeFile: sg.CoversWholeFile, AppendedBytes: sg.Appended, Problems: sg.Problems,
			LaterAdditions: sg.LaterAdditions}
		if r.Problems == nil {
			r.Problems = []string{}
		}
		if r.LaterAdditions == nil {
			r.LaterAdditions = []string{}
		}
		r.readValidationData(sg)
		if sg.Signer != nil {
			r.Signer, r.CertSerial = ca.NameString(sg.Signer.Subject), sg.Signer.SerialNumber.Text(16)
		}
		if e := sg.ESeal; e != nil {
			signer, sd := e.Signature.Signer, e.Signature.Seal
			r.Signer, r.CertSerial = ca.NameString(signer.Subject), signer.SerialNumber.Text(16)
			r.SealData = &SealDataReport{Name: sd.Name, ESID: sd.ESID, VendorID: sd.Header.VendorID,
				ValidStart: fmtDate(sd.ValidStart.In(cst)), ValidEnd: fmtDate(sd.ValidEnd.In(cst)), Checks: e.Checks}
			if sd.Maker != nil {
				r.SealData.Maker = ca.NameString(sd.Maker.Subject)
			}
			r.SealData.Valid = !slices.ContainsFunc(e.Checks, func(c ses.Check) bool { return !c.OK })
		}
		if r.CertSerial != "" {
			var id string
			var no int64
			if reg != nil {
				var since time.Time
				// The seal's current certificate, or one it had before it was re-keyed.
				if err := reg.DB.QueryRow(ctx, `SELECT id::text, no, status, status_since FROM seals WHERE cert_serial = $1
					UNION ALL SELECT s.id::text, s.no, s.status, s.status_since FROM seal_certificates c JOIN seals s ON s.id = c.seal_id
					WHERE c.cert_serial = $1 LIMIT 1`, r.CertSerial).
					Scan(&id, &no, &r.SealStatus, &since); err == nil {
					r.SealID, r.SealRef = &id, sealRef(no)
					if r.SealStatus == StatusRevoked {
						r.SealRevokedAt = &since
					}
				}
			}
		}
		end := sg.ByteRange[2] + sg.ByteRange[3]
		r.ends = end
		if end > 0 && end <= int64(len(pdf)) {
			rev := sha256.Sum256(pdf[:end])
			r.RevisionDigest = fmt.Sprintf("%x", rev)
			if reg != nil {
				if u, err := reg.UseBySignature(ctx, sg.SignatureDigest, vault.Digest(rev)); err == nil {
					r.RegisterEntry = &u
				} else if !errors.Is(err, ErrNotFound) {
					return v, err
				}
			}
		}
		r.judgeTime(sg.Timestamp)
		// What follows a signature may only add validation data and further signatures.
		r.Valid = r.DigestValid && r.ChainValid && (r.CoversWholeFile || sg.OnlyAdditionsAfter) &&
			(r.SealRevokedAt == nil || r.RevokedAfterSealing)
		if reg != nil && r.RegisterEntry == nil {
			r.Problems = append(r.Problems, "no seal-use register entry of this service matches the signed revision")
		}
		v.Valid = v.Valid && r.Valid
		v.Signatures = append(v.Signatures, r)
	}
	// A B-LT signature a valid document timestamp covers is B-LTA.
	for i := range v.Signatures {
		if r := &v.Signatures[i]; r.Level == "B-LT" && archivedUpTo > 0 && r.ends <= archivedUpTo {
			r.Level = "B-LTA"
		}
	}
	return v, nil
}

// trust is what the service's verification trusts: the internal CA's root, and the top of
// the chain of every imported seal certificate (trusted by the seal admin who imported it);
// for electronic seals, the SM2 root, which issues SM2 seal certificates and makes the seals'
// GB/T 38540 data, and the certificates trusted on import of every seal whose data another
// vendor's maker made.
func (s *Service) trust(ctx context.Context) (Trust, error) {
	t := Trust{Roots: x509.NewCertPool(), SM2Roots: smx509.NewCertPool()}
	t.Roots.AddCert(s.CA.Cert)
	if s.Maker != nil {
		t.SM2Roots.AddCert(s.Maker.Cert)
	}
	rows, err := s.DB.Query(ctx, `SELECT key_alg, cert_der, chain_der FROM seals
		WHERE key_alg = 'imported' OR imported_seal_data IS NOT NULL`)
	if err != nil {
		return Trust{}, fmt.Errorf("seal: trusted roots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var alg string
		var leaf []byte
		var chain [][]byte
		if err := rows.Scan(&alg, &leaf, &chain); err != nil {
			return Trust{}, err
		}
		if alg != "imported" {
			for _, der := range chain {
				if c, err := smx509.ParseCertificate(der); err == nil {
					t.SM2Roots.AddCert(c)
				}
			}
			continue
		}
		top := leaf
		if len(chain) > 0 {
			top = chain[len(chain)-1]
		}
		if c, err := x509.ParseCertificate(top); err == nil {
			t.Roots.AddCert(c)
		}
	}
	return t, rows.Err()
}

// UploadedDocument returns the name of the document with digest d uploaded to be sealed by
// department dept, or ErrNotFound.
func UploadedDocument(ctx context.Context, db vault.Querier, d string, dept uuid.UUID) (string, error) {
	var name string
	err := db.QueryRow(ctx, `SELECT name FROM seal_documents WHERE digest = $1 AND department_id = $2`, d, dept).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	} else if err != nil {
		return "", fmt.Errorf("seal: document: %w", err)
	}
	return name, nil
}

// PublicVerification is what anyone holding a sealed PDF may learn of it without logging
// in: whether each signature is intact, which seal of which department made it, when, and
// whether the seal-use register has it. It is its own type, field by field, so nothing about
// the applicant, the case, the item or the people who asked and approved can reach it.
type PublicVerification struct {
	Digest     string            `json:"digest"`
	Size       int64             `json:"size"`
	Valid      bool              `json:"valid"`
	Signatures []PublicSignature `json:"signatures"`
	// ArchiveTimestamps are as in Verification: a TSA's word, nothing about anyone.
	ArchiveTimestamps []ArchiveTimestampReport `json:"archive_timestamps"`
}

// PublicSignature is one signature of a PublicVerification.
type PublicSignature struct {
	Valid           bool       `json:"valid"`             // intact, trusted, and nothing foreign after it
	Intact          bool       `json:"intact"`            // the signed bytes are unchanged
	Trusted         bool       `json:"trusted"`           // the certificate chains to this service's root
	CoversWholeFile bool       `json:"covers_whole_file"` // no bytes follow the signed range
	AppendedBytes   int64      `json:"appended_bytes"`
	SignedAt        time.Time  `json:"signed_at"`
	SealRef         string     `json:"seal_ref,omitempty"`
	SealName        string     `json:"seal_name,omitempty"`
	SealStatus      string     `json:"seal_status,omitempty"`
	Department      string     `json:"department,omitempty"` // the seal's department
	Registered      bool       `json:"registered"`           // the register has a use with this signed revision
	UseRef          string     `json:"use_ref,omitempty"`
	AppliedAt       *time.Time `json:"applied_at,omitempty"`
	// TimestampedAt and TimestampedBy are the valid signature timestamp's time and TSA.
	TimestampedAt *time.Time `json:"timestamped_at,omitempty"`
	TimestampedBy string     `json:"timestamped_by,omitempty"`
	// LaterAdditions and Level are as in SignatureReport.
	LaterAdditions []string `json:"later_additions"`
	Level          string   `json:"level"`
	// SealedAt, SealRevokedAt, RevokedAfterSealing and Summary are as in SignatureReport.
	SealedAt            *time.Time `json:"sealed_at,omitempty"`
	SealRevokedAt       *time.Time `json:"seal_revoked_at,omitempty"`
	RevokedAfterSealing bool       `json:"revoked_after_sealing,omitempty"`
	Summary             string     `json:"summary"`
	// SealData is, for a PDF electronic seal (GB/T 38540, SM2), the seal data it carries and
	// the checks of it, as in SignatureReport: the seal's public facts, nothing about anyone.
	SealData *SealDataReport `json:"seal_data,omitempty"`
}

// judgeTime sets the signature's trusted time from its timestamp ts (or its register entry),
// judges a revocation against it and writes the summary.
func (r *SignatureReport) judgeTime(ts *pades.Timestamp) {
	var tsaCN string
	if ts != nil {
		r.Timestamp = &TimestampReport{Time: ts.Time, Accuracy: ts.Accuracy.String(), Policy: ts.Policy, Valid: ts.Valid, Error: ts.Error}
		if ts.Cert != nil {
			r.Timestamp.TSA, tsaCN = ca.NameString(ts.Cert.Subject), ts.Cert.Subject.CommonName
		}
		if ts.Serial != nil {
			r.Timestamp.Serial = ts.Serial.String()
		}
	}
	var by string
	switch {
	case r.Timestamp != nil && r.Timestamp.Valid:
		at := r.Timestamp.Time
		r.SealedAt, r.SealedAtSource = &at, "timestamp"
		by = "timestamp by " + tsaCN
	case r.RegisterEntry != nil:
		at := r.RegisterEntry.AppliedAt
		r.SealedAt, r.SealedAtSource = &at, "register"
		by = "register entry " + r.RegisterEntry.Ref + "; no valid timestamp"
	}
	var parts []string
	if r.SealedAt != nil {
		parts = append(parts, fmt.Sprintf("sealed on %s (%s)", fmtTime(*r.SealedAt), by))
	} else {
		parts = append(parts, fmt.Sprintf("claims to be sealed on %s (no trusted time: no valid timestamp)", fmtTime(r.SignedAt)))
	}
	// Without the register's word, the CRL's.
	if rv := r.Revocation; rv != nil && r.SealRevokedAt == nil {
		where := map[string]string{"embedded": "embedded in the file", "given": "given"}[rv.Source]
		if rv.Revoked {
			r.SealRevokedAt = rv.RevokedAt
		} else {
			parts = append(parts, fmt.Sprintf("not revoked according to the CRL of %s (%s)", fmtTime(rv.CRLIssuedAt), where))
		}
	}
	if r.SealRevokedAt != nil {
		switch {
		case r.SealedAt != nil && r.SealedAt.Before(*r.SealRevokedAt):
			r.RevokedAfterSealing = true
			parts = append(parts, fmt.Sprintf("seal revoked on %s (after sealing)", fmtTime(*r.SealRevokedAt)))
		case r.SealedAt != nil:
			parts = append(parts, fmt.Sprintf("seal revoked on %s (before sealing)", fmtTime(*r.SealRevokedAt)))
			r.Problems = append(r.Problems, "the seal was revoked before this signature was made")
		default:
			parts = append(parts, fmt.Sprintf("seal revoked on %s", fmtTime(*r.SealRevokedAt)))
			r.Problems = append(r.Problems, "the seal is revoked and the signature has no trusted time to show it was made before")
		}
	}
	r.Summary = strings.Join(parts, ", ")
}

// fmtTime writes t in China Standard Time, the service's zone, to the second.
func fmtTime(t time.Time) string {
	return t.In(cst).Format("2006-01-02 15:04:05 -07:00")
}
