package export

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/testimony-project/testimony/config"
)

// WriteJSONL writes one JSON object per line per testimony to w, in the
// order rows yields them:
//
//	{"pseudonym":"김석한","pseudonym_roman":"Kim Seok-han","lang":"ko","version":"<64 hex>","answers":{...}}
//
// "version" is the full id of the questionnaire version answered.
// "answers" holds the answers exactly as the plaintext does — a string,
// or an array of strings for multi_choice — in export order; unanswered
// questions are absent. Every character [Visible] would replace is written
// as a \u escape (U+202E as \u202e, U+E0041 as \udb40\udc41), so the file
// shows it and a JSON reader gets the exact text back. It refuses text
// that is not UTF-8, which JSON cannot carry exactly.
func WriteJSONL(w io.Writer, s *Schema, rows Rows) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for r, err := range rows {
		if err != nil {
			return err
		}
		v, err := s.versionOf(&r)
		if err != nil {
			return err
		}
		line = append(line[:0], `{"pseudonym":`...)
		if line, err = AppendJSONString(line, r.Pseudonym); err != nil {
			return fmt.Errorf("testimony %s: pseudonym: %w", r.Pseudonym, err)
		}
		line = append(line, `,"pseudonym_roman":`...)
		if line, err = AppendJSONString(line, r.PseudonymRoman); err != nil {
			return fmt.Errorf("testimony %s: pseudonym: %w", r.Pseudonym, err)
		}
		line = append(line, `,"lang":`...)
		if line, err = AppendJSONString(line, r.Language); err != nil {
			return fmt.Errorf("testimony %s: language: %w", r.Pseudonym, err)
		}
		line = append(line, `,"version":"`...)
		line = append(line, v.id...)
		line = append(line, `","answers":{`...)
		n := 0
		for _, q := range s.questions {
			vals, ok := r.Answers[q.id]
			if !ok || len(vals) == 0 {
				continue
			}
			if v.qs[q.id] == nil {
				return fmt.Errorf("testimony %s answers question %q, which its questionnaire version %s does not have", r.Pseudonym, q.id, v.short)
			}
			if n > 0 {
				line = append(line, ',')
			}
			n++
			line = strconv.AppendQuote(line, q.id) // [a-z0-9_]: no escapes
			line = append(line, ':')
			multi := q.q.Type == config.MultiChoice
			if !multi && len(vals) != 1 {
				return fmt.Errorf("testimony %s: question %q has %d values, want 1", r.Pseudonym, q.id, len(vals))
			}
			if multi {
				line = append(line, '[')
			}
			for i, val := range vals {
				if i > 0 {
					line = append(line, ',')
				}
				if line, err = AppendJSONString(line, val); err != nil {
					return fmt.Errorf("testimony %s: question %q: %w", r.Pseudonym, q.id, err)
				}
			}
			if multi {
				line = append(line, ']')
			}
		}
		if n != countAnswered(r.Answers) {
			for id := range r.Answers {
				if v.qs[id] == nil {
					return fmt.Errorf("testimony %s answers question %q, which its questionnaire version %s does not have", r.Pseudonym, id, v.short)
				}
			}
		}
		line = append(line, "}}\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func countAnswered(answers map[string][]string) int {
	n := 0
	for _, vals := range answers {
		if len(vals) > 0 {
			n++
		}
	}
	return n
}

// AppendJSONString appends s to dst as a JSON string: quotes, backslashes
// and control characters escaped as JSON requires, every character
// [Visible] would replace as a \u escape, nothing else escaped. It refuses
// text that is not UTF-8. Other JSON files of untrusted text (such as a
// quarantine list) can use it to be as safe to look at as the JSONL.
func AppendJSONString(dst []byte, s string) ([]byte, error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		r, size, hide := hidden(s, i)
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '\t':
			esc = `\t`
		case r == utf8.RuneError && size == 1:
			return nil, fmt.Errorf("text is not UTF-8")
		case !hide:
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		if esc != "" {
			dst = append(dst, esc...)
		} else if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			dst = appendU(appendU(dst, hi), lo)
		} else {
			dst = appendU(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

func appendU(dst []byte, r rune) []byte {
	const hexdigits = "0123456789abcdef"
	return append(dst, '\\', 'u', hexdigits[r>>12&0xf], hexdigits[r>>8&0xf], hexdigits[r>>4&0xf], hexdigits[r&0xf])
}
