package seal

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/seal/ca"
	"sealvault/seal/keys"
	"sealvault/seal/pades"
	"sealvault/seal/tsa"
)

// tsaOwner binds the timestamping authority's key reference to its row.
const tsaOwner = "seal-tsa"

// tsaRecertify is how long before its end the TSA's certificate is renewed (at start-up):
// more than the default renewal window of sealvault seal renew-timestamps (a year).
const tsaRecertify = 2 * 365 * 24 * time.Hour

// OpenTSA returns the service's timestamping authority (RFC 3161): its key (in custody) and
// its certificate, issued by root for timeStamping alone, made on first start as row 3 of
// seal_ca and renewed for the same key when it has less than two years left; token serial
// numbers come from the tsa_serials sequence, drawn tsaSerialBlock at a time, so several
// serve processes on one database never repeat one.
func OpenTSA(ctx context.Context, db *pgxpool.Pool, custody keys.Custody, root *ca.CA, name string, policy asn1.ObjectIdentifier, accuracy time.Duration, now time.Time) (*tsa.TSA, error) {
	var out *tsa.TSA
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sealvault.seal_tsa'))`); err != nil {
			return err
		}
		var der, ref []byte
		err := tx.QueryRow(ctx, `SELECT cert_der, key_ref FROM seal_ca WHERE id = 3`).Scan(&der, &ref)
		var cert *x509.Certificate
		if errors.Is(err, pgx.ErrNoRows) {
			var pub any
			if ref, pub, err = custody.Create(ctx, keys.ECDSAP256, tsaOwner); err != nil {
				return err
			}
			if cert, err = root.IssueTSA(pub, name, now.Add(-time.Hour), now.AddDate(10, 0, 0)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO seal_ca (id, cert_der, key_ref) VALUES (3, $1, $2)`, cert.Raw, ref); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else if cert, err = x509.ParseCertificate(der); err != nil {
			return err
		}
		signer, err := custody.Signer(ctx, ref, tsaOwner)
		if err != nil {
			return fmt.Errorf("the timestamping key does not open with this key-encryption key: %w", err)
		}
		// A certificate with less than tsaRecertify left is renewed for the same key, so
		// archive timestamps can be renewed with one that outlives theirs; tokens made
		// before carry the certificate they were made with.
		if now.Add(tsaRecertify).After(cert.NotAfter) {
			renewed, err := root.IssueTSA(signer.Public(), name, now.Add(-time.Hour), now.AddDate(10, 0, 0))
			if err != nil {
				return err
			}
			if renewed.NotAfter.After(cert.NotAfter) {
				if _, err := tx.Exec(ctx, `UPDATE seal_ca SET cert_der = $1 WHERE id = 3`, renewed.Raw); err != nil {
					return err
				}
				cert = renewed
			}
		}
		out = &tsa.TSA{Cert: cert, Chain: []*x509.Certificate{root.Cert}, Key: signer, Policy: policy, Accuracy: accuracy,
			Serial: (&serialBlock{db: db, size: tsaSerialBlock}).next}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seal: timestamping authority: %w", err)
	}
	return out, nil
}

// tsaSerialBlock is how many token serial numbers a process draws from tsa_serials at once:
// a seal application makes two tokens, which then cost no round trip for their serials.
// Numbers a process drew and did not use before it stopped are never used.
const tsaSerialBlock = 32

// serialBlock hands out serial numbers from tsa_serials, drawing size of them in one query
// when it has none left; they are unique across processes and increasing within one.
type serialBlock struct {
	db   *pgxpool.Pool
	size int
	mu   sync.Mutex
	left []int64
}

func (b *serialBlock) next(ctx context.Context) (*big.Int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.left) == 0 {
		rows, err := b.db.Query(ctx, `SELECT nextval('tsa_serials') FROM generate_series(1, $1)`, b.size)
		if err != nil {
			return nil, err
		}
		drawn, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return nil, err
		}
		slices.Sort(drawn)
		b.left = drawn
	}
	n := b.left[0]
	b.left = b.left[1:]
	return big.NewInt(n), nil
}

// UseTimestamp is the signature timestamp a use's signature carries (PAdES B-T).
type UseTimestamp struct {
	Time   time.Time `json:"time"`   // the TSA's time
	TSA    string    `json:"tsa"`    // the TSA's name (its certificate's common name)
	Serial string    `json:"serial"` // the token's serial number, in decimal
}

// recordingTSA timestamps with the service's TSA and keeps what each token says, in order:
// the signature's, then the document timestamp's. Its tokens are local (pades does not parse
// them back), and it never parses them either.
type recordingTSA struct {
	ts     *tsa.TSA
	stamps []tsa.Stamped
}

func (r *recordingTSA) Token(ctx context.Context, digest []byte) ([]byte, error) {
	st, err := r.ts.Stamp(ctx, digest)
	if err != nil {
		return nil, err
	}
	r.stamps = append(r.stamps, st)
	return st.Token, nil
}

func (r *recordingTSA) Local() bool { return true }

// archived is what the archive version records of the n-th token (0-based).
func (r *recordingTSA) archived(n int) (archiveStamp, error) {
	if n >= len(r.stamps) {
		return archiveStamp{}, errors.New("seal: no archive timestamp was made")
	}
	st := r.stamps[n]
	return archiveStamp{Time: st.Time, Serial: st.Serial.String(), TSA: r.ts.Cert.Subject.CommonName, NotAfter: r.ts.Cert.NotAfter}, nil
}

func (r *recordingTSA) MaxTokenSize() int { return r.ts.MaxTokenSize() }

// stamped is what the register records of the signature's token.
func (r *recordingTSA) stamped() (*UseTimestamp, error) {
	if len(r.stamps) == 0 {
		return nil, errors.New("seal: the use has no timestamp token")
	}
	st := r.stamps[0]
	return &UseTimestamp{Time: st.Time, TSA: r.ts.Cert.Subject.CommonName, Serial: st.Serial.String()}, nil
}

// errNoTSA refuses to sign without trusted time.
var errNoTSA = &pades.TimestampError{Err: errors.New("no timestamping authority is configured")}
