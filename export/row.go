package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
)

// Row is one testimony as the writers take it.
type Row struct {
	// Pseudonym and PseudonymRoman name the testimony: 김석한, Kim Seok-han.
	Pseudonym      string
	PseudonymRoman string
	// Language is the language the person answered in.
	Language string
	// Version is the id of the questionnaire version the answers were
	// given to: the lowercase hex SHA-256 of its study file. It may be
	// empty when the schema has a single version.
	Version string
	// Answers are the answers as the plaintext holds them and
	// response.Response carries them: question id to values, one value
	// for every type but multi_choice (its values in questionnaire
	// order). Unanswered and irrelevant questions are absent.
	Answers map[string][]string
}

// Rows is how writers take testimonies: one at a time, in the order they
// are to be written, so that no writer needs them all in memory. A non-nil
// error stops the writer, which returns it.
type Rows = iter.Seq2[Row, error]

// Slice returns the rows of a slice, for callers that hold them all.
func Slice(rows []Row) Rows {
	return func(yield func(Row, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// AnswersFromJSON converts answers held as JSON values (a string, or an
// array of strings for multi_choice, as in the plaintext and
// testimonies.jsonl) to the form [Row] takes.
func AnswersFromJSON(raw map[string]json.RawMessage) (map[string][]string, error) {
	out := make(map[string][]string, len(raw))
	for id, v := range raw {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '[' {
			var vals []string
			if err := json.Unmarshal(v, &vals); err != nil {
				return nil, fmt.Errorf("answer to question %q is not a string or a list of strings", id)
			}
			out[id] = vals
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("answer to question %q is not a string or a list of strings", id)
		}
		out[id] = []string{s}
	}
	return out, nil
}
