package catalogfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// CSVHeader is the header row a CSV catalog must start with, exactly (a UTF-8 byte order
// mark before it is allowed):
//
//	kind,code,name,category,holder_kind,formats,min_dpi,min_pixels,colour,max_bytes,max_pages,original_required,validity,validity_months,sensitivity,shareable,item_code,item_name,department_code,type_code,required,reuse_accepted,item_kind,time_limit_days
//
// (a file with the header of earlier releases, without the last two columns, is read too:
// its items are promised items with the default time limit).
//
// Every row after it is one of two kinds, named in its first column:
//
//   - kind "type" is a material type. It fills the columns code to shareable and leaves
//     item_code to reuse_accepted empty. formats lists formats separated by '|', as in
//     "jpeg|png|pdf"; numbers are whole numbers; booleans are true or false (yes or no).
//   - kind "item_material" is one material a service item requires. It fills item_code to
//     reuse_accepted and leaves code to shareable empty. Consecutive rows with the same
//     item_code build one item, their materials in row order; item_name and
//     department_code, item_kind (instant or promised) and time_limit_days (working days) may
//     be left empty on all but the item's first row, and must not differ from it.
//
// Empty values take the defaults described in the package comment; rows whose cells are all
// empty and lines starting with '#' are skipped. Type and item rows may come in any order.
const CSVHeader = "kind," + csvTypeColumns + "," + csvItemColumns

const (
	csvTypeColumns = "code,name,category,holder_kind,formats,min_dpi,min_pixels,colour,max_bytes,max_pages," +
		"original_required,validity,validity_months,sensitivity,shareable"
	csvItemColumns = "item_code,item_name,department_code,type_code,required,reuse_accepted,item_kind,time_limit_days"
	// csvLegacyColumns is how many columns the header had before item_kind and time_limit_days.
	csvLegacyColumns = 22
)

// csvItemField names a field of reuse.ServiceItem.Check by its CSV column.
func csvItemField(f string) string {
	switch f {
	case "code":
		return "item_code"
	case "name":
		return "item_name"
	}
	if _, ok := materialIndex(f); ok {
		if _, rest, ok := strings.Cut(f, "]."); ok {
			return rest
		}
		return "type_code"
	}
	return f
}

func (p *parsed) csv(data []byte) {
	header := strings.Split(CSVHeader, ",")
	typeCols := strings.Split(csvTypeColumns, ",")
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	rec, err := r.Read()
	same := func(a, b string) bool { return strings.TrimSpace(a) == b }
	legacy := err == nil && slices.EqualFunc(rec, header[:min(len(rec), csvLegacyColumns)], same) && len(rec) == csvLegacyColumns
	if err != nil || !legacy && !slices.EqualFunc(rec, header, same) {
		p.add(1, "", "the first row must be the header "+CSVHeader)
		return
	}
	cur := -1 // the item the previous row added to, if any
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			p.add(pe.Line, "", "CSV: "+pe.Err.Error())
			cur = -1
			continue
		} else if err != nil {
			p.add(1, "", "CSV: "+err.Error())
			return
		}
		line, _ := r.FieldPos(0)
		if !slices.ContainsFunc(rec, func(s string) bool { return strings.TrimSpace(s) != "" }) {
			continue
		}
		if len(rec) == csvLegacyColumns { // a row without the last two, optional, columns
			rec = append(rec, "", "")
		}
		if len(rec) != len(header) {
			p.add(line, "", fmt.Sprintf("has %d columns; the header has %d", len(rec), len(header)))
			cur = -1
			continue
		}
		row := map[string]string{}
		for i, col := range header {
			row[col] = rec[i]
		}
		kind := strings.TrimSpace(row["kind"])
		own := map[string]bool{}
		switch kind {
		case "type":
			for _, c := range typeCols {
				own[c] = true
			}
		case "item_material":
			for _, c := range header[1+len(typeCols):] {
				own[c] = true
			}
		default:
			p.add(line, "kind", fmt.Sprintf("must be type or item_material, not %q", kind))
			cur = -1
			continue
		}
		for _, c := range header[1:] {
			if !own[c] && strings.TrimSpace(row[c]) != "" {
				p.add(line, c, "must be empty in a row of kind "+kind)
			}
		}
		if kind == "type" {
			te := typeEntry{t: newType(), entry: newEntry(line)}
			set := typeFields(&te.t)
			for _, c := range typeCols {
				if reason := set[c](row[c]); reason != "" {
					p.add(line, c, reason)
					te.bad[c] = true
				}
			}
			p.types = append(p.types, te)
			cur = -1
			continue
		}
		cur = p.csvMaterial(line, row, cur)
	}
}

// csvMaterial adds the material of an item_material row to the item the previous row added
// to (cur) if it has the same item_code, else to a new item; it returns the item's index.
func (p *parsed) csvMaterial(line int, row map[string]string, cur int) int {
	code := strings.TrimSpace(row["item_code"])
	if cur < 0 || p.items[cur].it.Code != code {
		ie := itemEntry{entry: newEntry(line)}
		ie.it.Code = code
		ie.it.Name = strings.TrimSpace(row["item_name"])
		ie.it.DepartmentCode = strings.TrimSpace(row["department_code"])
		ie.it.Kind = strings.TrimSpace(row["item_kind"])
		if reason := optInt(&ie.it.TimeLimitDays)(row["time_limit_days"]); reason != "" {
			p.add(line, "time_limit_days", reason)
		}
		p.items = append(p.items, ie)
		cur = len(p.items) - 1
	} else {
		ie := &p.items[cur]
		for col, have := range map[string]string{"item_name": ie.it.Name, "department_code": ie.it.DepartmentCode, "item_kind": ie.it.Kind} {
			if v := strings.TrimSpace(row[col]); v != "" && v != have {
				p.add(line, col, fmt.Sprintf("%q differs from %q on line %d, the item's first row", v, have, ie.line))
			}
		}
	}
	ie := &p.items[cur]
	m, me := newMaterial(), newEntry(line)
	for col, s := range materialFields(&m) {
		if reason := s(row[col]); reason != "" {
			p.add(line, col, reason)
			me.bad[col] = true
		}
	}
	ie.it.Materials = append(ie.it.Materials, m)
	ie.mats = append(ie.mats, me)
	return cur
}
