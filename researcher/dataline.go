package researcher

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A line of data/testimonies, as dataLine writes it with encoding/json:
//
//	{"version":"<64 hex>","lang":"ko","answers":{"consent":"yes","seen":["a","b"],"story":"…"}}
//
// parseDataLine reads it in one pass, without the general JSON decoder: the
// exports read every line of the workspace on every full rewrite. A line
// that is not in exactly this shape is read by encoding/json instead.

// answer is one decoded answer: text for a string, values for an array.
type answer struct {
	raw    json.RawMessage // as stored
	text   string          // the string, or the values joined by MultiSeparator
	values []string        // nil unless multi_choice
}

var errLineShape = errors.New("line is not in the shape dataLine writes")

// dataRow is a decoded line of data/testimonies.
type dataRow struct {
	version, lang string
	answers       map[string]answer
}

// parseDataLine decodes a line of data/testimonies. The answers' raw bytes
// alias line.
func parseDataLine(line []byte) (dataRow, error) {
	p := lineParser{b: line}
	d := p.parse()
	if p.err == nil {
		return d, nil
	}
	return parseDataLineJSON(line)
}

// parseDataLineJSON decodes a line with encoding/json.
func parseDataLineJSON(line []byte) (dataRow, error) {
	var d struct {
		Version string                     `json:"version"`
		Lang    string                     `json:"lang"`
		Answers map[string]json.RawMessage `json:"answers"`
	}
	if err := json.Unmarshal(line, &d); err != nil {
		return dataRow{}, err
	}
	answers := make(map[string]answer, len(d.Answers))
	for id, raw := range d.Answers {
		a := answer{raw: raw}
		if json.Unmarshal(raw, &a.text) != nil {
			if err := json.Unmarshal(raw, &a.values); err != nil {
				return dataRow{}, err
			}
			a.text = strings.Join(a.values, MultiSeparator)
		}
		answers[id] = a
	}
	return dataRow{version: d.Version, lang: d.Lang, answers: answers}, nil
}

type lineParser struct {
	b   []byte
	i   int
	err error
}

func (p *lineParser) parse() dataRow {
	p.lit(`{"version":`)
	version := p.str()
	p.lit(`,"lang":`)
	lang := p.str()
	p.lit(`,"answers":{`)
	answers := map[string]answer{}
	for p.err == nil && p.peek() != '}' {
		if len(answers) > 0 {
			p.lit(",")
		}
		id := p.str()
		p.lit(":")
		start := p.i
		var a answer
		if p.peek() == '[' {
			p.i++
			for p.err == nil {
				a.values = append(a.values, p.str())
				if p.peek() != ',' {
					break
				}
				p.i++
			}
			p.lit("]")
			a.text = strings.Join(a.values, MultiSeparator)
		} else {
			a.text = p.str()
		}
		a.raw = p.b[start:p.i]
		if _, dup := answers[id]; dup {
			p.err = errLineShape
		}
		answers[id] = a
	}
	p.lit("}}")
	if p.i < len(p.b) && p.b[p.i] == '\n' {
		p.i++
	}
	if p.i != len(p.b) {
		p.err = errLineShape
	}
	return dataRow{version: version, lang: lang, answers: answers}
}

func (p *lineParser) peek() byte {
	if p.err != nil || p.i >= len(p.b) {
		p.err = errLineShape
		return 0
	}
	return p.b[p.i]
}

func (p *lineParser) lit(s string) {
	if p.err != nil || len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		p.err = errLineShape
		return
	}
	p.i += len(s)
}

// str reads a JSON string: valid UTF-8, no control characters, the escapes
// of RFC 8259.
func (p *lineParser) str() string {
	if p.peek() != '"' {
		p.err = errLineShape
		return ""
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				p.err = errLineShape
				return ""
			}
			return string(s)
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			p.err = errLineShape
			return ""
		}
		p.i++
	}
	p.err = errLineShape
	return ""
}

// escaped reads the rest of a string holding escapes, from start.
func (p *lineParser) escaped(start int) string {
	var out []byte
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				p.err = errLineShape
				return ""
			}
			return string(out)
		case c < 0x20:
			p.err = errLineShape
			return ""
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			break
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				p.err = errLineShape
				return ""
			}
			if utf16.IsSurrogate(r) {
				// encoding/json never writes these for valid UTF-8.
				p.err = errLineShape
				return ""
			}
			out = utf8.AppendRune(out, r)
		default:
			p.err = errLineShape
			return ""
		}
	}
	p.err = errLineShape
	return ""
}

func (p *lineParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
