package seal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"sealvault/vault"
	"sealvault/vault/pages"
)

// PageImage is one page of a document drawn as a PNG, with the page's size in PDF points
// (the unit of a placement, measured from the lower-left corner) and the document's page
// count, so that an interface can turn a click on the image into a placement.
type PageImage struct {
	PNG               []byte
	Page, PageCount   int
	WidthPt, HeightPt float64
}

// Page widths an image may be drawn at, in pixels.
const (
	PageImageMinWidth     = 100
	PageImageDefaultWidth = 800
	PageImageMaxWidth     = 2000
)

// DocumentPage draws page of a document uploaded to be sealed by the actor's department.
func (s *Service) DocumentPage(ctx context.Context, a Actor, d vault.Digest, page, width int, workDir string) (PageImage, error) {
	if _, err := s.GetDocument(ctx, a, d); err != nil {
		return PageImage{}, err
	}
	return s.renderPage(ctx, d, page, width, workDir)
}

// RequestPage draws page of the document of a seal request the actor may see (its
// requester's department, the seal's custodians and supervisor, auditors and administrators).
func (s *Service) RequestPage(ctx context.Context, a Actor, id uuid.UUID, page, width int, workDir string) (PageImage, error) {
	r, err := s.GetRequest(ctx, a, id)
	if err != nil {
		return PageImage{}, err
	}
	d, err := vault.ParseDigest(r.DocumentDigest)
	if err != nil {
		return PageImage{}, err
	}
	return s.renderPage(ctx, d, page, width, workDir)
}

func (s *Service) renderPage(ctx context.Context, d vault.Digest, page, width int, workDir string) (PageImage, error) {
	if width == 0 {
		width = PageImageDefaultWidth
	}
	if width < PageImageMinWidth || width > PageImageMaxWidth {
		return PageImage{}, &InvalidError{Fields: map[string]string{"query.width": fmt.Sprintf("must be %d to %d pixels", PageImageMinWidth, PageImageMaxWidth)}}
	}
	data, err := vault.ReadAll(ctx, s.Blobs, d)
	if err != nil {
		return PageImage{}, err
	}
	sizes, err := pages.PageSizes(data)
	if err != nil {
		return PageImage{}, err
	}
	if page < 1 || page > len(sizes) {
		return PageImage{}, &InvalidError{Fields: map[string]string{"path.n": fmt.Sprintf("the document has %d pages", len(sizes))}}
	}
	dir, err := os.MkdirTemp(workDir, "sealvault-page-*")
	if err != nil {
		return PageImage{}, fmt.Errorf("seal: page image: %w", err)
	}
	defer os.RemoveAll(dir)
	pdf := filepath.Join(dir, "document.pdf")
	if err := os.WriteFile(pdf, data, 0o600); err != nil {
		return PageImage{}, fmt.Errorf("seal: page image: %w", err)
	}
	data = nil
	out, err := pages.RenderPage(ctx, pdf, page, width, dir)
	if err != nil {
		return PageImage{}, err
	}
	png, err := os.ReadFile(out)
	if err != nil {
		return PageImage{}, fmt.Errorf("seal: page image: %w", err)
	}
	return PageImage{PNG: png, Page: page, PageCount: len(sizes), WidthPt: sizes[page-1][0], HeightPt: sizes[page-1][1]}, nil
}
