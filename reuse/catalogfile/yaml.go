package catalogfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A YAML catalog is one document:
//
//	material_types:
//	  - code: ID-CARD
//	    name: 居民身份证
//	    holder_kind: person
//	    formats: [jpeg, png, pdf]
//	    validity: until_expiry
//	service_items:
//	  - code: 440106-FOOD-001
//	    name: 食品经营许可证核发
//	    department_code: TH-SCJG
//	    materials:
//	      - {type_code: ID-CARD, required: true, reuse_accepted: true}
//
// The fields are those of reuse.MaterialType and reuse.ServiceItem; any other is an error.

// yamlLineRE finds the line in the parser's messages.
var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func (p *parsed) yaml(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		p.add(1, "", "the file holds no catalog")
		return nil
	} else if err != nil {
		return p.syntax(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(extra.Line, "", "a catalog file holds one YAML document; remove the \"---\" and what follows")
	} else if !errors.Is(err, io.EOF) {
		return p.syntax(err, data)
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "", "must be a mapping with material_types and service_items")
		return nil
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if p.twice(seen, k) {
			continue
		}
		switch k.Value {
		case "material_types":
			for _, n := range p.list(k, v) {
				p.yamlType(resolve(n))
			}
		case "service_items":
			for _, n := range p.list(k, v) {
				p.yamlItem(resolve(n))
			}
		default:
			p.add(k.Line, k.Value, "unknown field (want material_types or service_items)")
		}
	}
	return nil
}

// syntax turns a parser error into a LineError when it names a line.
func (p *parsed) syntax(err error, data []byte) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.add(line, "", "YAML syntax: "+m[2])
		return nil
	}
	// An error without a line (the file ends inside a quoted string, say) is at its end.
	p.add(bytes.Count(data, []byte("\n"))+1, "", "YAML syntax: "+strings.TrimPrefix(err.Error(), "yaml: "))
	return nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// twice reports (and says so) a key given a second time in one mapping.
func (p *parsed) twice(seen map[string]int, k *yaml.Node) bool {
	if first, ok := seen[k.Value]; ok {
		p.add(k.Line, k.Value, fmt.Sprintf("is given twice (first on line %d)", first))
		return true
	}
	seen[k.Value] = k.Line
	return false
}

// list returns the entries of the list v under key k; null is an empty list.
func (p *parsed) list(k, v *yaml.Node) []*yaml.Node {
	switch {
	case v.Kind == yaml.SequenceNode:
		return v.Content
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil
	}
	p.add(k.Line, k.Value, "must be a list")
	return nil
}

// scalar returns the text of a single value; null is "".
func scalar(v *yaml.Node) (string, bool) {
	v = resolve(v)
	if v.Kind != yaml.ScalarNode {
		return "", false
	}
	if v.Tag == "!!null" {
		return "", true
	}
	return v.Value, true
}

// fields reads the mapping n into the setters of set, recording in e where each field is.
// special handles the fields that are not a single value; it returns false for others.
func (p *parsed) fields(n *yaml.Node, e *entry, set map[string]setter, prefix string, special func(k, v *yaml.Node) bool) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if p.twice(seen, k) {
			continue
		}
		e.lines[k.Value] = k.Line
		if special != nil && special(k, v) {
			continue
		}
		s, ok := set[k.Value]
		if !ok {
			p.add(k.Line, prefix+k.Value, "unknown field")
			continue
		}
		val, ok := scalar(v)
		reason := "must be a single value"
		if ok {
			reason = s(val)
		}
		if reason != "" {
			p.add(k.Line, prefix+k.Value, reason)
			e.bad[k.Value] = true
		}
	}
}

func (p *parsed) yamlType(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "material_types", "each entry must be a mapping of fields")
		return
	}
	te := typeEntry{t: newType(), entry: newEntry(n.Line)}
	p.fields(n, &te.entry, typeFields(&te.t), "", func(k, v *yaml.Node) bool {
		if k.Value != "formats" {
			return false
		}
		te.t.Formats = nil
		ok := v.Kind == yaml.SequenceNode || v.Kind == yaml.ScalarNode && v.Tag == "!!null"
		for _, f := range v.Content {
			s, one := scalar(f)
			ok = ok && one
			te.t.Formats = append(te.t.Formats, s)
		}
		if !ok {
			p.add(k.Line, "formats", "must be a list, such as [jpeg, png, pdf]")
			te.bad["formats"] = true
		}
		return true
	})
	p.types = append(p.types, te)
}

func (p *parsed) yamlItem(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, "service_items", "each entry must be a mapping of fields")
		return
	}
	ie := itemEntry{entry: newEntry(n.Line)}
	set := map[string]setter{
		"code":            text(&ie.it.Code),
		"name":            text(&ie.it.Name),
		"department_code": text(&ie.it.DepartmentCode),
		"kind":            text(&ie.it.Kind),
		"time_limit_days": optInt(&ie.it.TimeLimitDays),
	}
	p.fields(n, &ie.entry, set, "", func(k, v *yaml.Node) bool {
		if k.Value != "materials" {
			return false
		}
		ie.it.Materials, ie.mats = nil, nil
		for i, mn := range p.list(k, v) {
			mn = resolve(mn)
			prefix := fmt.Sprintf("materials[%d].", i)
			if mn.Kind != yaml.MappingNode {
				p.add(mn.Line, prefix[:len(prefix)-1], "must be a mapping such as {type_code: ID-CARD, required: true}")
				ie.bad["materials"] = true
				continue
			}
			m, me := newMaterial(), newEntry(mn.Line)
			p.fields(mn, &me, materialFields(&m), prefix, nil)
			ie.it.Materials = append(ie.it.Materials, m)
			ie.mats = append(ie.mats, me)
		}
		return true
	})
	p.items = append(p.items, ie)
}
