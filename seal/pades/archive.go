package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/digitorus/timestamp"
)

// ArchiveRequest is what Archive needs to renew a signed document's archive timestamp.
type ArchiveRequest struct {
	// Timestamp gives the document timestamp; required.
	Timestamp Timestamper
	// DSS, when set, is added first: the validation data of what the file already holds
	// (the chains and CRLs of its earlier timestamps' TSAs), so that the new timestamp
	// covers it.
	DSS *ValidationData
	// Time is when the renewal is made: it dates the update's new file identifier.
	Time time.Time
}

// Archive writes to w the document of size bytes that r holds, followed by an incremental
// update adding req.DSS to its Document Security Store (when set) and one adding a
// document timestamp (/SubFilter /ETSI.RFC3161) over everything before it: a PAdES B-LTA
// renewal, which keeps a file verifiable after the certificates of its earlier timestamps
// expire. Like SignTo it holds neither document in memory and copies the original through
// byte for byte; a *DocumentError is a document that cannot take the update, returned
// before anything is written, and a *TimestampError a timestamper that gave no token.
func Archive(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, req ArchiveRequest) (Signed, error) {
	if req.Timestamp == nil || req.Time.IsZero() {
		return Signed{}, errors.New("pades: archive: a timestamper and a time are required")
	}
	doc, err := readDocument(r, size)
	if err != nil {
		return Signed{}, fmt.Errorf("pades: archive: %w", &DocumentError{Err: fmt.Errorf("read: %w", err)})
	}
	if doc.trailer.get("Encrypt") != nil {
		return Signed{}, fmt.Errorf("pades: archive: %w", &DocumentError{Err: errEncrypted})
	}
	var dss []byte
	if req.DSS != nil {
		catalog, ok := doc.resolve(doc.trailer.get("Root")).(dict)
		if !ok {
			return Signed{}, fmt.Errorf("pades: archive: %w", &DocumentError{Err: errors.New("the document catalog is missing")})
		}
		u := &update{doc: doc, req: &Request{Time: req.Time}, next: doc.size, base: doc.length, xrefAt: doc.startxref, catalog: catalog}
		if dss, err = u.dssUpdate(nil, req.DSS); err != nil {
			return Signed{}, fmt.Errorf("pades: archive: validation data: %w", err)
		}
	}
	h := sha256.New()
	n, err := copyHashed(ctx, w, r, size, h)
	if err != nil {
		return Signed{Size: n}, fmt.Errorf("pades: archive: copy: %w", err)
	}
	h.Write(dss)
	tsTail, tok, err := documentTimestamp(ctx, concatReader(r, size, dss), h, req.Timestamp, req.Time)
	if err != nil {
		return Signed{Size: n}, fmt.Errorf("pades: archive: %w", err)
	}
	if n, err = writeUpdates(w, n, dss, tsTail); err != nil {
		return Signed{Size: n}, fmt.Errorf("pades: archive: write: %w", err)
	}
	return Signed{Size: n, ArchiveTimestamp: tok}, nil
}

// documentTimestamp returns the incremental update that adds a document timestamp to the
// document r holds (an invisible field on page 1, like a signature's), and its token: h
// holds the SHA-256 state of all of r, to which the update less its /Contents gap is added.
func documentTimestamp(ctx context.Context, r *concatReaderAt, h hash.Hash, ts Timestamper, at time.Time) ([]byte, []byte, error) {
	doc, err := readDocument(r, r.size)
	if err != nil {
		return nil, nil, &DocumentError{Err: fmt.Errorf("read: %w", err)}
	}
	req := &Request{Place: Placement{Page: 1}, Time: at, docTimestamp: true}
	u, err := planUpdate(doc, req, nil, ts.MaxTokenSize())
	if err != nil {
		return nil, nil, &DocumentError{Err: err}
	}
	out := u.write()
	if err := u.setByteRange(out); err != nil {
		return nil, nil, err
	}
	h.Write(out[:u.contentsAt])
	h.Write(out[u.contentsEnd:])
	sum := h.Sum(nil)
	tok, err := ts.Token(ctx, sum)
	if err != nil {
		return nil, nil, &TimestampError{Err: err}
	}
	if !local(ts) {
		t, err := timestamp.Parse(tok)
		if err != nil {
			return nil, nil, &TimestampError{Err: fmt.Errorf("the token cannot be read: %w", err)}
		}
		if t.HashAlgorithm != crypto.SHA256 || !bytes.Equal(t.HashedMessage, sum) {
			return nil, nil, &TimestampError{Err: errors.New("the token is not for this document")}
		}
	}
	if len(tok) > u.contentsLen {
		return nil, nil, &TimestampError{Err: fmt.Errorf("the token (%d bytes) is larger than the %d its TSA promised", len(tok), u.contentsLen)}
	}
	hex.Encode(out[u.contentsAt+1:], tok)
	return out, tok, nil
}

// concatReaderAt reads a document followed by updates held in memory.
type concatReaderAt struct {
	r     io.ReaderAt
	n     int64
	parts [][]byte
	size  int64
}

func concatReader(r io.ReaderAt, n int64, parts ...[]byte) *concatReaderAt {
	c := &concatReaderAt{r: r, n: n, parts: parts, size: n}
	for _, p := range parts {
		c.size += int64(len(p))
	}
	return c
}

func (c *concatReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	done := 0
	for len(p) > 0 {
		switch {
		case off < c.n:
			k := int(min(int64(len(p)), c.n-off))
			m, err := c.r.ReadAt(p[:k], off)
			done += m
			if m < k {
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return done, err
			}
			p, off = p[k:], off+int64(k)
		default:
			at := off - c.n
			found := false
			for _, part := range c.parts {
				if at < int64(len(part)) {
					k := copy(p, part[at:])
					done += k
					p, off = p[k:], off+int64(k)
					found = true
					break
				}
				at -= int64(len(part))
			}
			if !found {
				return done, io.EOF
			}
		}
	}
	return done, nil
}
