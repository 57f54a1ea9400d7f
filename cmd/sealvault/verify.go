package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/spf13/cobra"

	"sealvault/seal"
	"sealvault/seal/keys"
)

// errVerifyFailed makes `sealvault verify` exit 1 when a file is not validly sealed.
var errVerifyFailed = errors.New("not every signature is valid")

func (a *app) verifyCmd() *cobra.Command {
	var asJSON bool
	var rootFile, server, token string
	var crlFiles []string
	cmd := &cobra.Command{
		Use:   "verify FILE.pdf|FILE.ofd...",
		Short: "Check every seal signature of PDFs (offline or against a service's seal-use register) and of OFD documents (exit 1 unless all valid)",
		Long: `Checks each signature of each file: the digest of the signed bytes, the signature, the
certificate chain to a trusted root, whether bytes were added after signing, and, when a
register is consulted, the seal that signed and the seal-use register entry of the signed
revision.

Where the register is consulted:
  --server URL   a running sealvault: without a token through its public verification
                 (POST /api/v1/public/verify: the seal, its department, the register
                 entry's number and time); with --token (or SEALVAULT_TOKEN, a signed-in
                 user's bearer token) through POST /api/v1/verify, which adds the case;
  a database     configured with --database-url, or the local cluster already under
                 --data-dir: the register and the CA are read as serve does;
  neither        offline: nothing is read or created but the files; the chain is checked
                 against --root FILE (PEM), else against the root the file's own chain
                 carries, whose fingerprint is printed to compare with the service's
                 published root (GET /api/v1/ca/root.pem). The output says the register
                 was not consulted. A file sealed by sealvault embeds its validation data
                 (PAdES B-LT: the chains and a CRL of the time of sealing), so nothing is
                 fetched; a later CRL tells a seal revoked since (a use made before the
                 revocation stays valid): in the --root file itself (GET
                 /api/v1/ca/trust.pem has the root and the current CRL), or with --crl
                 FILE (GET /api/v1/ca/crl).
--root always verifies offline.

An OFD document (GB/T 33190) is verified offline whatever the flags: each of its GB/T 38540
electronic signatures (SES_Signature) over every file it references, the seal it carries
(judged at the signature's time) and the signer's certificate; with --root (an SM2 root, PEM)
both certificates must chain to it. sealvault makes no OFD documents, so no register has them.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			ctx := cmd.Context()
			var check func(data []byte) (seal.Verification, error)
			var where string
			switch {
			case server != "" && rootFile != "":
				return errors.New("--server and --root exclude each other: the service's roots are used with --server")
			case len(crlFiles) > 0 && (server != "" || rootFile == "" && a.registerConfigured()):
				return errors.New("--crl is for an offline verification (with --root, or without a register): the register knows every revocation")
			case server != "":
				if token == "" {
					token = os.Getenv("SEALVAULT_TOKEN")
				}
				where = "register consulted: " + strings.TrimRight(server, "/")
				check = func(data []byte) (seal.Verification, error) { return verifyRemote(ctx, server, token, data) }
			case rootFile == "" && a.registerConfigured():
				if err := a.useDataDir(); err != nil {
					return err
				}
				db, err := a.openDB(ctx, false, false)
				if err != nil {
					return err
				}
				defer db.close(context.WithoutCancel(ctx))
				blobs, err := a.blobStore(ctx)
				if err != nil {
					return err
				}
				seals, err := a.sealService(ctx, db.pool, blobs)
				if err != nil {
					return err
				}
				where = "register consulted: this service's database"
				check = func(data []byte) (seal.Verification, error) { return seals.Verify(ctx, data) }
			default:
				var trust seal.Trust
				if rootFile != "" {
					pemData, err := os.ReadFile(rootFile)
					if err != nil {
						return fmt.Errorf("--root: %w", err)
					}
					if trust, err = readTrust(rootFile, pemData); err != nil {
						return err
					}
					where = "register not consulted (offline, against the root in " + rootFile + ")"
				} else {
					where = "register not consulted (offline, against the root the file's chain carries)"
				}
				for _, f := range crlFiles {
					der, err := readCRL(f)
					if err != nil {
						return err
					}
					trust.CRLs = append(trust.CRLs, der)
				}
				check = func(data []byte) (seal.Verification, error) { return seal.VerifyOfflineWith(data, trust) }
			}
			allValid := true
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if isOFD(data) {
					ok, err := verifyOFDFile(cmd.OutOrStdout(), f, data, rootFile, asJSON)
					if err != nil {
						return fmt.Errorf("%s: %w", f, err)
					}
					allValid = allValid && ok
					continue
				}
				v, err := check(data)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				allValid = allValid && v.Valid
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					if err := enc.Encode(map[string]any{"file": f, "verification": v}); err != nil {
						return err
					}
					continue
				}
				printVerification(cmd.OutOrStdout(), f, v)
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", where)
			}
			if !allValid {
				cmd.SilenceUsage = true
				return errVerifyFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per file instead of text")
	cmd.Flags().StringVar(&rootFile, "root", "", "verify offline against this root certificate (PEM), e.g. the service's GET /api/v1/ca/root.pem; CRLs in the file count too (GET /api/v1/ca/trust.pem)")
	cmd.Flags().StringVar(&server, "server", "", "base URL of a running sealvault whose register is consulted, e.g. https://sealvault.example")
	cmd.Flags().StringVar(&token, "token", "", "bearer token for --server (else SEALVAULT_TOKEN)")
	cmd.Flags().StringArrayVar(&crlFiles, "crl", nil, "offline: also judge seals by this CRL (DER or PEM), e.g. the service's GET /api/v1/ca/crl; repeatable")
	return cmd
}

// readTrust reads --root: PEM certificates, the trusted roots (an SM2 root, such as the
// service's GET /api/v1/ca/sm2-root.pem, among the SM2 roots), and the CRLs the file may
// also hold (GET /api/v1/ca/trust.pem has both roots and their current CRLs).
func readTrust(path string, data []byte) (seal.Trust, error) {
	t := seal.Trust{Roots: x509.NewCertPool(), SM2Roots: smx509.NewCertPool()}
	n := 0
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				t.Roots.AddCert(c)
			} else if c, serr := smx509.ParseCertificate(b.Bytes); serr == nil && keys.IsSM2(c.PublicKey) {
				t.SM2Roots.AddCert(c)
			} else {
				return seal.Trust{}, fmt.Errorf("--root %s: a certificate cannot be read: %v", path, err)
			}
			n++
		case "X509 CRL":
			if _, err := smx509.ParseRevocationList(b.Bytes); err != nil {
				return seal.Trust{}, fmt.Errorf("--root %s: a CRL cannot be read: %v", path, err)
			}
			t.CRLs = append(t.CRLs, b.Bytes)
		}
	}
	if n == 0 {
		return seal.Trust{}, fmt.Errorf("--root %s: no PEM certificate in it", path)
	}
	return t, nil
}

// readCRL reads a certificate revocation list in DER or PEM.
func readCRL(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--crl: %w", err)
	}
	if b, _ := pem.Decode(data); b != nil && b.Type == "X509 CRL" {
		data = b.Bytes
	}
	if _, err := smx509.ParseRevocationList(data); err != nil {
		return nil, fmt.Errorf("--crl %s: not a certificate revocation list: %v", path, err)
	}
	return data, nil
}

// registerConfigured reports whether a database holds the register: --database-url is set,
// or the local cluster under --data-dir (--pg-dir) was made already. Nothing is created.
func (a *app) registerConfigured() bool {
	if a.cfg.DatabaseURL != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(a.cfg.PGDir, "PG_VERSION"))
	return err == nil
}

// publicVerification is the public answer (POST /api/v1/public/verify) in the form the
// other ways print.
func publicVerification(p seal.PublicVerification) seal.Verification {
	v := seal.Verification{Digest: p.Digest, Size: p.Size, Valid: p.Valid, RegisterConsulted: true, ArchiveTimestamps: p.ArchiveTimestamps}
	for i, s := range p.Signatures {
		r := seal.SignatureReport{Field: fmt.Sprintf("signature %d", i+1), Signer: strings.TrimSpace(s.SealName + " " + s.Department),
			SignedAt: s.SignedAt, DigestValid: s.Intact, ChainValid: s.Trusted, CoversWholeFile: s.CoversWholeFile,
			AppendedBytes: s.AppendedBytes, SealRef: s.SealRef, SealStatus: s.SealStatus, Valid: s.Valid,
			SealedAt: s.SealedAt, SealRevokedAt: s.SealRevokedAt, RevokedAfterSealing: s.RevokedAfterSealing, Summary: s.Summary,
			LaterAdditions: s.LaterAdditions, Level: s.Level}
		if s.TimestampedAt != nil {
			r.Timestamp = &seal.TimestampReport{Time: *s.TimestampedAt, TSA: s.TimestampedBy, Valid: true}
		}
		if s.Registered {
			u := &seal.Use{Ref: s.UseRef, SealRef: s.SealRef, SealName: s.SealName}
			if s.AppliedAt != nil {
				u.AppliedAt = *s.AppliedAt
			}
			r.RegisterEntry = u
		}
		v.Signatures = append(v.Signatures, r)
	}
	return v
}

// verifyRemote has a running service verify data: through POST /api/v1/verify with a
// token, else through its public verification.
func verifyRemote(ctx context.Context, server, token string, data []byte) (seal.Verification, error) {
	var v seal.Verification
	route := "/api/v1/verify"
	if token == "" {
		route = "/api/v1/public/verify"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+route, bytes.NewReader(data))
	if err != nil {
		return v, err
	}
	req.Header.Set("Content-Type", "application/pdf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return v, fmt.Errorf("--server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return v, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("--server: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if token == "" {
		var p seal.PublicVerification
		if err := json.Unmarshal(body, &p); err != nil {
			return v, fmt.Errorf("--server: the answer is not a verification: %w", err)
		}
		return publicVerification(p), nil
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("--server: the answer is not a verification: %w", err)
	}
	return v, nil
}

func printVerification(w io.Writer, file string, v seal.Verification) {
	verdict := "VALID"
	if !v.Valid {
		verdict = "NOT VALID"
	}
	fmt.Fprintf(w, "%s: %s (%d signatures, sha256 %s)\n", file, verdict, len(v.Signatures), v.Digest)
	if len(v.Signatures) == 0 {
		fmt.Fprintln(w, "  no signatures")
	}
	for _, r := range v.EmbeddedRoots {
		fmt.Fprintf(w, "  root taken from the file: %s, SHA-256 %s (compare with the service's published root)\n", r.Subject, r.SHA256)
	}
	for i, s := range v.Signatures {
		fmt.Fprintf(w, "  #%d %s: %s\n", i+1, s.Field, map[bool]string{true: "valid", false: "NOT valid"}[s.Valid])
		if s.CertSerial != "" {
			fmt.Fprintf(w, "     signer:    %s (certificate %s)\n", s.Signer, s.CertSerial)
		} else {
			fmt.Fprintf(w, "     signer:    %s\n", s.Signer)
		}
		if s.SealRef != "" {
			fmt.Fprintf(w, "     seal:      %s, now %s\n", s.SealRef, s.SealStatus)
		}
		fmt.Fprintf(w, "     digest:    %s; chain to the root: %s\n", okText(s.DigestValid), okText(s.ChainValid))
		if d := s.SealData; d != nil {
			fmt.Fprintf(w, "     seal data: GB/T 38540 electronic seal %q (esID %s, vendor %s), made by %s, valid %s to %s\n",
				d.Name, d.ESID, d.VendorID, d.Maker, d.ValidStart, d.ValidEnd)
			var names []string
			for _, c := range d.Checks {
				names = append(names, c.Name+" "+okText(c.OK))
			}
			fmt.Fprintf(w, "     SM2/SM3:   %s (%s)\n", s.SubFilter, strings.Join(names, ", "))
		}
		switch {
		case s.CoversWholeFile:
			fmt.Fprintf(w, "     covers:    the whole file\n")
		case len(s.LaterAdditions) > 0:
			fmt.Fprintf(w, "     covers:    the file as signed; added after it, changing nothing signed: %s\n", strings.Join(s.LaterAdditions, ", "))
		default:
			fmt.Fprintf(w, "     covers:    not the whole file (%d bytes follow)\n", s.AppendedBytes)
		}
		if s.Level != "" {
			line := s.Level
			if vd := s.ValidationData; vd != nil {
				line += fmt.Sprintf("; embedded validation data: %d certificates, %d CRLs", vd.Certificates, vd.CRLs)
			}
			fmt.Fprintf(w, "     level:     %s\n", line)
		}
		if rv := s.Revocation; rv != nil {
			state := "not revoked"
			if rv.Revoked && rv.RevokedAt != nil {
				state = "revoked on " + rv.RevokedAt.In(time.Local).Format("2006-01-02 15:04:05 MST")
			}
			fmt.Fprintf(w, "     CRL:       %s, CRL of %s (%s)\n", state, rv.CRLIssuedAt.In(time.Local).Format("2006-01-02 15:04:05 MST"), rv.Source)
		}
		if t := s.Timestamp; t != nil {
			verdict := okText(t.Valid)
			if t.Error != "" {
				verdict += " (" + t.Error + ")"
			}
			fmt.Fprintf(w, "     timestamp: %s ±%s by %s, serial %s, policy %s: %s\n", t.Time.In(time.Local).Format("2006-01-02 15:04:05 MST"),
				t.Accuracy, t.TSA, t.Serial, t.Policy, verdict)
		} else {
			fmt.Fprintf(w, "     timestamp: none\n")
		}
		if s.Summary != "" {
			fmt.Fprintf(w, "     time:      %s\n", s.Summary)
		}
		if s.RegisterEntry != nil {
			u := s.RegisterEntry
			if u.CaseRef != "" {
				fmt.Fprintf(w, "     register:  %s, case %s, item %s, applied %s\n", u.Ref, u.CaseRef, u.ItemCode, u.AppliedAt.Format("2006-01-02 15:04:05 MST"))
			} else {
				fmt.Fprintf(w, "     register:  %s, applied %s\n", u.Ref, u.AppliedAt.Format("2006-01-02 15:04:05 MST"))
			}
		}
		if len(s.Problems) > 0 {
			fmt.Fprintf(w, "     problems:  %s\n", strings.Join(s.Problems, "; "))
		}
	}
	for _, a := range v.ArchiveTimestamps {
		fmt.Fprintf(w, "  archive timestamp %s: %s, %s by %s, serial %s", a.Field, map[bool]string{true: "valid", false: "NOT valid"}[a.Valid],
			a.Time.In(time.Local).Format("2006-01-02 15:04:05 MST"), a.TSA, a.Serial)
		if len(a.LaterAdditions) > 0 {
			fmt.Fprintf(w, "; added after it: %s", strings.Join(a.LaterAdditions, ", "))
		}
		fmt.Fprintln(w)
		if len(a.Problems) > 0 {
			fmt.Fprintf(w, "     problems:  %s\n", strings.Join(a.Problems, "; "))
		}
	}
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}
