package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/spf13/cobra"

	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/seal/ses"
)

// errSealNotValid makes `sealvault seal inspect` exit 1 when the seal does not verify.
var errSealNotValid = errors.New("the seal does not verify")

func (a *app) sealCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "seal", Short: "Electronic seal data (GB/T 38540): inspect seals made elsewhere; renew sealed documents' archive timestamps"}
	var at, rootFile, picture string
	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect FILE.esl",
		Short: "Print a GB/T 38540 electronic seal's fields and verify its maker's signature at a time (exit 1 unless valid)",
		Long: `Reads an electronic seal (SES_Seal, GB/T 38540-2020 version 4) made by any system, prints
its fields (header and vendor, esID, name and type, the signers' certificates, validity,
picture, the seal maker's certificate) and verifies it as it stood at --at: the seal maker's
signature over the seal information, the maker's certificate valid then, the seal within its
validity; with --root, the maker's certificate must also chain to that root. Nothing but the
file is read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			when, err := parseAt(at)
			if err != nil {
				return err
			}
			var roots *smx509.CertPool
			if rootFile != "" {
				pemData, err := os.ReadFile(rootFile)
				if err != nil {
					return fmt.Errorf("--root: %w", err)
				}
				roots = smx509.NewCertPool()
				if !roots.AppendCertsFromPEM(pemData) {
					return fmt.Errorf("--root %s: no PEM certificate in it", rootFile)
				}
			}
			der, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			s, err := ses.ParseSeal(der)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if picture != "" {
				if err := os.WriteFile(picture, s.Picture.Data, 0o644); err != nil {
					return fmt.Errorf("--picture: %w", err)
				}
			}
			r := s.Verify(when, roots)
			out := cmd.OutOrStdout()
			if asJSON {
				if err := json.NewEncoder(out).Encode(map[string]any{"file": args[0], "seal": s.Describe(), "verification": r}); err != nil {
					return err
				}
			} else {
				printSeal(out, args[0], s.Describe(), r)
			}
			if !r.Valid {
				return errSealNotValid
			}
			return nil
		},
	}
	inspect.Flags().StringVar(&at, "at", "", "judge the seal at this time: 2021-01-01 or 2021-01-01T08:00:00+08:00 (default now)")
	inspect.Flags().StringVar(&rootFile, "root", "", "the seal maker's trusted root certificate (PEM); without it the chain is not judged")
	inspect.Flags().StringVar(&picture, "picture", "", "also write the seal's picture to this file")
	inspect.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of text")
	cmd.AddCommand(inspect, a.renewTimestampsCmd())
	return cmd
}

// asSealAdmin opens the database and the seal service for a command that acts as the seal
// administrator username names (--as), whom the audit trail records; the caller closes the
// database.
func (a *app) asSealAdmin(ctx context.Context, username, requestID string) (*database, *seal.Service, seal.Actor, error) {
	db, err := a.openDB(ctx, false, false)
	if err != nil {
		return nil, nil, seal.Actor{}, err
	}
	fail := func(err error) (*database, *seal.Service, seal.Actor, error) {
		db.close(context.WithoutCancel(ctx))
		return nil, nil, seal.Actor{}, err
	}
	user, err := identity.UserByUsername(ctx, db.pool, username)
	if err != nil {
		return fail(fmt.Errorf("--as %s: no such user", username))
	}
	if !slices.Contains(user.Roles, identity.RoleSealAdmin) {
		return fail(fmt.Errorf("--as %s: not a seal administrator", username))
	}
	blobs, err := a.blobStore(ctx)
	if err != nil {
		return fail(err)
	}
	seals, err := a.sealService(ctx, db.pool, blobs)
	if err != nil {
		return fail(err)
	}
	return db, seals, seal.Actor{User: user, RequestID: requestID}, nil
}

func (a *app) renewTimestampsCmd() *cobra.Command {
	var within time.Duration
	var limit int
	var as string
	cmd := &cobra.Command{
		Use:   "renew-timestamps --as USERNAME",
		Short: "Renew the archive timestamp (PAdES B-LTA) of every sealed document whose timestamping certificate expires within --within",
		Long: `A sealed document stays verifiable after its certificates expire through its archive
timestamp: a document timestamp over the whole file. Before the certificate of that
timestamp's TSA expires, the archive must be renewed: this command appends to the newest
version of each such use's sealed document the validation data of its timestamps (the TSA's
chain and a current CRL) and a new document timestamp over everything before, stores the
result as a new object, and records it as the use's next archive version, with an audit
event naming --as (a seal administrator). The register row is never changed; downloads of
the use serve the newest version. Uses sealed before archive timestamps are renewed from
their output and become B-LTA. Run it from cron, say monthly; a run stopped halfway leaves
every use it finished renewed and the others as they were.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if as == "" {
				return errors.New("--as: name the seal administrator the audit trail records as renewing")
			}
			if within < 0 {
				return fmt.Errorf("--within %s: must not be negative", within)
			}
			db, seals, actor, err := a.asSealAdmin(ctx, as, "cli-renew-timestamps")
			if err != nil {
				return err
			}
			defer db.close(context.WithoutCancel(ctx))
			out := cmd.OutOrStdout()
			done, err := seals.RenewArchives(ctx, actor, within, limit, func(r seal.RenewalResult) {
				fmt.Fprintf(out, "%s: archive version %d → %d, timestamped %s by %s (certificate valid until %s), %s\n", r.Use, r.From, r.Archive.Version,
					r.Archive.TimestampAt.Format(time.RFC3339), r.Archive.TSA, r.Archive.TSANotAfter.Format(time.DateOnly), r.Archive.Digest)
			})
			fmt.Fprintf(out, "%d uses renewed\n", len(done))
			return err
		},
	}
	cmd.Flags().DurationVar(&within, "within", 365*24*time.Hour, "renew the uses whose newest archive timestamp's TSA certificate expires within this time")
	cmd.Flags().IntVar(&limit, "limit", 0, "renew at most this many uses in this run (0: all that are due)")
	cmd.Flags().StringVar(&as, "as", "", "the seal administrator (username) the audit trail records as renewing")
	return cmd
}

// parseAt reads a date (the start of that day, UTC) or an RFC 3339 time; "" is now.
func parseAt(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Now(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("--at %q: want a date (2021-01-01) or an RFC 3339 time (2021-01-01T08:00:00+08:00)", s)
	}
	return t, nil
}

func printSeal(w io.Writer, file string, d ses.Description, r ses.Report) {
	fmt.Fprintf(w, "%s: GB/T 38540 electronic seal (SES_Seal, version %d)\n", file, d.Header.Version)
	fmt.Fprintf(w, "  name:      %s (type %d)\n", d.Name, d.Type)
	fmt.Fprintf(w, "  esID:      %s\n", d.ESID)
	fmt.Fprintf(w, "  vendor:    %s\n", d.Header.VendorID)
	fmt.Fprintf(w, "  valid:     %s to %s (made %s)\n", d.ValidStart.Format(time.DateOnly), d.ValidEnd.Format(time.DateOnly), d.CreateDate.Format(time.DateOnly))
	fmt.Fprintf(w, "  picture:   %s, %d × %d mm, %d bytes\n", d.Picture.Type, d.Picture.WidthMM, d.Picture.HeightMM, d.Picture.Bytes)
	switch d.CertListType {
	case ses.CertListDigests:
		fmt.Fprintf(w, "  signers:   certificate digests, %d in the list\n", len(d.CertDigests))
	default:
		fmt.Fprintf(w, "  signers:   certificates, %d in the list\n", len(d.Certificates))
		for _, c := range d.Certificates {
			fmt.Fprintf(w, "             %s (%s, serial %s, valid %s to %s)\n", c.Subject, c.Algorithm, c.Serial, c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly))
		}
	}
	fmt.Fprintf(w, "  maker:     %s (%s), issued by %s, valid %s to %s\n", d.Maker.Subject, d.Maker.Algorithm, d.Maker.Issuer, d.Maker.NotBefore.Format(time.DateOnly), d.Maker.NotAfter.Format(time.DateOnly))
	fmt.Fprintf(w, "  signed:    %s\n", d.Algorithm)
	verdict := "VALID"
	if !r.Valid {
		verdict = "NOT VALID"
	}
	fmt.Fprintf(w, "at %s: %s\n", r.At.Format(time.RFC3339), verdict)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %-6s %s: %s\n", map[bool]string{true: "ok", false: "FAILED"}[c.OK], c.Name, c.Detail)
	}
}

// isOFD reports whether data is a zip, as an OFD document is.
func isOFD(data []byte) bool { return len(data) >= 4 && string(data[:4]) == "PK\x03\x04" }

// verifyOFDFile verifies the signatures of an OFD document offline and prints them; it
// reports whether every one is valid.
func verifyOFDFile(w io.Writer, file string, data []byte, rootFile string, asJSON bool) (bool, error) {
	var roots *smx509.CertPool
	if rootFile != "" {
		pemData, err := os.ReadFile(rootFile)
		if err != nil {
			return false, fmt.Errorf("--root: %w", err)
		}
		roots = smx509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemData) {
			return false, fmt.Errorf("--root %s: no PEM certificate in it", rootFile)
		}
	}
	sigs, err := ses.VerifyOFD(bytes.NewReader(data), int64(len(data)), roots)
	if err != nil {
		return false, err
	}
	valid := true
	for _, s := range sigs {
		valid = valid && s.Report.Valid
	}
	if asJSON {
		type one struct {
			ses.OFDSignature
			Seal   ses.Description `json:"seal"`
			Signer ses.CertSummary `json:"signer"`
		}
		var list []one
		for _, s := range sigs {
			list = append(list, one{OFDSignature: s, Seal: s.Signature.Seal.Describe(), Signer: ses.Summarize(s.Signature.Signer)})
		}
		return valid, json.NewEncoder(w).Encode(map[string]any{"file": file, "ofd_signatures": list, "valid": valid})
	}
	verdict := map[bool]string{true: "VALID", false: "NOT VALID"}
	fmt.Fprintf(w, "%s: %s (OFD document, %d signatures)\n", file, verdict[valid], len(sigs))
	for i, s := range sigs {
		d := s.Signature.Seal.Describe()
		fmt.Fprintf(w, "  #%d %s (%s, by %s): %s\n", i+1, s.Path, s.Type, s.Provider, map[bool]string{true: "valid", false: "NOT valid"}[s.Report.Valid])
		fmt.Fprintf(w, "     seal:      %s (%s, esID %s, valid %s to %s)\n", d.Name, d.Header.VendorID, d.ESID, d.ValidStart.Format(time.DateOnly), d.ValidEnd.Format(time.DateOnly))
		fmt.Fprintf(w, "     signer:    %s\n", s.Signature.Signer.Subject)
		fmt.Fprintf(w, "     signed at: %s (the signer's stated time; judged then)\n", s.Signature.Time.UTC().Format(time.RFC3339))
		changed := 0
		for _, r := range s.References {
			if !r.OK {
				changed++
				fmt.Fprintf(w, "     changed:   %s\n", r.File)
			}
		}
		fmt.Fprintf(w, "     covers:    %d files, %d changed\n", len(s.References), changed)
		for _, c := range s.Report.Checks {
			if !c.OK {
				fmt.Fprintf(w, "     FAILED     %s: %s\n", c.Name, c.Detail)
			}
		}
	}
	fmt.Fprintln(w, "  register not consulted: sealvault makes no OFD documents; their signatures are verified offline")
	return valid, nil
}
