package seal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	qr "github.com/piglig/go-qr"

	"sealvault/audit"
	"sealvault/seal/pades"
	"sealvault/seal/sealimage"
	"sealvault/vault"
)

// Scan to verify (扫码验真): the visible stamp of a use carries, beside the seal, a QR code of
// the use's verification address and the caption ScanCaption. The address is
// PublicURL/v/<token>/<prefix>: token is 128 random bits (base64url, 22 characters) stored with
// the use, prefix the first DigestPrefixLen hex digits of the SHA-256 of the document that
// was sealed (the register's input digest; the output's digest cannot be printed inside the
// output).

// DefaultPublicURL is the public base address of the verification page when none is
// configured: the service's own, as `make run` serves it.
const DefaultPublicURL = "http://127.0.0.1:8080"

// ScanCaption is the line printed under the QR code.
const ScanCaption = "扫码验真"

// DigestPrefixLen is how many hex digits of the sealed document's digest the address names.
const DigestPrefixLen = 8

// The stamp with its QR panel, in fractions of the side of the seal's square: the panel (a gap,
// then the QR code above its caption) adds PanelWidth to the stamp's width, on the right of
// the seal, or on its left where the right has no room on the page.
const (
	panelGap   = 0.06
	qrSide     = 0.62
	captionEm  = 0.13
	captionGap = 0.03
	// PanelWidth is how much wider than the seal's square (of side 1) the stamp is with its
	// QR panel.
	PanelWidth = panelGap + qrSide
)

var (
	tokenPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	prefixPattern = regexp.MustCompile(`^[0-9a-f]{8}$`)
)

// ValidUseToken reports whether token has the form of a use's verification token.
func ValidUseToken(token string) bool { return tokenPattern.MatchString(token) }

// ValidDigestPrefix reports whether p has the form of the digest prefix a verification
// address carries.
func ValidDigestPrefix(p string) bool { return prefixPattern.MatchString(p) }

// useLink is the verification address of a use being made.
type useLink struct {
	token string
	url   string
}

// newUseLink makes the verification address of the use of seal sl for req, or nil when the
// seal's stamps carry no QR code (sl.ScanToVerify, as read for the use).
func (s *Service) newUseLink(sl Seal, req Request) (*useLink, error) {
	if !sl.ScanToVerify {
		return nil, nil
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	base := strings.TrimRight(s.PublicURL, "/")
	if base == "" {
		base = DefaultPublicURL
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return &useLink{token: tok, url: base + "/v/" + tok + "/" + req.DocumentDigest[:DigestPrefixLen]}, nil
}

// scanToVerify reports whether the stamps of seal sl carry the QR code.
func scanToVerify(ctx context.Context, db vault.Querier, sl Seal) (bool, error) {
	var on bool
	if err := db.QueryRow(ctx, `SELECT scan_to_verify FROM seals WHERE id = $1`, sl.ID).Scan(&on); err != nil {
		return false, fmt.Errorf("seal: scan to verify of %s: %w", sl.Ref, err)
	}
	return on, nil
}

// SetScanToVerify turns the QR code on the seal's stamps on or off, for the uses made from
// now on (a seal admin of the seal's department, or an admin); it is an audit event.
func (s *Service) SetScanToVerify(ctx context.Context, a Actor, id uuid.UUID, on bool) (Seal, error) {
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		cur, err := getSeal(ctx, tx, id, "FOR UPDATE OF s")
		if err != nil {
			return err
		}
		if err := s.manages(ctx, tx, a, cur.DepartmentID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE seals SET scan_to_verify = $2 WHERE id = $1`, id, on); err != nil {
			return err
		}
		return audit.Append(ctx, tx, a.Event(s.now(), "seal.scan_to_verify", map[string]string{audit.SubjectSeal: id.String(),
			audit.SubjectDepartment: cur.DepartmentID.String()}, map[string]any{"ref": cur.Ref, "enabled": on}))
	})
	if err != nil {
		return Seal{}, err
	}
	return s.GetSeal(ctx, id)
}

// queue queues on b, for the recording transaction, the statement that stores the address
// with the use's register row.
func (l *useLink) queue(b *pgx.Batch, useID uuid.UUID) {
	if l != nil {
		b.Queue(`INSERT INTO seal_use_links (use_id, token, url) VALUES ($1, $2, $3)`, useID, l.token, l.url)
	}
}

// stampFor is the stamp of req's use and where it goes on the document of size bytes in f:
// the seal's image in the square the clerk placed, and with a link, the QR panel beside it
// (right if the page has room, else left). The seal stays where it was placed.
func (s *Service) stampFor(ctx context.Context, sl Seal, req Request, link *useLink, f io.ReaderAt, size int64) (*pades.Stamp, pades.Placement, error) {
	p := req.Placement
	place := pades.Placement{Page: p.Page, X: p.X, Y: p.Y, Width: p.Size, Height: p.Size}
	if link == nil {
		st, err := s.stamp(ctx, *sl.ImageDigest)
		return st, place, err
	}
	pageW, _, err := pades.PageSize(f, size, p.Page)
	if err != nil {
		return nil, place, fmt.Errorf("seal: page of %s: %w", req.Ref, err)
	}
	left := panelLeft(p, pageW)
	img, err := s.sealImage(ctx, *sl.ImageDigest)
	if err != nil {
		return nil, place, err
	}
	st, err := s.composeStamp(*sl.ImageDigest, img, link.url, left)
	if err != nil {
		return nil, place, fmt.Errorf("seal: stamp of %s: %w", req.Ref, err)
	}
	panel := PanelWidth * p.Size
	place.Width = p.Size + panel
	if left {
		place.X -= panel
	}
	// A request placed before stamps had a panel may have room on neither side: the stamp
	// is moved onto the page as little as needed.
	place.X = math.Max(0, math.Min(place.X, pageW-place.Width))
	return st, place, nil
}

// panelLeft reports whether the QR panel goes left of a seal placed at p on a page pageW
// points wide: only when the right has no room and the left has.
func panelLeft(p Placement, pageW float64) bool {
	const slack = 0.5
	panel := PanelWidth * p.Size
	return p.X+p.Size+panel > pageW+slack && p.X-panel >= -slack
}

// panelFits reports whether a seal placed at p on a page pageW points wide leaves room for
// the QR panel on one side.
func panelFits(p Placement, pageW float64) bool {
	const slack = 0.5
	panel := PanelWidth * p.Size
	return p.X+p.Size+panel <= pageW+slack || p.X-panel >= -slack
}

// sealImage returns the seal image of digest decoded, decoded once per image: every use of
// a seal draws the same image beside its own QR code.
func (s *Service) sealImage(ctx context.Context, digest string) (image.Image, error) {
	if img, ok := s.sealImages.Load(digest); ok {
		return img.(image.Image), nil
	}
	data, err := s.readObject(ctx, digest)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("seal: image %s: %w", digest, err)
	}
	s.sealImages.Store(digest, img)
	return img, nil
}

// composeStamp is the stamp of a use: the seal image in a square beside the QR code of url
// with ScanCaption under it, left of the seal or right. Everything but the code is drawn and
// compressed once per image, side and code size (key names the image, stampBase); each use
// adds only its code, a small grayscale picture drawn over the base's white square.
func (s *Service) composeStamp(key string, sealImg image.Image, url string, left bool) (*pades.Stamp, error) {
	code, err := qr.EncodeText(url, qr.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	base, err := s.stampBase(key, sealImg, code.Size(), left)
	if err != nil {
		return nil, err
	}
	ov, err := pades.NewGrayOverlay(drawCode(code, base.module))
	if err != nil {
		return nil, err
	}
	return base.stamp.WithOverlay(ov, base.qx, base.top)
}

// drawCode draws code black on white, module pixels a module, inside a quiet zone of
// stampQuiet modules: each row of modules is drawn once and copied down.
func drawCode(code *qr.QrCode, module int) *image.Gray {
	size := code.Size()
	n := (size + 2*stampQuiet) * module
	img := image.NewGray(image.Rect(0, 0, n, n))
	for y := range size + 2*stampQuiet {
		line := img.Pix[y*module*n : (y*module+1)*n]
		for i := range line {
			line[i] = 0xff
		}
		if my := y - stampQuiet; my >= 0 && my < size {
			for x := range size {
				if code.Module(x, my) {
					clear(line[(x+stampQuiet)*module : (x+stampQuiet+1)*module])
				}
			}
		}
		for k := 1; k < module; k++ {
			copy(img.Pix[(y*module+k)*n:], line)
		}
	}
	return img
}

// stampQuiet is the modules of white around the QR code.
const stampQuiet = 2

// stampBase is a stamp without its QR code's dark modules, prepared for embedding, and
// where the code goes.
type stampBase struct {
	stamp           *pades.Stamp
	qx, top, module int
}

// stampBase draws, or finds drawn, the seal image, the QR code's white square for a code of
// size modules, and the caption.
func (s *Service) stampBase(key string, sealImg image.Image, size int, left bool) (*stampBase, error) {
	cacheKey := fmt.Sprintf("%s/%d/%t", key, size, left)
	if b, ok := s.stampBases.Load(cacheKey); ok {
		return b.(*stampBase), nil
	}
	sb := sealImg.Bounds()
	side := max(sb.Dx(), sb.Dy())
	k := float64(side)
	panelW := int(math.Round(PanelWidth * k))
	out := image.NewNRGBA(image.Rect(0, 0, side+panelW, side))
	sealX, panelX := 0, side+int(math.Round(panelGap*k))
	if left {
		sealX, panelX = panelW, 0
	}
	// The seal, centred in its square, as pades centres an image in its box.
	at := image.Pt(sealX+(side-sb.Dx())/2, (side-sb.Dy())/2)
	draw.Draw(out, image.Rectangle{Min: at, Max: at.Add(sb.Size())}, sealImg, sb.Min, draw.Over)

	n := size + 2*stampQuiet
	qrMax := int(qrSide * k)
	module := qrMax / n
	if module < 1 {
		return nil, errors.New("seal image too small for the QR code")
	}
	qrPx := module * n
	font, err := s.font()
	if err != nil {
		return nil, err
	}
	caption, err := sealimage.Caption(font, ScanCaption, captionEm*k, color.NRGBA{0x1a, 0x1a, 0x1a, 0xff})
	if err != nil {
		return nil, err
	}
	cb := caption.Bounds()
	top := (side - (qrPx + int(captionGap*k) + cb.Dy())) / 2
	qx := panelX + (int(qrSide*k)-qrPx)/2
	white := image.NewUniform(color.NRGBA{0xff, 0xff, 0xff, 0xff})
	draw.Draw(out, image.Rect(qx, top, qx+qrPx, top+qrPx), white, image.Point{}, draw.Src)
	cx := panelX + (int(qrSide*k)-cb.Dx())/2
	cy := top + qrPx + int(captionGap*k)
	draw.Draw(out, image.Rect(cx, cy, cx+cb.Dx(), cy+cb.Dy()), caption, cb.Min, draw.Over)
	st, err := pades.NewStampImage(out)
	if err != nil {
		return nil, err
	}
	b := &stampBase{stamp: st, qx: qx, top: top, module: module}
	s.stampBases.Store(cacheKey, b)
	return b, nil
}

// PublicUse is what anyone holding a printed stamp learns of its use by its verification
// address, without logging in: the seal, its department and status, the item, when, and the
// register number. It is its own type, field by field, so nothing about the applicant, the
// case or the people who asked and approved can reach it.
type PublicUse struct {
	UseRef     string    `json:"use_ref"`
	SealRef    string    `json:"seal_ref"`
	SealName   string    `json:"seal_name"`
	Department string    `json:"department"` // the seal's department
	ItemCode   string    `json:"item_code"`
	ItemName   string    `json:"item_name"`
	AppliedAt  time.Time `json:"applied_at"`
	SealStatus string    `json:"seal_status"`
	// RevokedAt is when the seal was revoked (注销), if it was; UsedBeforeRevocation then
	// says whether this use came before it.
	RevokedAt            *time.Time `json:"revoked_at,omitempty"`
	UsedBeforeRevocation *bool      `json:"used_before_revocation,omitempty"`
	// DocumentDigestPrefix begins the SHA-256 of the document as it was before sealing (the
	// register's input digest), as the address carries it.
	DocumentDigestPrefix string `json:"document_digest_prefix"`
	// OutputDigest is the SHA-256 of the sealed PDF the use produced.
	OutputDigest string `json:"output_digest"`
	URL          string `json:"url"`
	// Versions are the SHA-256 of the output and of each renewal of its archive timestamp:
	// each is exactly the file this use sealed.
	Versions []string `json:"versions"`
}

// PublicUse returns the public facts of the use whose verification token is token: an
// *InvalidError if token is not of the form, ErrNotFound if no use has it.
func (s *Service) PublicUse(ctx context.Context, token string) (PublicUse, error) {
	if !ValidUseToken(token) {
		return PublicUse{}, &InvalidError{Fields: map[string]string{"token": "must be the 22-character code of a verification address"}}
	}
	var u PublicUse
	var useNo, sealNo int64
	var since time.Time
	var input string
	err := s.DB.QueryRow(ctx, `
		SELECT u.no, s.no, s.name, d.name, u.item_code, COALESCE((SELECT i.name FROM service_items i WHERE i.code = u.item_code), ''),
			u.applied_at, s.status, s.status_since, u.input_digest, u.output_digest, l.url
		FROM seal_use_links l JOIN seal_uses u ON u.id = l.use_id JOIN seals s ON s.id = u.seal_id
			JOIN departments d ON d.id = s.department_id
		WHERE l.token = $1`, token).Scan(&useNo, &sealNo, &u.SealName, &u.Department, &u.ItemCode, &u.ItemName,
		&u.AppliedAt, &u.SealStatus, &since, &input, &u.OutputDigest, &u.URL)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	} else if err != nil {
		return u, fmt.Errorf("seal: public use: %w", err)
	}
	u.UseRef, u.SealRef = useRef(useNo), sealRef(sealNo)
	u.DocumentDigestPrefix = input[:DigestPrefixLen]
	rows, err := s.DB.Query(ctx, `SELECT a.digest FROM seal_use_archives a JOIN seal_use_links l ON l.use_id = a.use_id
		WHERE l.token = $1 ORDER BY a.version`, token)
	if err != nil {
		return u, fmt.Errorf("seal: public use: %w", err)
	}
	if u.Versions, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return u, fmt.Errorf("seal: public use: %w", err)
	}
	u.Versions = append(u.Versions, u.OutputDigest)
	if u.SealStatus == StatusRevoked {
		before := u.AppliedAt.Before(since)
		u.RevokedAt, u.UsedBeforeRevocation = &since, &before
	}
	return u, nil
}
