package notice

import (
	"fmt"
	"strconv"

	"github.com/go-pdf/fpdf"
)

// Page geometry in mm (A4 portrait).
const (
	pageW      = 210.0
	marginX    = 20.0
	marginTop  = 20.0
	bodyBottom = 275.0 // below it only the footer
	footerTop  = 281.0
	bodyW      = pageW - 2*marginX
	contTop    = marginTop + 12 // first body line on a continuation page, below its header
)

// Font sizes in points.
const (
	titleSize  = 20.0
	centerSize = 13.0
	bodySize   = 12.0
	tableSize  = 10.5
	smallSize  = 9.0
)

// Table layout: column widths (they add up to bodyW) and cell padding, in mm.
var (
	colW    = [4]float64{12, 42, 46, 70}
	colHead = [4]string{"序号", "材料名称", "补正原因", "收取要求"}
)

const (
	cellPadX = 2.0
	cellPadY = 1.6
)

type opKind int

const (
	opText opKind = iota
	opBox         // outlined rectangle
	opFill        // filled and outlined rectangle
	opRule        // horizontal line from x to x+w
)

// op is one drawing operation on a page. Text ops have y at the top of their line.
type op struct {
	kind       opKind
	x, y, w, h float64
	size       float64
	gray       int // text colour, 0 is black
	l          line
}

type page struct{ ops []op }

// composer lays out the whole notice before anything is drawn, so that every page's footer
// can state the total page count.
type composer struct {
	ts    *typesetter
	n     Notice
	pages []*page
	y     float64 // top of the free space on the current page
}

func (c *composer) cur() *page { return c.pages[len(c.pages)-1] }

func (c *composer) add(o op) { c.cur().ops = append(c.cur().ops, o) }

func (c *composer) newPage() {
	c.pages = append(c.pages, &page{})
	c.y = marginTop
	if len(c.pages) == 1 {
		return
	}
	// Continuation pages repeat what the document is and which case it belongs to.
	left := c.ts.line("一次性告知书（续）", smallSize)
	right := c.ts.line("案件编号："+c.n.CaseNo, smallSize)
	c.add(op{kind: opText, x: marginX, y: c.y, size: smallSize, gray: 90, l: left})
	c.add(op{kind: opText, x: marginX + bodyW - right.w, y: c.y, size: smallSize, gray: 90, l: right})
	c.add(op{kind: opRule, x: marginX, y: c.y + lineHeight(smallSize) + 1, w: bodyW})
	c.y = contTop
}

// lines places lines at column x, moving to a new page when one does not fit.
func (c *composer) lines(ls []pline, x, size float64) {
	lh := lineHeight(size)
	for _, l := range ls {
		if c.y+lh > bodyBottom {
			c.newPage()
		}
		c.add(op{kind: opText, x: x + l.dx, y: c.y, size: size, l: l.l})
		c.y += lh
	}
}

// centred places one line centred across the body.
func (c *composer) centred(s string, size float64) {
	l := c.ts.line(s, size)
	c.add(op{kind: opText, x: marginX + (bodyW-l.w)/2, y: c.y, size: size, l: l})
	c.y += lineHeight(size)
}

func (c *composer) compose() {
	n := c.n
	indent := 2 * c.ts.width(cjk, bodySize, "中")
	c.newPage()
	c.centred("一次性告知书", titleSize)
	c.y += 1
	c.centred(n.Center, centerSize)
	c.y += 2
	caseNo := c.ts.line("案件编号："+n.CaseNo, tableSize)
	c.add(op{kind: opText, x: marginX + bodyW - caseNo.w, y: c.y, size: tableSize, l: caseNo})
	c.y += lineHeight(tableSize) + 3

	applicant := "申请人："
	if n.Applicant != "" {
		applicant = "申请人（证件号码 " + n.Applicant + "）："
	}
	c.lines(c.ts.wrap(applicant, bodySize, bodyW, 0), marginX, bodySize)
	item := "「" + n.ItemName + "」"
	if n.ItemCode != "" {
		item += "（" + n.ItemCode + "）"
	}
	if len(n.Missing) == 0 {
		c.lines(c.ts.wrap("您申请办理"+item+"事项，经核查，材料齐全，无需补充。", bodySize, bodyW, indent), marginX, bodySize)
	} else {
		c.lines(c.ts.wrap("您申请办理"+item+"事项，经核查，尚需提交以下材料：", bodySize, bodyW, indent), marginX, bodySize)
		c.y += 2
		c.table()
		c.y += 3
		note := "以上为本事项尚需提交的全部材料，请按要求一次性准备齐全后，携本告知书到窗口提交。"
		for _, m := range n.Missing {
			if m.Optional {
				note += "标注“可选”的材料可不提交。"
				break
			}
		}
		c.lines(c.ts.wrap(note, bodySize, bodyW, indent), marginX, bodySize)
	}
	c.signature()
	c.footers()
}

// footers adds the page count to every page once the total is known.
func (c *composer) footers() {
	for i, p := range c.pages {
		l := c.ts.line(fmt.Sprintf("第 %d 页 / 共 %d 页", i+1, len(c.pages)), smallSize)
		p.ops = append(p.ops, op{kind: opText, x: marginX + (bodyW-l.w)/2, y: footerTop, size: smallSize, gray: 90, l: l})
	}
}

// signature places the closing block, kept together on one page.
func (c *composer) signature() {
	n := c.n
	var block []string
	block = append(block, "案件编号："+n.CaseNo)
	if n.Staff != "" {
		block = append(block, "经办人："+n.Staff)
	}
	block = append(block, "告知日期："+chineseDate(n.Date))
	lh := lineHeight(bodySize)
	gap := 8.0
	height := gap + float64(len(block))*lh + 6 + lh
	if c.y+height > bodyBottom {
		c.newPage()
	}
	c.y += gap
	x := marginX + bodyW/2
	for _, s := range block {
		c.add(op{kind: opText, x: x, y: c.y, size: bodySize, l: c.ts.line(s, bodySize)})
		c.y += lh
	}
	c.y += 6
	c.add(op{kind: opText, x: marginX, y: c.y, size: bodySize,
		l: c.ts.line("申请人签收：______________　　签收日期：______年____月____日", bodySize)})
	c.y += lh
}

// row is one table row: the lines of each column.
type row [4][]pline

func (r row) height() float64 {
	most := 0
	for _, col := range r {
		most = max(most, len(col))
	}
	return float64(most)*lineHeight(tableSize) + 2*cellPadY
}

// split returns the first k lines of every column and the rest; the rest keeps the number
// column so a continued row still shows which material it belongs to.
func (r row) split(k int) (row, row) {
	var head, tail row
	for i, col := range r {
		if len(col) <= k {
			head[i] = col
		} else {
			head[i], tail[i] = col[:k], col[k:]
		}
	}
	tail[0] = r[0]
	return head, tail
}

func (c *composer) cellWidth(i int) float64 { return colW[i] - 2*cellPadX }

// materialRow typesets the i-th missing material.
func (c *composer) materialRow(i int, m Missing) row {
	var r row
	num := c.ts.line(strconv.Itoa(i+1), tableSize)
	r[0] = []pline{{dx: (c.cellWidth(0) - num.w) / 2, l: num}}
	name := m.Name
	if m.Optional {
		name += "（可选）"
	}
	r[1] = c.ts.wrap(name, tableSize, c.cellWidth(1), 0)
	reason := m.Reason
	if reason == "" {
		reason = "—"
	}
	r[2] = c.ts.wrap(reason, tableSize, c.cellWidth(2), 0)
	bullet := c.ts.line("• ", tableSize)
	for _, req := range m.Requirements {
		ls := c.ts.wrap(req, tableSize, c.cellWidth(3)-bullet.w, 0)
		for j := range ls {
			ls[j].dx += bullet.w
		}
		first := line{runs: append([]run(nil), bullet.runs...), w: bullet.w}
		for _, rn := range ls[0].l.runs {
			first = first.add(rn)
		}
		ls[0] = pline{l: first}
		r[3] = append(r[3], ls...)
	}
	if len(r[3]) == 0 {
		r[3] = []pline{{l: c.ts.line("—", tableSize)}}
	}
	return r
}

func (c *composer) headerRow() row {
	var r row
	for i, s := range colHead {
		l := c.ts.line(s, tableSize)
		r[i] = []pline{{dx: (c.cellWidth(i) - l.w) / 2, l: l}}
	}
	return r
}

// table places the materials, repeating the header row on every page the table reaches. A
// row moves whole to the next page when it fits there, and is split between lines only when
// it is taller than a page.
func (c *composer) table() {
	header := c.headerRow()
	lh := lineHeight(tableSize)
	// The header never stands alone at the bottom of a page.
	if c.y+header.height()+lh+2*cellPadY > bodyBottom {
		c.newPage()
	}
	c.placeRow(header, true)
	freshTop := contTop + header.height() // just below the header on a continuation page
	for i, m := range c.n.Missing {
		r := c.materialRow(i, m)
		for {
			h := r.height()
			if c.y+h <= bodyBottom {
				c.placeRow(r, false)
				break
			}
			if c.y > freshTop && freshTop+h <= bodyBottom {
				c.newPage()
				c.placeRow(header, true)
				continue
			}
			k := int((bodyBottom - c.y - 2*cellPadY) / lh)
			if k >= 1 {
				var head row
				head, r = r.split(k)
				c.placeRow(head, false)
			}
			c.newPage()
			c.placeRow(header, true)
		}
	}
}

func (c *composer) placeRow(r row, header bool) {
	h := r.height()
	x := marginX
	kind := opBox
	if header {
		kind = opFill
	}
	for i, col := range r {
		c.add(op{kind: kind, x: x, y: c.y, w: colW[i], h: h})
		for j, l := range col {
			c.add(op{kind: opText, x: x + cellPadX + l.dx, y: c.y + cellPadY + float64(j)*lineHeight(tableSize), size: tableSize, l: l.l})
		}
		x += colW[i]
	}
	c.y += h
}

// missing returns the characters set in face f that the cut lacks.
func (c *composer) missing(f face, have *cut) []rune {
	var out []rune
	for _, p := range c.pages {
		for _, o := range p.ops {
			for _, r := range o.l.runs {
				if r.face != f {
					continue
				}
				for _, ch := range r.text {
					if !have.runes[ch] {
						out = append(out, ch)
					}
				}
			}
		}
	}
	return out
}

// draw writes the composed pages to pdf.
func (c *composer) draw(pdf *fpdf.Fpdf) {
	pdf.SetLineWidth(0.2)
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetFillColor(230, 230, 230)
	for _, p := range c.pages {
		pdf.AddPage()
		for _, o := range p.ops {
			switch o.kind {
			case opBox:
				pdf.Rect(o.x, o.y, o.w, o.h, "D")
			case opFill:
				pdf.Rect(o.x, o.y, o.w, o.h, "FD")
			case opRule:
				pdf.Line(o.x, o.y, o.x+o.w, o.y)
			case opText:
				pdf.SetTextColor(o.gray, o.gray, o.gray)
				x, y := o.x, baseline(o.y, o.size)
				for _, r := range o.l.runs {
					pdf.SetFont(r.face.family(), "", o.size)
					pdf.Text(x, y, r.text)
					x += r.w
				}
			}
		}
	}
}
