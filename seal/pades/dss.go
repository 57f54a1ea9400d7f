package pades

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// ValidationData is what a validator needs, besides a trusted root, to validate signatures
// without the network: certificates (the signers' and the timestamping authorities' chains)
// and certificate revocation lists (DER), as a Document Security Store holds them (ISO
// 32000-2 §12.8.4.3, ETSI EN 319 142-1 §5.4).
type ValidationData struct {
	Certs []*x509.Certificate
	CRLs  [][]byte
}

// Limits on what the reader takes from a document's DSS.
const (
	maxDSSEntries = 256
	maxDSSItem    = 1 << 20
)

// vriKey is the key of a signature's entry in /VRI: the uppercase hex SHA-1 of its
// /Contents value as the file holds it (ISO 32000-2 §12.8.4.4; EU DSS and pyHanko hash the
// padded value too).
func vriKey(contents []byte) string {
	sum := sha1.Sum(contents)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// contents returns the decoded /Contents value of the signature just made in tail.
func (u *update) contents(tail []byte) []byte {
	raw := tail[u.contentsAt+1 : u.contentsEnd-1]
	out := make([]byte, len(raw)/2)
	hex.Decode(out, raw) // written by fillSignature: always hex
	return out
}

// signatureDigest is Signed.SignatureDigest of the signature just made in tail.
func (u *update) signatureDigest(tail []byte) [32]byte {
	return sha256.Sum256(u.contents(tail))
}

// dssUpdate returns the incremental update that follows the signed revision (the original,
// then tail) and adds vd to the document's Document Security Store: a new version of the
// catalog whose /DSS keeps what an earlier DSS held and adds vd's certificates and CRLs not
// already there. The cross-reference section is of the document's kind.
//
// It writes no /VRI: PAdES baseline makes it optional (ETSI EN 319 142-1 §5.4.2), the
// store's data serves every signature, and pdfcpu's validator (v0.15) gives up on a
// signature ("signature profile or algorithm is unsupported") when the store has one. The
// reader still reads another producer's.
func (u *update) dssUpdate(tail []byte, vd *ValidationData) ([]byte, error) {
	d := &update{doc: u.doc, req: u.req, field: u.field, next: u.next,
		base: u.base + int64(len(tail)), prev: u.xrefAt}
	catRef := u.doc.trailer.get("Root").(ref)
	catalog := u.newestCatalog()
	old, _ := u.doc.resolve(catalog.get("DSS")).(dict)

	// What the existing store holds, by the SHA-256 of each item's bytes.
	have := func(key string) (array, map[[32]byte]ref) {
		items, _ := u.doc.resolve(old.get(key)).(array)
		byDigest := make(map[[32]byte]ref, len(items))
		for _, it := range items {
			r, ok := it.(ref)
			s, isStream := u.doc.resolve(it).(*stream)
			if !ok || !isStream {
				continue
			}
			if data, err := u.doc.decode(s); err == nil {
				byDigest[sha256.Sum256(data)] = r
			}
		}
		return items[:len(items):len(items)], byDigest
	}
	add := func(known map[[32]byte]ref, data []byte) (ref, bool) {
		sum := sha256.Sum256(data)
		if r, ok := known[sum]; ok {
			return r, false
		}
		n := d.alloc()
		d.objects = append(d.objects, writtenObject{num: n, stream: &stream{
			dict: dict{{"Length", number(strconv.Itoa(len(data)))}}, data: data, at: -1}})
		known[sum] = ref{n, 0}
		return ref{n, 0}, true
	}
	certs, knownCerts := have("Certs")
	crls, knownCRLs := have("CRLs")
	for _, c := range vd.Certs {
		if r, added := add(knownCerts, c.Raw); added {
			certs = append(certs, r)
		}
	}
	for _, c := range vd.CRLs {
		if r, added := add(knownCRLs, c); added {
			crls = append(crls, r)
		}
	}

	store := dict{{"Type", name("DSS")}}
	for _, e := range old {
		if e.key != "Type" && e.key != "Certs" && e.key != "CRLs" {
			store = append(store, e)
		}
	}
	if len(certs) > 0 {
		store = append(store, entry{"Certs", certs})
	}
	if len(crls) > 0 {
		store = append(store, entry{"CRLs", crls})
	}
	dssNum := d.alloc()
	d.objects = append(d.objects,
		writtenObject{num: dssNum, value: store},
		writtenObject{num: catRef.num, gen: catRef.gen, value: catalog.with("DSS", ref{dssNum, 0})})
	return d.write(), nil
}

// readDSS returns what the document's Document Security Store holds, and the keys of its
// /VRI entries; nil when it has none. Items that cannot be read are left out.
func (d *document) readDSS() (*ValidationData, map[string]bool) {
	catalog, _ := d.resolve(d.trailer.get("Root")).(dict)
	store, ok := d.resolve(catalog.get("DSS")).(dict)
	if !ok {
		return nil, nil
	}
	vd := &ValidationData{}
	items := func(key string, each func([]byte)) {
		list, _ := d.resolve(store.get(key)).(array)
		for i, it := range list {
			if i >= maxDSSEntries {
				return
			}
			s, ok := d.resolve(it).(*stream)
			if !ok {
				continue
			}
			if data, err := d.decode(s); err == nil && len(data) <= maxDSSItem {
				each(data)
			}
		}
	}
	items("Certs", func(b []byte) {
		if c, err := x509.ParseCertificate(b); err == nil {
			vd.Certs = append(vd.Certs, c)
		}
	})
	items("CRLs", func(b []byte) { vd.CRLs = append(vd.CRLs, b) })
	keys := map[string]bool{}
	if vri, ok := d.resolve(store.get("VRI")).(dict); ok {
		for i, e := range vri {
			if i >= maxDSSEntries {
				break
			}
			keys[strings.ToUpper(e.key)] = true
		}
	}
	return vd, keys
}

// Revocation is what the certificate revocation lists a verification had say of a signer
// certificate: those in the document's DSS and those given to VerifyWith.
type Revocation struct {
	// CRLThisUpdate is the issue time of the newest CRL of the certificate's issuer, and
	// Embedded whether it came from the document.
	CRLThisUpdate time.Time
	Embedded      bool
	// Revoked reports that the CRL lists the certificate, revoked at RevokedAt.
	Revoked   bool
	RevokedAt time.Time
}

// revocation looks the certificate with serial up in the newest of the CRLs issued and
// signed by issuer (ECDSA, RSA or SM2: smx509 reads and checks all three); nil when none is.
func revocation(serial *big.Int, issuer *smx509.Certificate, embedded, given [][]byte) *Revocation {
	var best *smx509.RevocationList
	bestEmbedded := false
	for i, der := range append(append([][]byte{}, embedded...), given...) {
		crl, err := smx509.ParseRevocationList(der)
		if err != nil || crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		// The newest; of two issued in the same second, the one given after the file's.
		if best == nil || !crl.ThisUpdate.Before(best.ThisUpdate) {
			best, bestEmbedded = crl, i < len(embedded)
		}
	}
	if best == nil {
		return nil
	}
	r := &Revocation{CRLThisUpdate: best.ThisUpdate, Embedded: bestEmbedded}
	for _, e := range best.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			r.Revoked, r.RevokedAt = true, e.RevocationTime
			break
		}
	}
	return r
}
