package seal

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/audit"
	"sealvault/internal/identity"
	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/vault"
)

// Rekeyed is what Rekey did to one seal.
type Rekeyed struct {
	Seal         string `json:"seal"`
	OldSerial    string `json:"old_certificate_serial"`
	NewSerial    string `json:"new_certificate_serial"`
	InToken      bool   `json:"in_token"`
	ImageVersion int    `json:"image_version"`
}

// Rekey gives seal id a new key, made by the service's custody (the PKCS#11 token when one
// is configured), and a new certificate from the CA with the same subject and validity, as
// seal admin a: the old certificate is kept in seal_certificates, so every earlier use still
// finds its seal when verified, and the old key's reference is dropped with the row's old
// values. The seal's image is recorded again as a new version, whose GB/T 38540 seal data
// names the new certificate; a use signing with the old key meanwhile is refused as for any
// image change. An imported seal cannot be re-keyed (its certificate is another CA's), nor a
// revoked one.
func (s *Service) Rekey(ctx context.Context, a Actor, id uuid.UUID) (Rekeyed, error) {
	cur, err := s.GetSeal(ctx, id)
	if err != nil {
		return Rekeyed{}, err
	}
	if err := s.manages(ctx, s.DB, a, cur.DepartmentID); err != nil {
		return Rekeyed{}, err
	}
	switch {
	case cur.Status == StatusRevoked:
		return Rekeyed{}, &ConflictError{Detail: fmt.Sprintf("seal %s is revoked", cur.Ref), DetailZh: fmt.Sprintf("印章 %s 已注销", cur.Ref)}
	case cur.KeyAlgorithm == "imported":
		return Rekeyed{}, &ConflictError{Detail: fmt.Sprintf("seal %s has an imported certificate of another CA: have that CA certify a key made in the token and import it again", cur.Ref),
			DetailZh: fmt.Sprintf("印章 %s 的证书由外部认证机构签发，无法在此更换密钥：请由该机构为密码机中生成的密钥签发证书后重新导入", cur.Ref)}
	case cur.KeyAlgorithm == string(keys.SM2):
		return Rekeyed{}, &ConflictError{Detail: fmt.Sprintf("seal %s is an SM2 seal: PKCS#11 has no standard SM2 mechanism, so its key stays in software custody (a GM/T 0018 cryptographic device is the production path)", cur.Ref),
			DetailZh: fmt.Sprintf("印章 %s 为 SM2 印章：PKCS#11 无标准 SM2 机制，其密钥仍由软件托管（生产环境应使用符合 GM/T 0018 的密码设备）", cur.Ref)}
	}
	alg, err := keys.ParseAlgorithm(cur.KeyAlgorithm)
	if err != nil {
		return Rekeyed{}, err
	}
	old, err := cur.Certificate()
	if err != nil {
		return Rekeyed{}, err
	}
	ref, pub, err := s.Custody.Create(ctx, alg, id.String())
	if err != nil {
		return Rekeyed{}, fmt.Errorf("seal: rekey %s: %w", cur.Ref, err)
	}
	dept, err := identity.GetDepartment(ctx, s.DB, cur.DepartmentID)
	if err != nil {
		return Rekeyed{}, err
	}
	cert, err := s.CA.IssueSeal(pub, ca.SealSubject{Department: dept.Name, DepartmentCode: dept.Code, SealName: cur.Name,
		SealCode: cur.Ref, SealType: cur.Type}, old.NotBefore, old.NotAfter)
	if err != nil {
		return Rekeyed{}, fmt.Errorf("seal: rekey %s: certificate: %w", cur.Ref, err)
	}
	next := cur
	next.certDER, next.CertSerial = cert.Raw, cert.SerialNumber.Text(16)
	var img []byte
	var imgDigest string
	var w, h int
	var sd vault.Digest
	if cur.ImageVersion > 0 {
		if err := s.DB.QueryRow(ctx, `SELECT digest, width, height FROM seal_images WHERE seal_id = $1 AND version = $2`,
			id, cur.ImageVersion).Scan(&imgDigest, &w, &h); err != nil {
			return Rekeyed{}, fmt.Errorf("seal: rekey %s: image: %w", cur.Ref, err)
		}
		if img, err = s.readObject(ctx, imgDigest); err != nil {
			return Rekeyed{}, err
		}
		if s.Maker != nil {
			if sd, err = s.makeSealData(ctx, next, img); err != nil {
				return Rekeyed{}, err
			}
		}
	}
	out := Rekeyed{Seal: cur.Ref, OldSerial: cur.CertSerial, NewSerial: next.CertSerial, InToken: keys.InToken(ref)}
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		locked, err := getSeal(ctx, tx, id, "FOR UPDATE OF s")
		if err != nil {
			return err
		}
		if locked.CertSerial != cur.CertSerial || locked.ImageVersion != cur.ImageVersion || locked.Status == StatusRevoked {
			return &ConflictError{Detail: fmt.Sprintf("seal %s changed meanwhile; run again", cur.Ref), DetailZh: fmt.Sprintf("印章 %s 已被修改，请重新运行", cur.Ref)}
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `INSERT INTO seal_certificates (seal_id, cert_serial, cert_der, replaced_at, replaced_by)
			VALUES ($1, $2, $3, $4, $5)`, id, cur.CertSerial, cur.certDER, now, a.User.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE seals SET key_ref = $2, cert_der = $3, cert_serial = $4 WHERE id = $1`,
			id, ref, cert.Raw, next.CertSerial); err != nil {
			return err
		}
		if cur.ImageVersion > 0 {
			if err := tx.QueryRow(ctx, `INSERT INTO seal_images (seal_id, version, digest, width, height, created_by)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING version`, id, cur.ImageVersion+1, imgDigest, w, h, a.User.ID).Scan(&out.ImageVersion); err != nil {
				return err
			}
			if s.Maker != nil {
				if err := s.recordSealData(ctx, tx, id, out.ImageVersion, sd); err != nil {
					return err
				}
			}
		}
		return audit.Append(ctx, tx, a.Event(now, "seal.rekey", map[string]string{audit.SubjectSeal: id.String()},
			map[string]any{"ref": cur.Ref, "old_certificate_serial": cur.CertSerial, "certificate_serial": next.CertSerial,
				"key_algorithm": cur.KeyAlgorithm, "in_token": out.InToken, "image_version": out.ImageVersion}))
	})
	if err != nil {
		return Rekeyed{}, err
	}
	s.signers.forget(id)
	return out, nil
}
