package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"sealvault/vault/pages"
)

// requirements are the acquisition requirements the material catalog sets for a material
// type (table material_types); a type not in the catalog has none.
type requirements struct {
	code, name string
	formats    []string
	minDPI     *int
	minPixels  *int
	colour     string
	maxBytes   *int64
	maxPages   *int
}

func loadRequirements(ctx context.Context, db Querier, typeCode string) (*requirements, error) {
	r := &requirements{code: typeCode}
	err := db.QueryRow(ctx, `SELECT name, formats, min_dpi, min_pixels, colour, max_bytes, max_pages
		FROM material_types WHERE code = $1`, typeCode).Scan(&r.name, &r.formats, &r.minDPI, &r.minPixels, &r.colour, &r.maxBytes, &r.maxPages)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("vault: requirements of %s: %w", typeCode, err)
	}
	return r, nil
}

// check refuses an upload that does not meet r, naming the file and the requirement.
func (r *requirements) check(req IngestRequest, doc prepared) error {
	if r == nil {
		return nil
	}
	what := fmt.Sprintf("material type %s (%s)", r.code, r.name)
	whatZh := fmt.Sprintf("材料类型 %s（%s）", r.code, r.name)
	refuse := func(file, en, zh string) error {
		return &pages.RejectError{File: file, Reason: fmt.Sprintf("%s: %s", what, en), ReasonZh: fmt.Sprintf("%s：%s", whatZh, zh)}
	}
	first := ""
	var total int64
	if req.PDF != nil {
		first, total = req.PDF.Name, req.PDF.Size
		if !slices.Contains(r.formats, "pdf") {
			return refuse(first, fmt.Sprintf("accepts %v, not PDF", r.formats), fmt.Sprintf("只接受 %v 格式，不接受 PDF", r.formats))
		}
	}
	for i, p := range doc.pages {
		f := doc.pageFiles[i]
		total += f.Size
		if first == "" {
			first = f.Name
		}
		if !slices.Contains(r.formats, p.Format) {
			return refuse(f.Name, fmt.Sprintf("accepts %v, not %s", r.formats, p.Format), fmt.Sprintf("只接受 %v 格式，不接受 %s", r.formats, p.Format))
		}
		if r.minDPI != nil {
			switch {
			case p.DPI == 0:
				return refuse(f.Name, fmt.Sprintf("the scan records no resolution; at least %d DPI is required", *r.minDPI),
					fmt.Sprintf("扫描件未记录分辨率；要求不低于 %d DPI", *r.minDPI))
			case p.DPI < float64(*r.minDPI):
				return refuse(f.Name, fmt.Sprintf("the scan is %.0f DPI; at least %d DPI is required", p.DPI, *r.minDPI),
					fmt.Sprintf("扫描分辨率为 %.0f DPI，要求不低于 %d DPI", p.DPI, *r.minDPI))
			}
		}
		if r.minPixels != nil && min(p.Width, p.Height) < *r.minPixels {
			return refuse(f.Name, fmt.Sprintf("the image is %d×%d pixels; at least %d on the shorter side is required", p.Width, p.Height, *r.minPixels),
				fmt.Sprintf("图像为 %d×%d 像素，短边要求不少于 %d 像素", p.Width, p.Height, *r.minPixels))
		}
		switch {
		case r.colour == "colour" && (p.Color == "gray" || p.Color == "bilevel"):
			return refuse(f.Name, fmt.Sprintf("the scan is %s; a colour scan is required", p.Color), "扫描件为灰度或黑白，要求彩色扫描")
		case r.colour == "gray" && p.Color != "gray" && p.Color != "bilevel" && p.Color != "":
			return refuse(f.Name, "the scan is in colour; a greyscale or black-and-white scan is required", "扫描件为彩色，要求灰度或黑白扫描")
		}
	}
	if r.maxPages != nil && doc.pageCount > *r.maxPages {
		return refuse(first, fmt.Sprintf("has %d pages; at most %d are allowed", doc.pageCount, *r.maxPages),
			fmt.Sprintf("共 %d 页，最多允许 %d 页", doc.pageCount, *r.maxPages))
	}
	if r.maxBytes != nil && total > *r.maxBytes {
		return refuse(first, fmt.Sprintf("the files come to %d bytes; at most %d are allowed", total, *r.maxBytes),
			fmt.Sprintf("文件共 %d 字节，最多允许 %d 字节", total, *r.maxBytes))
	}
	return nil
}
