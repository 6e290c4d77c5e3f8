package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/goccy/go-yaml"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// DefaultLanguages are the languages of a study file that lists none, its
// default first.
var DefaultLanguages = []string{"ko", "en", "zh"}

// ChromeLanguages are the languages intake's own pages (buttons, safety
// advice, error messages) are written in, Korean first. A study may be
// written in any languages: a page in another language shows the study's
// texts in it and the rest in the language [ChromeLanguage] picks.
var ChromeLanguages = []string{"ko", "en", "zh"}

// ChromeLanguage returns the language of intake's own pages for a page in
// the study language lang: lang itself, or the chrome language of the
// same base language ("ko-KP" → "ko", "zh-Hant" → "zh"), or else English,
// the language most readers of a study in another language can read.
func ChromeLanguage(lang string) string {
	if slices.Contains(ChromeLanguages, lang) {
		return lang
	}
	if t, err := language.Parse(lang); err == nil {
		if b, conf := t.Base(); conf == language.Exact && slices.Contains(ChromeLanguages, b.String()) {
			return b.String()
		}
	}
	return "en"
}

// maxLanguages bounds the languages of a study.
const maxLanguages = 20

// languageProblem returns what is wrong with tag as a study language, or
// "". A study language is a BCP 47 tag of a known language, written as
// golang.org/x/text/language writes it, so that the same language is
// always the same string in texts, forms and plaintexts.
func languageProblem(tag string) string {
	t, err := language.Parse(tag)
	if err != nil || len(tag) > 35 {
		return "not a language tag; use a BCP 47 tag such as ko, en, zh or zh-Hant"
	}
	if _, conf := t.Base(); conf != language.Exact {
		return "not a known language; use a BCP 47 tag such as ko, en, zh or zh-Hant"
	}
	if t.String() != tag {
		return fmt.Sprintf("write it as %s, the standard form of this tag", t.String())
	}
	return ""
}

// languageName names tag in English for error messages, e.g. "Korean
// (ko)", so that a mistaken tag shows at once ("Kanuri (kr)").
func languageName(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	if n := display.English.Tags().Name(t); n != "" {
		return n + " (" + tag + ")"
	}
	return tag
}

// Text is a piece of text in several languages, keyed by BCP 47 language
// tag. In a study that Parse returns, every text that is set has every
// study language set to valid UTF-8 that is not only white space and holds
// no control characters other than tab and newline, and no other language.
//
// The zero value is a text in no language. Text values are immutable.
type Text struct {
	byLang map[string]string
	// fallback is the language In falls back to: the study's default
	// language, set by Parse.
	fallback string
}

// NewText returns a text with the given translations (language tag →
// text) that falls back to the language fallback.
func NewText(fallback string, byLang map[string]string) Text {
	return Text{byLang: maps.Clone(byLang), fallback: fallback}
}

// In returns the text in lang, or, if it has none in lang, in the
// language it falls back to (the study's default language).
func (t Text) In(lang string) string {
	if v, ok := t.byLang[lang]; ok {
		return v
	}
	return t.byLang[t.fallback]
}

// Lookup returns the text in lang, without falling back, and whether
// there is one.
func (t Text) Lookup(lang string) (string, bool) {
	v, ok := t.byLang[lang]
	return v, ok
}

// Languages returns the languages t is written in, sorted.
func (t Text) Languages() []string {
	return slices.Sorted(maps.Keys(t.byLang))
}

// IsZero reports whether t has no text in any language.
func (t Text) IsZero() bool { return len(t.byLang) == 0 }

// withFallback returns t falling back to lang.
func (t Text) withFallback(lang string) Text {
	t.fallback = lang
	return t
}

// UnmarshalYAML reads a mapping of language tags to text.
func (t *Text) UnmarshalYAML(unmarshal func(any) error) error {
	var m map[string]string
	if err := unmarshal(&m); err != nil {
		return err
	}
	if len(m) == 0 {
		m = nil
	}
	*t = Text{byLang: m, fallback: t.fallback}
	return nil
}

// MarshalYAML writes t as a mapping of language tags to text, the
// language it falls back to first.
func (t Text) MarshalYAML() (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	var out yaml.MapSlice
	if v, ok := t.byLang[t.fallback]; ok {
		out = append(out, yaml.MapItem{Key: t.fallback, Value: v})
	}
	for _, l := range t.Languages() {
		if l != t.fallback {
			out = append(out, yaml.MapItem{Key: l, Value: t.byLang[l]})
		}
	}
	return out, nil
}

// MarshalJSON writes t as an object of language tags to text, keys sorted.
func (t Text) MarshalJSON() ([]byte, error) {
	if t.byLang == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(t.byLang)
}

// UnmarshalJSON reads an object of language tags to text.
func (t *Text) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return errors.New("a text must be an object of language tags to text")
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if len(m) == 0 {
		m = nil
	}
	*t = Text{byLang: m, fallback: t.fallback}
	return nil
}

// Endonym returns the name of the language tag in that language, as a
// link to it is labelled ("Русский" for ru), or tag itself if unknown.
func Endonym(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	if n := display.Self.Name(t); n != "" {
		return n
	}
	return tag
}
