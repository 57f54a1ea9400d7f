package seal

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"

	"sealvault/seal/keys"
	"sealvault/seal/pades"
)

// crlMaxAge is how long the CRL embedded in sealed documents is reused when no seal was
// revoked meanwhile: a use embeds a CRL issued at most this long before it.
const crlMaxAge = time.Hour

// crlCache is the CRL that sealed documents embed, reissued when the revoked seals change
// (in any serve process: the check reads the database) or it is older than crlMaxAge.
type crlCache struct {
	mu       sync.Mutex
	der      []byte
	issued   time.Time
	revState string
}

// CurrentCRL returns a CRL of the internal CA listing every revoked seal as of now: the one
// sealed documents embed, reissued when a seal was revoked since (in any serve process) and
// at least every crlMaxAge.
func (s *Service) CurrentCRL(ctx context.Context) ([]byte, error) {
	state, err := s.revocationState(ctx)
	if err != nil {
		return nil, err
	}
	return s.cachedCRL(&s.crl, state, func() ([]byte, error) { return s.CRL(ctx) })
}

// CurrentSM2CRL is CurrentCRL for the SM2 root: its CRL of revoked SM2 seals.
func (s *Service) CurrentSM2CRL(ctx context.Context) ([]byte, error) {
	state, err := s.revocationState(ctx)
	if err != nil {
		return nil, err
	}
	return s.cachedCRL(&s.sm2CRL, state, func() ([]byte, error) { return s.SM2CRL(ctx) })
}

// revocationState names the revoked seals as they stand: it changes with every revocation.
func (s *Service) revocationState(ctx context.Context) (string, error) {
	var state string
	if err := s.DB.QueryRow(ctx, `SELECT count(*)::text || '/' || coalesce(max(status_since)::text, '')
		FROM seals WHERE status = 'revoked'`).Scan(&state); err != nil {
		return "", fmt.Errorf("seal: crl: %w", err)
	}
	return state, nil
}

// cachedCRL is c's CRL while the revoked seals are as state says and it is younger than
// crlMaxAge, else one issue makes.
func (s *Service) cachedCRL(c *crlCache, state string, issue func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.now()
	if c.der != nil && c.revState == state && now.Sub(c.issued) < crlMaxAge && !now.Before(c.issued) {
		return c.der, nil
	}
	der, err := issue()
	if err != nil {
		return nil, err
	}
	c.der, c.issued, c.revState = der, now, state
	return der, nil
}

// validationData is what a use of seal sl embeds after its signature (PAdES B-LT), so that
// a validator needs nothing from the network: the seal's chain, the TSA's certificate and
// chain, and, for a seal the internal CA issued, its current CRL. An imported seal's issuer
// publishes its own revocation data, which the service does not have.
func (s *Service) validationData(ctx context.Context, sl Seal, chain []*x509.Certificate) (*pades.ValidationData, error) {
	vd := &pades.ValidationData{Certs: slices.Clone(chain)}
	if s.TSA != nil {
		vd.Certs = append(vd.Certs, s.TSA.Cert)
		vd.Certs = append(vd.Certs, s.TSA.Chain...)
	}
	if sl.KeyAlgorithm == "imported" {
		return vd, nil
	}
	state, err := s.revocationState(ctx)
	if err != nil {
		return nil, err
	}
	crl, err := s.cachedCRL(&s.crl, state, func() ([]byte, error) { return s.CRL(ctx) })
	if err != nil {
		return nil, err
	}
	vd.CRLs = [][]byte{crl}
	if sl.KeyAlgorithm == string(keys.SM2) && !sl.ImportedSealData {
		// An SM2 seal's certificate and its issuer travel in the electronic signature; the
		// SM2 root's CRL joins the store (the CA's stays for the TSA's certificate).
		crl, err := s.cachedCRL(&s.sm2CRL, state, func() ([]byte, error) { return s.SM2CRL(ctx) })
		if err != nil {
			return nil, err
		}
		vd.CRLs = append(vd.CRLs, crl)
	}
	return vd, nil
}
