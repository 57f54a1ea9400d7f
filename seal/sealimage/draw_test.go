package sealimage

import (
	"bytes"
	"errors"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden images under testdata/")

func openTestFont(t *testing.T) *Font {
	t.Helper()
	f, err := OpenFont(DefaultFont)
	if err != nil {
		t.Fatalf("the seal font (Debian package fonts-noto-cjk, see tools/prereqs.sh): %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// goldens are one seal of each type, as the registry draws them.
var goldens = []struct {
	file string
	spec Spec
}{
	{"official.png", Spec{Shape: Round, Width: 42, Unit: "广州市天河区人民政府", Code: "4401060000001"}},
	{"business.png", Spec{Shape: Round, Width: 40, Unit: "天河区市场监督管理局", Title: "行政审批专用章", Code: "4401060012345"}},
	{"contract.png", Spec{Shape: Round, Width: 40, Unit: "广州市天河区政务服务数据管理局", Title: "合同专用章"}},
	{"finance-oval.png", Spec{Shape: Oval, Width: 45, Height: 30, Unit: "天河区市场监督管理局", Title: "财务专用章", Code: "4401060054321"}},
	{"legal-rep.png", Spec{Shape: Square, Width: 20, Name: "张强之印"}},
	{"legal-rep-3.png", Spec{Shape: Square, Width: 20, Name: "王小敏"}},
}

func TestGolden(t *testing.T) {
	f := openTestFont(t)
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			got, err := Draw(f, g.spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from its golden image; look at both and rerun with -update if the change is intended", g.file)
			}
			img, err := png.Decode(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() < 600 {
				t.Errorf("%s is %d px across, want at least 600", g.file, b.Dx())
			}
			if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
				t.Errorf("%s: the corner is not transparent", g.file)
			}
		})
	}
}

// TestRareCharacters: a rare character the font has is drawn; one it lacks is refused with
// the character and the field named, before anything is drawn (never a box).
func TestRareCharacters(t *testing.T) {
	f := openTestFont(t)
	for _, name := range []string{"李燊", "王喆"} {
		if _, err := Draw(f, Spec{Shape: Square, Width: 20, Name: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, tc := range []struct {
		spec  Spec
		field string
		char  rune
	}{
		{Spec{Shape: Round, Width: 42, Unit: "天河区\U00017000市场监督管理局", Title: "公章"}, "unit", 0x17000},
		{Spec{Shape: Round, Width: 42, Unit: "天河区市场监督管理局", Title: "专用\ue000章"}, "title", 0xE000},
		{Spec{Shape: Square, Width: 20, Name: "张\uF8FF"}, "name", 0xF8FF},
	} {
		_, err := Draw(f, tc.spec)
		var missing *MissingCharError
		if !errors.As(err, &missing) {
			t.Errorf("%+v: got %v, want a missing character", tc.spec, err)
			continue
		}
		if missing.Char != tc.char || missing.Field != tc.field {
			t.Errorf("got %c in %s, want %c in %s", missing.Char, missing.Field, tc.char, tc.field)
		}
	}
}

// TestArcReadsFromLowerLeft: the first character of the unit's name is drawn at the lower
// left and the last at the lower right, each rotated to the radius.
func TestArcReadsFromLowerLeft(t *testing.T) {
	f := openTestFont(t)
	// One ink blot where a character is drawn: compare where "一" (a flat stroke) lands.
	img, err := Render(f, Spec{Shape: Round, Width: 42, Unit: "一二三四五六七八九十", Title: "公章"})
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	inkAt := func(x0, y0, x1, y1 int) int {
		n := 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				if img.NRGBAAt(x, y).A > 128 {
					n++
				}
			}
		}
		return n
	}
	w, h := b.Dx(), b.Dy()
	left := inkAt(w/20, h/2, w/3, h*3/4)
	right := inkAt(w*2/3, h/2, w*19/20, h*3/4)
	if left < 200 || right < 200 {
		t.Fatalf("no ink at the lower ends of the arc (left %d, right %d)", left, right)
	}
	// 一 has one stroke, 十 two: the lower right holds more ink than the lower left when the
	// name reads left to right from the lower left.
	if right <= left {
		t.Errorf("the lower right has %d inked pixels, the lower left %d: want 十 (more ink) at the right", right, left)
	}
}
