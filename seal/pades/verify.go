package pades

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Signature is what Verify found out about one signature.
type Signature struct {
	// Field is the signature field's fully qualified name; empty for a signature dictionary
	// that no field refers to.
	Field string
	// SubFilter is the signature's /SubFilter, such as ETSI.CAdES.detached.
	SubFilter string
	// DocumentTimestamp reports a document timestamp (/SubFilter /ETSI.RFC3161, PAdES
	// B-LTA) rather than a signature: its Timestamp is the token over the byte ranges,
	// Time the token's time, Signer the TSA's certificate; DigestValid and ChainValid say
	// that the token is over the signed bytes and that it verifies.
	DocumentTimestamp bool
	// Name, Reason and Location are the signature dictionary's text, decoded.
	Name, Reason, Location string
	// Time is the claimed signing time (/M), or the CMS signing-time when /M is absent.
	Time time.Time
	// Signer is the signer certificate and Chain every certificate in the CMS.
	Signer *x509.Certificate
	Chain  []*x509.Certificate
	// ByteRange is the signature's /ByteRange.
	ByteRange [4]int64
	// SignatureDigest is the SHA-256 of /Contents as the file holds it (Signed.SignatureDigest).
	SignatureDigest [32]byte
	// DigestValid reports that the digest of the byte ranges matches the CMS
	// message-digest and that the signature over the signed attributes verifies.
	DigestValid bool
	// ChainValid reports that the signer certificate chains to the given roots at Time and
	// allows digital signatures or content commitment; ChainError says why not.
	ChainValid bool
	ChainError string
	// CoversWholeFile reports that the byte ranges end at the end of the file; Appended is
	// the number of bytes after their end.
	CoversWholeFile bool
	Appended        int64
	// CoversRevision reports that the signed bytes end at the end of a revision (%%EOF),
	// so anything after them is a later incremental update.
	CoversRevision bool
	// LaterAdditions names what the later revisions add when all they add leaves the signed
	// content as it was: "validation data (DSS)", "signature Seal-2", "document timestamp
	// …". OnlyAdditionsAfter reports that this was checked and holds (false when nothing
	// follows the signature).
	LaterAdditions     []string
	OnlyAdditionsAfter bool
	// Timestamp is the signature timestamp (PAdES B-T), nil when the signature has none.
	// When it is valid, the chain is judged at its time instead of the claimed Time.
	Timestamp *Timestamp
	// ValidationData is what the document's Document Security Store holds (PAdES B-LT),
	// nil without one; VRI reports that the store has a /VRI entry for this signature (which
	// sealvault does not write).
	ValidationData *ValidationData
	VRI            bool
	// Revocation is what the newest CRL of the signer's issuer, embedded or given, says of
	// the signer certificate; nil when no CRL of that issuer was at hand. A certificate
	// revoked before the signature's trusted time makes the chain invalid.
	Revocation *Revocation
	// ESeal is what a PDF electronic seal (SubFilterSES: a GB/T 38540 SES_Signature made
	// with SM2 over SM3) states and its checks; nil for a CMS signature. For one, Signer and
	// Chain are nil (its certificates are SM2 ones, in ESeal), DigestValid covers the data
	// hash and the signer's signature, and ChainValid every other check.
	ESeal *ESealReport
	// Problems are findings in plain English, such as bytes appended after the signature.
	Problems []string
}

// Verify reports every signature in pdf: those of the signature fields in the document's
// newest revision, then signature dictionaries that no field refers to. A document without
// signatures gives an empty slice. roots are the trusted roots; nil trusts none.
func Verify(pdf []byte, roots *x509.CertPool) ([]Signature, error) {
	return VerifyWith(pdf, VerifyOptions{Roots: roots})
}

// VerifyOptions are what a verification trusts and has at hand besides the document.
type VerifyOptions struct {
	// Roots are the trusted roots; nil trusts none.
	Roots *x509.CertPool
	// CRLs are certificate revocation lists (DER) to judge signer certificates by, besides
	// those in the document's DSS; the newest of an issuer's counts.
	CRLs [][]byte
	// SM2Roots are the trusted SM2 roots of electronic seals: of their signers'
	// certificates and of their seal data's makers. Nil trusts none.
	SM2Roots *smx509.CertPool
}

// VerifyWith is Verify with options.
func VerifyWith(pdf []byte, opts VerifyOptions) ([]Signature, error) {
	doc, err := readDocument(bytes.NewReader(pdf), int64(len(pdf)))
	if err != nil {
		return nil, fmt.Errorf("pades: verify: %w", err)
	}
	found := doc.signatureFields()
	for _, num := range doc.unreferencedSignatures(pdf, found) {
		found = append(found, sigField{num: num})
	}
	vd, vri := doc.readDSS()
	ctx := verifyContext{roots: opts.Roots, crls: opts.CRLs, vd: vd, vri: vri, sm2Roots: opts.SM2Roots}
	sigs := make([]Signature, 0, len(found))
	for _, f := range found {
		sigs = append(sigs, doc.verifyOne(pdf, f, ctx))
	}
	slices.SortStableFunc(sigs, func(a, b Signature) int {
		return int(a.ByteRange[2] + a.ByteRange[3] - b.ByteRange[2] - b.ByteRange[3])
	})
	return sigs, nil
}

// sigField is a signature dictionary, by object number, and the field that holds it.
type sigField struct {
	name string
	num  int
}

// signatureFields walks the AcroForm field tree for signed signature fields.
func (d *document) signatureFields() []sigField {
	catalog, _ := d.resolve(d.trailer.get("Root")).(dict)
	form, _ := d.resolve(catalog.get("AcroForm")).(dict)
	fields, _ := d.resolve(form.get("Fields")).(array)
	var out []sigField
	seen := make(map[int]bool)
	var walk func(fields array, parent string, ft object, depth int)
	walk = func(fields array, parent string, ft object, depth int) {
		if depth > 32 {
			return
		}
		for _, f := range fields {
			r, ok := f.(ref)
			fd, isDict := d.resolve(f).(dict)
			if !ok || !isDict || seen[r.num] {
				continue
			}
			seen[r.num] = true
			full := parent
			if t, ok := d.resolve(fd.get("T")).(*pdfString); ok {
				if full != "" {
					full += "."
				}
				full += decodeText(t.b)
			}
			typ := inherit(ft, fd.get("FT"))
			if kids, ok := d.resolve(fd.get("Kids")).(array); ok {
				walk(kids, full, typ, depth+1)
			}
			if v, ok := fd.get("V").(ref); ok && typ == name("Sig") {
				out = append(out, sigField{name: full, num: v.num})
			}
		}
	}
	walk(fields, "", nil, 0)
	return out
}

// unreferencedSignatures returns the numbers of uncompressed objects of pdf that look like
// signature dictionaries but are not in found.
func (d *document) unreferencedSignatures(pdf []byte, found []sigField) []int {
	known := make(map[int]bool, len(found))
	for _, f := range found {
		known[f.num] = true
	}
	type span struct {
		num int
		off int64
	}
	var spans []span
	for num, e := range d.xref {
		if e.kind == 1 {
			spans = append(spans, span{num, e.off})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	var out []int
	for i, s := range spans {
		end := int64(len(pdf))
		if i+1 < len(spans) {
			// An offset past the end of the file (a damaged or hostile table) ends at it.
			end = min(spans[i+1].off, end)
		}
		if s.off < 0 || s.off >= end || known[s.num] {
			continue
		}
		if !bytes.Contains(pdf[s.off:end], []byte("/ByteRange")) {
			continue
		}
		if o, _ := d.object(s.num); o != nil {
			if sd, ok := o.(dict); ok && sd.get("ByteRange") != nil && sd.get("Contents") != nil {
				out = append(out, s.num)
			}
		}
	}
	slices.Sort(out)
	return out
}

// verifyContext is what every signature of a document is verified with.
type verifyContext struct {
	roots    *x509.CertPool
	sm2Roots *smx509.CertPool
	crls     [][]byte
	vd       *ValidationData
	vri      map[string]bool
}

// verifyOne checks the signature dictionary f.num of pdf.
func (d *document) verifyOne(pdf []byte, f sigField, vc verifyContext) Signature {
	s := Signature{Field: f.name, ValidationData: vc.vd}
	o, err := d.object(f.num)
	sd, ok := o.(dict)
	if err != nil || !ok {
		s.problem("the signature dictionary (object %d) cannot be read", f.num)
		return s
	}
	s.readDict(d, sd)
	contents, ok := sd.get("Contents").(*pdfString)
	if !ok || !contents.hex {
		s.problem("/Contents is not a hex string in the signature dictionary")
		return s
	}
	if !s.readByteRange(d, sd.get("ByteRange"), contents) {
		return s
	}
	s.VRI = vc.vri[vriKey(contents.b)]
	s.SignatureDigest = sha256.Sum256(contents.b)
	s.coverage(d, pdf)
	if s.SubFilter == "ETSI.RFC3161" {
		s.checkDocumentTimestamp(pdf, contents.b, vc.roots)
		return s
	}
	if s.isESeal(contents.b) {
		s.checkESeal(pdf, contents.b, vc)
		return s
	}
	s.checkCMS(pdf, contents.b, vc)
	return s
}

func (s *Signature) problem(format string, args ...any) {
	s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
}

// readDict reads the descriptive entries of the signature dictionary.
func (s *Signature) readDict(d *document, sd dict) {
	if sf, ok := sd.get("SubFilter").(name); ok {
		s.SubFilter = string(sf)
	}
	text := func(key string) string {
		if t, ok := d.resolve(sd.get(key)).(*pdfString); ok {
			return decodeText(t.b)
		}
		return ""
	}
	s.Name, s.Reason, s.Location = text("Name"), text("Reason"), text("Location")
	if m := text("M"); m != "" {
		t, err := parseDate(m)
		if err != nil {
			s.problem("the signing time /M %q cannot be read", m)
		}
		s.Time = t
	}
}

// readByteRange checks that the byte ranges start at 0, lie in the file and leave out
// exactly the /Contents hex string.
func (s *Signature) readByteRange(d *document, o object, contents *pdfString) bool {
	a, ok := o.(array)
	if !ok || len(a) != 4 {
		s.problem("/ByteRange is not an array of four integers")
		return false
	}
	for i, e := range a {
		n, _ := e.(number)
		v, ok := n.int()
		if !ok || v < 0 {
			s.problem("/ByteRange is not an array of four non-negative integers")
			return false
		}
		s.ByteRange[i] = v
	}
	br, size := s.ByteRange, d.length
	switch {
	case br[0] != 0:
		s.problem("the signed bytes do not start at the beginning of the file")
	case br[1] >= br[2] || br[2]+br[3] > size:
		s.problem("/ByteRange %v does not fit a file of %d bytes", br, size)
	case contents.start != int(br[1]) || contents.end != int(br[2]):
		s.problem("the gap in /ByteRange is not exactly the /Contents of this signature")
	default:
		return true
	}
	return false
}

// coverage works out what follows the signed bytes.
func (s *Signature) coverage(d *document, data []byte) {
	end := s.ByteRange[2] + s.ByteRange[3]
	s.Appended = int64(len(data)) - end
	s.CoversWholeFile = s.Appended == 0
	signed := bytes.TrimRight(data[:end], "\r\n \t\x00")
	s.CoversRevision = bytes.HasSuffix(signed, []byte("%%EOF"))
	later := bytes.TrimRight(data[end:], "\r\n \t\x00")
	switch {
	case s.CoversWholeFile:
	case s.CoversRevision && bytes.HasSuffix(later, []byte("%%EOF")):
		adds, err := d.laterChanges(end)
		if errors.Is(err, errNotUpdate) {
			s.problem("%d bytes were appended after this signature; %v", s.Appended, err)
			break
		}
		if err != nil {
			s.problem("%d bytes were appended after this signature as later revisions, which change what it signed: %v", s.Appended, err)
			break
		}
		s.LaterAdditions, s.OnlyAdditionsAfter = adds, true
	default:
		s.problem("%d bytes were appended after this signature", s.Appended)
	}
}

// checkCMS verifies the CMS against the byte ranges and builds the chain.
func (s *Signature) checkCMS(data, der []byte, vc verifyContext) {
	roots := vc.roots
	der = trimCMS(der)
	p, err := parseCMS(der)
	if err != nil {
		s.problem("the CMS cannot be read: %v", err)
		return
	}
	s.Signer, s.Chain = p.signer, p.certs
	if p.extraSigners > 0 {
		s.problem("the CMS has %d more signers; only the first is checked", p.extraSigners)
	}
	if s.SubFilter == "ETSI.CAdES.detached" {
		if !p.hasESS {
			s.problem("the CMS has no signing-certificate-v2 attribute, which PAdES requires")
		}
		if p.hasSignTime {
			s.problem("the CMS has a signing-time attribute, which PAdES baseline does not allow")
		}
	}
	s.DigestValid = s.checkDigest(data, p)
	s.checkTimestamp(p, roots)
	s.checkChain(p, vc)
}

// trimCMS drops the zero padding after the DER value in /Contents.
func trimCMS(der []byte) []byte {
	if len(der) < 2 || der[0] != 0x30 {
		return der
	}
	n, hdr := int(der[1]), 2
	if der[1]&0x80 != 0 {
		k := int(der[1] & 0x7f)
		if k == 0 || k > 4 || len(der) < 2+k {
			return der
		}
		n = 0
		for _, c := range der[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if hdr+n <= len(der) {
		return der[:hdr+n]
	}
	return der
}

func (s *Signature) checkDigest(data []byte, p *parsedCMS) bool {
	if !p.contentType.Equal(oidData) {
		s.problem("the CMS content-type attribute is not id-data")
		return false
	}
	h := p.digestAlg.New()
	h.Write(data[:s.ByteRange[1]])
	h.Write(data[s.ByteRange[2] : s.ByteRange[2]+s.ByteRange[3]])
	if sum := h.Sum(nil); !bytes.Equal(sum, p.digest) {
		s.problem("the signed bytes were changed: their digest does not match the signature")
		return false
	}
	if err := p.verifySignature(); err != nil {
		s.problem("%v", err)
		return false
	}
	if p.hasESS && p.essHash.Available() {
		h := p.essHash.New()
		h.Write(p.signer.Raw)
		if !bytes.Equal(h.Sum(nil), p.essCertHash) {
			s.problem("the signing-certificate-v2 attribute names another certificate than the signer's")
			return false
		}
	}
	return true
}

// checkChain builds a chain from the signer to roots at the signing time.
func (s *Signature) checkChain(p *parsedCMS, vc verifyContext) {
	roots := vc.roots
	switch {
	case p.signer == nil:
		s.ChainError = "no signer certificate"
		return
	case roots == nil:
		s.ChainError = "no trusted roots were given"
		return
	}
	at := s.Time
	if s.Timestamp != nil && s.Timestamp.Valid {
		at = s.Timestamp.Time
	} else if at.IsZero() {
		at = time.Now()
	}
	inter := x509.NewCertPool()
	for _, c := range p.certs {
		if c != p.signer {
			inter.AddCert(c)
		}
	}
	var embeddedCRLs [][]byte
	if vc.vd != nil {
		for _, c := range vc.vd.Certs {
			inter.AddCert(c)
		}
		embeddedCRLs = vc.vd.CRLs
	}
	chains, err := p.signer.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		s.ChainError = err.Error()
		s.problem("the signer certificate is not trusted: %v", err)
		return
	}
	const sigUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	if ku := p.signer.KeyUsage; ku != 0 && ku&sigUsage == 0 {
		s.ChainError = "the signer certificate's key usage allows neither digitalSignature nor contentCommitment"
		s.problem("%s", s.ChainError)
		return
	}
	if len(chains) > 0 && len(chains[0]) > 1 {
		if issuer, err := smx509.ParseCertificate(chains[0][1].Raw); err == nil {
			s.Revocation = revocation(p.signer.SerialNumber, issuer, embeddedCRLs, vc.crls)
		}
	}
	if r := s.Revocation; r != nil && r.Revoked && !r.RevokedAt.After(at) {
		s.ChainError = fmt.Sprintf("the signer certificate was revoked on %s, before the signature's time %s",
			r.RevokedAt.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		s.problem("%s", s.ChainError)
		return
	}
	s.ChainValid = true
}

// String summarises the signature in one line, for logs and test failures.
func (s Signature) String() string {
	return fmt.Sprintf("%s: digest valid %t, chain valid %t, covers whole file %t, problems: %s",
		s.Field, s.DigestValid, s.ChainValid, s.CoversWholeFile, strings.Join(s.Problems, "; "))
}
