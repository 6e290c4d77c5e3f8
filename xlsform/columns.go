package xlsform

import (
	"regexp"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// column is a column of a sheet, as its header names it.
type column struct {
	index  int    // from 0
	header string // as written
	base   string // lowercase, words joined by '_', aliases resolved: "label"
	lang   string // the language tag of "label::Korean (ko)"; "" for none
	// used is whether some row below the header has a value in it.
	used bool
}

// cellOf returns the cell of column c in row r.
func (c *column) cellOf(r row) string { return cellName(r.num, c.index+1) }

// translatable lists the columns written once per language, per sheet.
var translatable = map[string][]string{
	sheetSurvey:   {"label", "hint", "constraint_message", "required_message", "guidance_hint"},
	sheetChoices:  {"label"},
	sheetSettings: {"form_title", "introduction"},
}

// aliases maps the other spellings pyxform accepts to the one used here.
var aliases = map[string]map[string]string{
	sheetSurvey: {
		"caption":              "label",
		"relevance":            "relevant",
		"constraining_message": "constraint_message",
		"jr:constraintmsg":     "constraint_message",
		"required message":     "required_message",
		"jr:requiredmsg":       "required_message",
		"readonly":             "read_only",
		"calculate":            "calculation",
		"jr:count":             "repeat_count",
		"count":                "repeat_count",
		"command":              "type",
		"tag":                  "name",
		"value":                "name",
	},
	sheetChoices: {
		"caption": "label",
		"value":   "name",
	},
	sheetSettings: {
		"set_form_title": "form_title",
		"set_form_id":    "form_id",
		"title":          "form_title",
		"id_string":      "form_id",
	},
}

// langSuffixRE matches a language written as "Korean (ko)".
var langSuffixRE = regexp.MustCompile(`^(.*?)\s*\(\s*([^()]*?)\s*\)$`)

// parseHeader reads the header row of s. It reports problems with the
// header itself (a language that is not one, a column written twice);
// what each column means is for the sheet's reader to say.
func parseHeader(s *sheet, p *problems) []*column {
	var cols []*column
	seen := make(map[string]*column)
	for i, h := range s.header {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		c := &column{index: i, header: h}
		base, lang, hasLang := strings.Cut(h, "::")
		c.base = normalizeName(base)
		if a, ok := aliases[s.name][c.base]; ok {
			c.base = a
		}
		switch c.base {
		case "media", "image", "audio", "video", "big-image":
			if s.name != sheetSettings {
				c.base, hasLang = "media", false
			}
		}
		for _, r := range s.rows {
			if strings.TrimSpace(r.cell(i)) != "" {
				c.used = true
				break
			}
		}
		if !hasLang && strings.Contains(base, ":") && slices.Contains(translatable[s.name], normalizeName(base[:strings.Index(base, ":")])) {
			p.errorf(s.title, 1, i+1, h, "write the language after two colons, as %s::Korean (ko)", normalizeName(base[:strings.Index(base, ":")]))
			continue
		}
		if hasLang && slices.Contains(translatable[s.name], c.base) {
			tag, problem := parseLanguage(lang)
			if problem != "" {
				p.errorf(s.title, 1, i+1, h, "%s", problem)
				continue
			}
			c.lang = tag
		} else if hasLang {
			// bind::…, body::… and the like: kept whole, for the sheet's
			// reader to refuse.
			c.base = normalizeName(h)
		}
		key := c.base + "::" + c.lang
		if prev, ok := seen[key]; ok && c.base != "media" {
			p.errorf(s.title, 1, i+1, h, "the same column as %s (%s); keep one", cellName(1, prev.index+1), prev.header)
			continue
		}
		seen[key] = c
		cols = append(cols, c)
	}
	return cols
}

// normalizeName lowercases a header and joins its words with '_'.
func normalizeName(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), "_")
}

// parseLanguage reads the language of a column header or of
// default_language: "Korean (ko)", or a bare tag "ko". It returns the tag
// as golang.org/x/text/language writes it, or a problem that says how to
// write it.
func parseLanguage(s string) (tag, problem string) {
	s = strings.TrimSpace(s)
	code, named := s, false
	if m := langSuffixRE.FindStringSubmatch(s); m != nil {
		code, named = m[2], true
	}
	t, err := language.Parse(code)
	if err != nil || code == "" || len(code) > 35 {
		if !named {
			if tag := tagByName(s); tag != "" {
				return "", "name the language with its code, as " + s + " (" + tag + ")"
			}
		}
		return "", "write the language as its name and BCP 47 code, such as Korean (ko), English (en) or Chinese (zh)"
	}
	if b, conf := t.Base(); conf != language.Exact || b.String() == "und" {
		return "", code + " is not a known language; use a BCP 47 code such as ko, en, zh or zh-Hant"
	}
	if named {
		if name := strings.TrimSpace(langSuffixRE.FindStringSubmatch(s)[1]); name != "" {
			if other := tagByName(name); other != "" && other != t.String() && !sameBase(other, t) {
				return "", name + " is " + other + ", not " + t.String() + " (" + englishName(t.String()) + "); correct the name or the code"
			}
		}
	}
	return t.String(), ""
}

func sameBase(tag string, t language.Tag) bool {
	o, err := language.Parse(tag)
	if err != nil {
		return false
	}
	ob, _ := o.Base()
	tb, _ := t.Base()
	return ob == tb
}

// englishName names tag in English, or returns tag.
func englishName(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	if n := display.English.Tags().Name(t); n != "" {
		return n
	}
	return tag
}

var languageNames = sync.OnceValue(func() map[string]string {
	m := make(map[string]string)
	namer := display.English.Tags()
	for _, t := range display.Supported.Tags() {
		if n := namer.Name(t); n != "" {
			k := strings.ToLower(n)
			if _, ok := m[k]; !ok {
				m[k] = t.String()
			}
		}
	}
	return m
})

// tagByName returns the tag of the language with the English name name
// (any case), or "".
func tagByName(name string) string {
	return languageNames()[strings.ToLower(strings.TrimSpace(name))]
}

// describeLanguage names a study language for messages: "Korean (ko)".
func describeLanguage(tag string) string {
	if n := englishName(tag); n != tag {
		return n + " (" + tag + ")"
	}
	return tag
}

// levenshtein returns the edit distance of a and b, for suggesting the
// column a misspelt header meant.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// suggest returns the name among known closest to s, if close enough.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := levenshtein(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}
