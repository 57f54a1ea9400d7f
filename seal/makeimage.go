package seal

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"sealvault/seal/sealimage"
	"sealvault/vault"
)

// Generate is what a seal image is drawn from (印章制作); every field is optional and defaults
// from the seal's data and type.
type Generate struct {
	// Shape is round (the default, except for legal_rep), oval (contract and finance seals
	// only) or square (legal_rep).
	Shape string `json:"shape,omitempty"`
	// WidthMM is the diameter or width: 42 mm for an official seal, 40 for other round seals,
	// 45 for an oval one, 20 for a name seal. HeightMM is an oval's height (30).
	WidthMM  float64 `json:"width_mm,omitempty"`
	HeightMM float64 `json:"height_mm,omitempty"`
	// Unit is the name along the upper arc: the seal's name up to and including the owning
	// department's name, else the department's name.
	Unit *string `json:"unit,omitempty"`
	// Title is the seal's name across under the star: the seal's name after the unit's
	// (行政审批专用章), else the type's (合同专用章); none for an official seal.
	Title *string `json:"title,omitempty"`
	// Code is the seal's code (印章编码) along the lower arc; none by default.
	Code *string `json:"code,omitempty"`
	// Name is a name seal's two to four characters: the seal's name without the unit's and
	// without 法定代表人名章.
	Name *string `json:"name,omitempty"`
}

// Spec works out what the seal image shows, from g and the seal's data.
func (g Generate) Spec(sl Seal) (sealimage.Spec, error) {
	bad := func(field, reason string) error {
		return &InvalidError{Fields: map[string]string{"generate." + field: reason}}
	}
	clean := func(p *string, def string) string {
		if p == nil {
			return def
		}
		return strings.Join(strings.Fields(*p), "")
	}
	unit, rest := splitName(sl.Name, sl.Department)
	sp := sealimage.Spec{Shape: g.Shape, Width: g.WidthMM, Height: g.HeightMM}
	if sl.Type == TypeLegalRep {
		if sp.Shape == "" {
			sp.Shape = sealimage.Square
		}
		if sp.Shape != sealimage.Square {
			return sp, bad("shape", "must be square for a legal representative's name seal")
		}
		if sp.Width == 0 {
			sp.Width = 20
		}
		def := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(rest, "法定代表人名章"), "名章"))
		sp.Name = clean(g.Name, def)
		if n := utf8.RuneCountInString(sp.Name); n < 2 || n > 4 {
			return sp, bad("name", fmt.Sprintf("must be the two to four characters of the name (%q has %d); give generate.name", sp.Name, n))
		}
		return sp, specError(sp.Validate())
	}
	switch sp.Shape {
	case "":
		sp.Shape = sealimage.Round
	case sealimage.Oval:
		if sl.Type != TypeContract && sl.Type != TypeFinance {
			return sp, bad("shape", "oval is for contract and finance seals; an official or business-special seal is round")
		}
	case sealimage.Square:
		return sp, bad("shape", "square is for a legal representative's name seal")
	}
	if sp.Width == 0 {
		switch {
		case sp.Shape == sealimage.Oval:
			sp.Width = 45
		case sl.Type == TypeOfficial:
			sp.Width = 42
		default:
			sp.Width = 40
		}
	}
	if sp.Shape == sealimage.Oval && sp.Height == 0 {
		sp.Height = 30
	}
	sp.Unit = clean(g.Unit, unit)
	def := rest
	if sl.Type == TypeOfficial {
		def = ""
	} else if def == "" || utf8.RuneCountInString(def) > 12 {
		def = typeNames[sl.Type]
	}
	sp.Title = clean(g.Title, def)
	sp.Code = clean(g.Code, "")
	return sp, specError(sp.Validate())
}

// splitName splits a seal's name into the unit's name and the seal's own: the name up to and
// including the last occurrence of the owning department's name is the unit's
// (天河区市场监督管理局 of 天河区市场监督管理局行政审批专用章 owned by 市场监督管理局), the rest the
// seal's. A name without the department's has the department's name as the unit's.
func splitName(name, dept string) (unit, rest string) {
	name = strings.Join(strings.Fields(name), "")
	dept = strings.Join(strings.Fields(dept), "")
	if i := strings.LastIndex(name, dept); dept != "" && i >= 0 {
		return name[:i+len(dept)], name[i+len(dept):]
	}
	return dept, name
}

func specError(err error) error {
	var se *sealimage.SpecError
	if errors.As(err, &se) {
		return &InvalidError{Fields: map[string]string{"generate." + se.Field: se.Reason}}
	}
	return err
}

// font opens the seal font once (FontPath, else sealimage.DefaultFont).
func (s *Service) font() (*sealimage.Font, error) {
	s.fontOnce.Do(func() {
		path := s.FontPath
		if path == "" {
			path = sealimage.DefaultFont
		}
		s.fontVal, s.fontErr = sealimage.OpenFont(path)
	})
	return s.fontVal, s.fontErr
}

// DrawImage draws the seal's image from g and the seal's data, without storing it (a
// preview). A character the seal font lacks is an *InvalidError naming it.
func (s *Service) DrawImage(ctx context.Context, a Actor, id uuid.UUID, g Generate) ([]byte, Seal, error) {
	sl, err := s.GetSeal(ctx, id)
	if err != nil {
		return nil, sl, err
	}
	if err := s.manages(ctx, s.DB, a, sl.DepartmentID); err != nil {
		return nil, sl, err
	}
	png, err := s.draw(sl, g)
	return png, sl, err
}

// draw draws the image of seal sl from g.
func (s *Service) draw(sl Seal, g Generate) ([]byte, error) {
	sp, err := g.Spec(sl)
	if err != nil {
		return nil, err
	}
	f, err := s.font()
	if err != nil {
		return nil, err
	}
	png, err := sealimage.Draw(f, sp)
	var missing *sealimage.MissingCharError
	if errors.As(err, &missing) {
		return nil, &InvalidError{Fields: map[string]string{"generate." + missing.Field: fmt.Sprintf(
			"has the character %c (U+%04X), which the seal font %s does not have; the seal image cannot be drawn with it",
			missing.Char, missing.Char, missing.Font)}}
	}
	return png, specError(err)
}

// DrawFirstImage draws a newly filed seal's image from its data (Generate's defaults) and
// stores it as version 1; when it cannot be drawn (a character the seal font lacks, a name
// seal whose name cannot be told from the seal's), the seal stays without an image and
// ImageNote says why: an image is then uploaded or generated with options before the seal
// can be activated.
func (s *Service) DrawFirstImage(ctx context.Context, a Actor, sl Seal) (Seal, error) {
	if s.Blobs == nil || s.Pins == nil {
		sl.ImageNote = "no object store to keep a drawn image in"
		return sl, nil
	}
	png, err := s.draw(sl, Generate{})
	if err == nil {
		return s.AddImage(ctx, a, sl.ID, png)
	}
	var inv *InvalidError
	if !errors.As(err, &inv) {
		sl.ImageNote = "the seal image could not be drawn: " + err.Error()
		return sl, nil
	}
	var notes []string
	for f, r := range inv.Fields {
		notes = append(notes, f+" "+r)
	}
	sort.Strings(notes)
	sl.ImageNote = "no image could be drawn from the seal's data (" + strings.Join(notes, "; ") +
		"): upload one, or generate it with options, before activating the seal"
	return sl, nil
}

// GenerateImage draws the seal's image from g and the seal's data and stores it as the
// seal's new image version, as AddImage does.
func (s *Service) GenerateImage(ctx context.Context, a Actor, id uuid.UUID, g Generate) (Seal, error) {
	png, _, err := s.DrawImage(ctx, a, id, g)
	if err != nil {
		return Seal{}, err
	}
	return s.AddImage(ctx, a, id, png)
}

// Image returns the seal's current image (PNG) and its version; a seal without one is
// ErrNotFound. Every signed-in user may see it, as they may read the registry.
func (s *Service) Image(ctx context.Context, id uuid.UUID) ([]byte, Seal, error) {
	sl, err := s.GetSeal(ctx, id)
	if err != nil {
		return nil, sl, err
	}
	if sl.ImageDigest == nil {
		return nil, sl, ErrNotFound
	}
	d, err := vault.ParseDigest(*sl.ImageDigest)
	if err != nil {
		return nil, sl, err
	}
	data, err := vault.ReadAll(ctx, s.Blobs, d)
	return data, sl, err
}
