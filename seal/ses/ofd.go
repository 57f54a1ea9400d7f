package ses

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/emmansun/gmsm/smx509"
)

// OFD limits: an OFD is a zip (GB/T 33190); its parts are read into memory to be digested,
// so each part and the whole are bounded against a zip bomb.
const (
	maxOFDPart  = 64 << 20
	maxOFDTotal = 256 << 20
)

// OFDSignature is one signature of an OFD document and what its verification found.
type OFDSignature struct {
	ID   string `json:"id"`
	Path string `json:"path"` // the Signature.xml
	Type string `json:"type"` // "Seal" (电子签章) or "Sign" (电子签名)
	// Provider is who made it, as Signature.xml names it.
	Provider   string      `json:"provider,omitempty"`
	References []Reference `json:"references"`
	Signature  *Signature  `json:"-"`
	Report     Report      `json:"report"`
}

// Reference is one file a signature covers and whether it is unchanged.
type Reference struct {
	File string `json:"file"`
	OK   bool   `json:"ok"`
}

// ErrNoSignature is returned for an OFD that carries no signature.
var ErrNoSignature = errors.New("ses: the OFD document carries no signature")

type ofdRoot struct {
	Bodies []struct {
		DocRoot    string `xml:"DocRoot"`
		Signatures string `xml:"Signatures"`
	} `xml:"DocBody"`
}

type ofdSignatures struct {
	List []struct {
		ID      string `xml:"ID,attr"`
		Type    string `xml:"Type,attr"`
		BaseLoc string `xml:"BaseLoc,attr"`
	} `xml:"Signature"`
}

type ofdSignature struct {
	SignedInfo struct {
		Provider struct {
			Name string `xml:"ProviderName,attr"`
		} `xml:"Provider"`
		References struct {
			CheckMethod string `xml:"CheckMethod,attr"`
			List        []struct {
				FileRef    string `xml:"FileRef,attr"`
				CheckValue string `xml:"CheckValue"`
			} `xml:"Reference"`
		} `xml:"References"`
	} `xml:"SignedInfo"`
	SignedValue string `xml:"SignedValue"`
}

// VerifyOFD reads the OFD document in r (size bytes) and verifies each of its signatures:
// every referenced file's digest, then the SES_Signature over Signature.xml (Signature.Verify).
// What is not an OFD or not a signature is a *FormatError.
func VerifyOFD(r io.ReaderAt, size int64, roots *smx509.CertPool) ([]OFDSignature, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, &FormatError{What: "OFD document", Err: err}
	}
	pkg := ofdPackage{files: map[string]*zip.File{}}
	for _, f := range zr.File {
		pkg.files[strings.TrimPrefix(path.Clean("/"+f.Name), "/")] = f
	}
	var root ofdRoot
	if err := pkg.xml("OFD.xml", &root); err != nil {
		return nil, err
	}
	var out []OFDSignature
	for _, body := range root.Bodies {
		if body.Signatures == "" {
			continue
		}
		listPath := resolve("", body.Signatures)
		var list ofdSignatures
		if err := pkg.xml(listPath, &list); err != nil {
			return nil, err
		}
		for _, ref := range list.List {
			sigPath := resolve(path.Dir(listPath), ref.BaseLoc)
			one, err := pkg.verifyOne(sigPath, roots)
			if err != nil {
				return nil, err
			}
			one.ID = ref.ID
			one.Type = ref.Type
			if one.Type == "" {
				one.Type = "Seal" // the default of GB/T 33190
			}
			out = append(out, one)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoSignature
	}
	return out, nil
}

type ofdPackage struct {
	files map[string]*zip.File
	read  int64
}

// resolve is loc, a path in the package: absolute from the package's root, else relative
// to dir (GB/T 33190 ST_Loc).
func resolve(dir, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return strings.TrimPrefix(path.Clean(loc), "/")
	}
	return strings.TrimPrefix(path.Clean("/"+path.Join(dir, loc)), "/")
}

func (p *ofdPackage) bytes(name string) ([]byte, error) {
	f, ok := p.files[name]
	if !ok {
		return nil, &FormatError{What: "OFD document", Err: fmt.Errorf("it has no part %s", name)}
	}
	if f.UncompressedSize64 > maxOFDPart || p.read+int64(f.UncompressedSize64) > maxOFDTotal {
		return nil, &FormatError{What: "OFD document", Err: fmt.Errorf("part %s is larger than %d MiB", name, maxOFDPart>>20)}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &FormatError{What: "OFD document", Err: fmt.Errorf("part %s: %w", name, err)}
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxOFDPart+1))
	if err != nil {
		return nil, &FormatError{What: "OFD document", Err: fmt.Errorf("part %s: %w", name, err)}
	}
	if len(b) > maxOFDPart {
		return nil, &FormatError{What: "OFD document", Err: fmt.Errorf("part %s is larger than %d MiB", name, maxOFDPart>>20)}
	}
	p.read += int64(len(b))
	return b, nil
}

func (p *ofdPackage) xml(name string, v any) error {
	b, err := p.bytes(name)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return &FormatError{What: "OFD document", Err: fmt.Errorf("part %s: %w", name, err)}
	}
	return nil
}

func (p *ofdPackage) verifyOne(sigPath string, roots *smx509.CertPool) (OFDSignature, error) {
	out := OFDSignature{Path: "/" + sigPath}
	raw, err := p.bytes(sigPath)
	if err != nil {
		return out, err
	}
	var sx ofdSignature
	if err := xml.Unmarshal(raw, &sx); err != nil {
		return out, &FormatError{What: "OFD document", Err: fmt.Errorf("part %s: %w", sigPath, err)}
	}
	out.Provider = sx.SignedInfo.Provider.Name
	valuePath := resolve(path.Dir(sigPath), strings.TrimSpace(sx.SignedValue))
	der, err := p.bytes(valuePath)
	if err != nil {
		return out, err
	}
	if out.Signature, err = ParseSignature(der); err != nil {
		return out, err
	}
	out.Report = out.Signature.Verify(raw, roots)
	method := sx.SignedInfo.References.CheckMethod
	if method == "" {
		method = "1.2.156.10197.1.401" // SM3, the default of GB/T 33190
	}
	h, ok := digestByName(method)
	if !ok {
		out.Report.add("references", false, "the references' digest %s is not supported", method)
		out.Report.finish()
		return out, nil
	}
	changed := 0
	for _, ref := range sx.SignedInfo.References.List {
		name := resolve(path.Dir(sigPath), ref.FileRef)
		want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ref.CheckValue))
		b, rerr := p.bytes(name)
		ok := err == nil && rerr == nil && bytes.Equal(h(b), want)
		if !ok {
			changed++
		}
		out.References = append(out.References, Reference{File: "/" + name, OK: ok})
	}
	switch {
	case len(out.References) == 0:
		out.Report.add("references", false, "the signature covers no file")
	case changed > 0:
		out.Report.add("references", false, "%d of the %d files the signature covers changed or are missing", changed, len(out.References))
	default:
		out.Report.add("references", true, "the %d files the signature covers are unchanged", len(out.References))
	}
	if want := "/" + sigPath; out.Signature.PropertyInfo != want && strings.TrimPrefix(out.Signature.PropertyInfo, "/") != sigPath {
		out.Report.add("property-info", false, "the signature says it signed %q, not %s", out.Signature.PropertyInfo, want)
	}
	out.Report.finish()
	return out, nil
}
