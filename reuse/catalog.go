package reuse

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/vault"
)

// Validity rules of a material type.
const (
	ValidUntilExpiry = "until_expiry" // until the expiry stated on the material
	ValidFixedPeriod = "fixed_period" // ValidityMonths from its issue (e.g. 3 for a no-criminal-record certificate)
	ValidLongTerm    = "long_term"
)

var codeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// MaterialType is one entry of the material catalog (材料目录).
type MaterialType struct {
	Code             string   `json:"code" yaml:"code"`
	Name             string   `json:"name" yaml:"name"`
	Category         string   `json:"category" yaml:"category"`
	HolderKind       string   `json:"holder_kind" yaml:"holder_kind"` // person | organisation
	Formats          []string `json:"formats" yaml:"formats"`         // jpeg, png, tiff, pdf
	MinDPI           *int     `json:"min_dpi" yaml:"min_dpi"`
	MinPixels        *int     `json:"min_pixels" yaml:"min_pixels"`
	Colour           string   `json:"colour" yaml:"colour"` // any | colour | gray
	MaxBytes         *int64   `json:"max_bytes" yaml:"max_bytes"`
	MaxPages         *int     `json:"max_pages" yaml:"max_pages"`
	OriginalRequired bool     `json:"original_required" yaml:"original_required"`
	Validity         string   `json:"validity" yaml:"validity"`
	ValidityMonths   *int     `json:"validity_months" yaml:"validity_months"`
	Sensitivity      string   `json:"sensitivity" yaml:"sensitivity"` // normal | sensitive | secret
	Shareable        bool     `json:"shareable" yaml:"shareable"`
}

// Check returns what is wrong with t, field by field (nil if nothing), and fills defaults.
func (t *MaterialType) Check() map[string]string {
	bad := map[string]string{}
	t.Code, t.Name = strings.TrimSpace(t.Code), strings.TrimSpace(t.Name)
	if !codeRE.MatchString(t.Code) {
		bad["code"] = "must be letters, digits, '.', '_' or '-', at most 64"
	}
	if l := len([]rune(t.Name)); l == 0 || l > 100 {
		bad["name"] = "is required, at most 100 characters"
	}
	if t.HolderKind != "person" && t.HolderKind != "organisation" {
		bad["holder_kind"] = "must be person or organisation"
	}
	if len(t.Formats) == 0 {
		t.Formats = []string{"jpeg", "png", "tiff", "pdf"}
	}
	for _, f := range t.Formats {
		if !slices.Contains([]string{"jpeg", "png", "tiff", "pdf"}, f) {
			bad["formats"] = "must list jpeg, png, tiff or pdf"
		}
	}
	if t.Colour == "" {
		t.Colour = "any"
	}
	if !slices.Contains([]string{"any", "colour", "gray"}, t.Colour) {
		bad["colour"] = "must be any, colour or gray"
	}
	if t.Sensitivity == "" {
		t.Sensitivity = "normal"
	}
	if !slices.Contains([]string{"normal", "sensitive", "secret"}, t.Sensitivity) {
		bad["sensitivity"] = "must be normal, sensitive or secret"
	}
	for name, v := range map[string]*int{"min_dpi": t.MinDPI, "min_pixels": t.MinPixels, "max_pages": t.MaxPages} {
		if v != nil && *v <= 0 {
			bad[name] = "must be positive"
		}
	}
	if t.MaxBytes != nil && *t.MaxBytes <= 0 {
		bad["max_bytes"] = "must be positive"
	}
	switch t.Validity {
	case ValidFixedPeriod:
		if t.ValidityMonths == nil || *t.ValidityMonths <= 0 {
			bad["validity_months"] = "is required with validity fixed_period, a positive number of months"
		}
	case ValidUntilExpiry, ValidLongTerm:
		if t.ValidityMonths != nil {
			bad["validity_months"] = "is only for validity fixed_period"
		}
	default:
		bad["validity"] = "must be until_expiry, fixed_period or long_term"
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// ItemMaterial is one material a service item requires (or accepts).
type ItemMaterial struct {
	TypeCode      string `json:"type_code" yaml:"type_code"`
	Required      bool   `json:"required" yaml:"required"`
	ReuseAccepted bool   `json:"reuse_accepted" yaml:"reuse_accepted"`
}

// ServiceItem is a service item (事项) and the materials it requires.
type ServiceItem struct {
	Code           string    `json:"code" yaml:"code"`
	Name           string    `json:"name" yaml:"name"`
	DepartmentCode string    `json:"department_code" yaml:"department_code"`
	DepartmentID   uuid.UUID `json:"department_id" yaml:"-"`
	// Kind is ItemInstant (即办件: decided and sealed at the front desk where a letter
	// delegates it) or ItemPromised (承诺件: forwarded to the owning department; the default).
	Kind string `json:"kind" yaml:"kind"`
	// TimeLimitDays is the promised time limit (承诺时限) in working days from acceptance;
	// nil means 20 for a promised item and 0 (the day of acceptance) for an instant one.
	TimeLimitDays *int           `json:"time_limit_days" yaml:"time_limit_days"`
	Materials     []ItemMaterial `json:"materials" yaml:"materials"`
}

// Kinds of service item.
const (
	ItemInstant  = "instant"  // 即办件
	ItemPromised = "promised" // 承诺件
)

// Check returns what is wrong with it, field by field (nil if nothing).
func (it *ServiceItem) Check() map[string]string {
	bad := map[string]string{}
	it.Code, it.Name = strings.TrimSpace(it.Code), strings.TrimSpace(it.Name)
	if !codeRE.MatchString(it.Code) {
		bad["code"] = "must be letters, digits, '.', '_' or '-', at most 64"
	}
	if l := len([]rune(it.Name)); l == 0 || l > 200 {
		bad["name"] = "is required, at most 200 characters"
	}
	if strings.TrimSpace(it.DepartmentCode) == "" && it.DepartmentID == uuid.Nil {
		bad["department_code"] = "is required"
	}
	switch it.Kind = strings.TrimSpace(it.Kind); it.Kind {
	case "":
		it.Kind = ItemPromised
	case ItemInstant, ItemPromised:
	default:
		bad["kind"] = "must be instant (即办件) or promised (承诺件)"
	}
	if it.TimeLimitDays == nil {
		d := 20
		if it.Kind == ItemInstant {
			d = 0
		}
		it.TimeLimitDays = &d
	} else if *it.TimeLimitDays < 0 || *it.TimeLimitDays > 365 {
		bad["time_limit_days"] = "must be 0 to 365 working days"
	}
	if len(it.Materials) == 0 {
		bad["materials"] = "must list at least one material type"
	}
	seen := map[string]bool{}
	for i, m := range it.Materials {
		if seen[m.TypeCode] {
			bad[fmt.Sprintf("materials[%d].type_code", i)] = "is listed twice"
		}
		seen[m.TypeCode] = true
	}
	if len(bad) == 0 {
		return nil
	}
	return bad
}

// PutType inserts or replaces a material type.
func PutType(ctx context.Context, db vault.Querier, t MaterialType) error {
	if bad := t.Check(); bad != nil {
		return &InvalidError{Fields: bad}
	}
	_, err := db.Exec(ctx, `
		INSERT INTO material_types (code, name, category, holder_kind, formats, min_dpi, min_pixels, colour, max_bytes,
			max_pages, original_required, validity, validity_months, sensitivity, shareable)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (code) DO UPDATE SET name = $2, category = $3, holder_kind = $4, formats = $5, min_dpi = $6,
			min_pixels = $7, colour = $8, max_bytes = $9, max_pages = $10, original_required = $11, validity = $12,
			validity_months = $13, sensitivity = $14, shareable = $15, updated_at = now()`,
		t.Code, t.Name, t.Category, t.HolderKind, t.Formats, t.MinDPI, t.MinPixels, t.Colour, t.MaxBytes, t.MaxPages,
		t.OriginalRequired, t.Validity, t.ValidityMonths, t.Sensitivity, t.Shareable)
	if err != nil {
		return fmt.Errorf("reuse: put type %s: %w", t.Code, err)
	}
	return nil
}

// PutItem inserts or replaces a service item and its material list. The department is
// found by code when DepartmentID is not set; every material type must exist.
func PutItem(ctx context.Context, tx pgx.Tx, it ServiceItem) error {
	if bad := it.Check(); bad != nil {
		return &InvalidError{Fields: bad}
	}
	if it.DepartmentID == uuid.Nil {
		if err := tx.QueryRow(ctx, `SELECT id FROM departments WHERE code = $1`, it.DepartmentCode).Scan(&it.DepartmentID); isNoRows(err) {
			return &InvalidError{Fields: map[string]string{"department_code": "no department " + it.DepartmentCode}}
		} else if err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO service_items (code, name, department_id, kind, time_limit_days) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (code) DO UPDATE SET name = $2, department_id = $3, kind = $4, time_limit_days = $5, updated_at = now()`,
		it.Code, it.Name, it.DepartmentID, it.Kind, *it.TimeLimitDays); err != nil {
		return fmt.Errorf("reuse: put item %s: %w", it.Code, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM item_materials WHERE item_code = $1`, it.Code); err != nil {
		return err
	}
	for i, m := range it.Materials {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM material_types WHERE code = $1)`, m.TypeCode).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return &InvalidError{Fields: map[string]string{fmt.Sprintf("materials[%d].type_code", i): "no material type " + m.TypeCode}}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO item_materials (item_code, type_code, position, required, reuse_accepted)
			VALUES ($1, $2, $3, $4, $5)`, it.Code, m.TypeCode, i+1, m.Required, m.ReuseAccepted); err != nil {
			return err
		}
	}
	return nil
}

// typeColumns are the columns of material_types t that typeFields scans into.
const typeColumns = `t.code, t.name, t.category, t.holder_kind, t.formats, t.min_dpi, t.min_pixels, t.colour,
	t.max_bytes, t.max_pages, t.original_required, t.validity, t.validity_months, t.sensitivity, t.shareable`

func typeFields(t *MaterialType) []any {
	return []any{&t.Code, &t.Name, &t.Category, &t.HolderKind, &t.Formats, &t.MinDPI, &t.MinPixels, &t.Colour, &t.MaxBytes,
		&t.MaxPages, &t.OriginalRequired, &t.Validity, &t.ValidityMonths, &t.Sensitivity, &t.Shareable}
}

func scanType(row pgx.Row) (MaterialType, error) {
	var t MaterialType
	err := row.Scan(typeFields(&t)...)
	return t, err
}

// GetType returns a material type.
func GetType(ctx context.Context, db vault.Querier, code string) (MaterialType, error) {
	t, err := scanType(db.QueryRow(ctx, `SELECT `+typeColumns+` FROM material_types t WHERE t.code = $1`, code))
	if isNoRows(err) {
		return t, ErrNotFound
	}
	return t, err
}

// ListTypes returns the whole material catalog, by code.
func ListTypes(ctx context.Context, db vault.Querier) ([]MaterialType, error) {
	rows, err := db.Query(ctx, `SELECT `+typeColumns+` FROM material_types t ORDER BY t.code`)
	if err != nil {
		return nil, fmt.Errorf("reuse: material types: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (MaterialType, error) { return scanType(r) })
}

// Requirements describes t's acquisition requirements for people, in Chinese.
func (t MaterialType) Requirements() []string {
	var out []string
	if t.OriginalRequired {
		out = append(out, "须核验原件")
	}
	switch t.Colour {
	case "colour":
		out = append(out, "彩色扫描")
	case "gray":
		out = append(out, "灰度或黑白扫描")
	}
	if t.MinDPI != nil {
		out = append(out, fmt.Sprintf("分辨率不低于 %d DPI", *t.MinDPI))
	}
	if t.MinPixels != nil {
		out = append(out, fmt.Sprintf("短边不少于 %d 像素", *t.MinPixels))
	}
	if t.MaxPages != nil {
		out = append(out, fmt.Sprintf("最多 %d 页", *t.MaxPages))
	}
	if len(t.Formats) > 0 && len(t.Formats) < 4 {
		out = append(out, "接受 "+strings.ToUpper(strings.Join(t.Formats, "、")))
	}
	if t.Validity == ValidFixedPeriod && t.ValidityMonths != nil {
		out = append(out, fmt.Sprintf("自出具之日起 %d 个月内有效", *t.ValidityMonths))
	}
	return out
}

// ListItems returns every service item with its materials, by code.
func ListItems(ctx context.Context, db vault.Querier) ([]ServiceItem, error) {
	rows, err := db.Query(ctx, `
		SELECT i.code, i.name, d.code, i.department_id, i.kind, i.time_limit_days,
			coalesce(json_agg(json_build_object('type_code', m.type_code, 'required', m.required, 'reuse_accepted', m.reuse_accepted)
				ORDER BY m.position) FILTER (WHERE m.type_code IS NOT NULL), '[]')
		FROM service_items i JOIN departments d ON d.id = i.department_id
		LEFT JOIN item_materials m ON m.item_code = i.code
		GROUP BY i.code, i.name, d.code, i.department_id ORDER BY i.code`)
	if err != nil {
		return nil, fmt.Errorf("reuse: items: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ServiceItem, error) {
		var it ServiceItem
		err := r.Scan(&it.Code, &it.Name, &it.DepartmentCode, &it.DepartmentID, &it.Kind, &it.TimeLimitDays, &it.Materials)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("reuse: items: %w", err)
	}
	if items == nil {
		items = []ServiceItem{}
	}
	return items, nil
}
