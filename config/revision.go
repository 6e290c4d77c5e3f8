package config

import (
	"fmt"
	"sort"
)

// CheckRevision checks that next may follow the earlier versions of a study
// (in any order; versions identical to next are ignored), by the rules of
// "Revising a study" in the package doc. It returns nil, or an [Errors]
// locating each problem in next's file and saying how to fix it.
func CheckRevision(earlier []*Study, next *Study) error {
	var errs []*Error
	add := func(field, value, problem string) {
		e := &Error{Field: field, Value: shorten(value), Problem: problem}
		next.src.locate(e)
		errs = append(errs, e)
	}
	var versions []*Study
	for _, e := range earlier {
		if e != nil && e.SHA256 != next.SHA256 {
			versions = append(versions, e)
		}
	}
	// Newest first is not known; the order given is kept, and each
	// problem names the first earlier version it is found against.
	for _, e := range versions {
		if e.ID != next.ID {
			add("id", next.ID, fmt.Sprintf("version %s is of study %q; the id is bound into every envelope and never changes: write id: %s, or start a new study (with new researchers' workspaces) under a new id", describe(e), e.ID, e.ID))
			break
		}
	}
	for i := range next.Questions {
		q := &next.Questions[i]
		qp := fmt.Sprintf("questions[%d]", i)
		for _, e := range versions {
			old := e.Question(q.ID)
			if old == nil {
				continue
			}
			if old.Type != q.Type {
				add(qp+".type", string(q.Type), fmt.Sprintf("version %s asks this question as %s; a question id keeps its meaning in every version, so its answers stay comparable: keep type %s, or give the changed question a new id (such as %s)", describe(e), old.Type, old.Type, newID(q.ID)))
				break
			}
			if p, ok := movedLabel(old, q, next.Langs()); ok {
				add(fmt.Sprintf("%s.choices[%d].label.%s", qp, p.choice, p.lang), p.label, fmt.Sprintf("in version %s this was the label of choice %q, not of %q; a choice value keeps its meaning in every version: if the answer means the same, use the value %s, else reword this label", describe(e), p.oldValue, q.Choices[p.choice].Value, p.oldValue))
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return bound(errs)
}

// describe names a version in messages: its short id, and its file.
func describe(s *Study) string {
	if s.src != nil && s.src.file != "" {
		return s.ShortVersion() + " (" + s.src.file + ")"
	}
	return s.ShortVersion()
}

func newID(id string) string {
	if len(id) <= 46 {
		return id + "_2"
	}
	return id[:46] + "_2"
}

type moved struct {
	choice      int
	lang, label string
	oldValue    string
}

// movedLabel finds a choice of q whose label, in one of langs, is what
// another value of old was labelled: the sign of values shifted between
// choices, which would silently change the meaning of earlier answers.
func movedLabel(old, q *Question, langs []string) (moved, bool) {
	for j, ch := range q.Choices {
		for _, lang := range langs {
			label, ok := ch.Label.Lookup(lang)
			if !ok {
				continue
			}
			for _, oc := range old.Choices {
				if oc.Value == ch.Value {
					continue
				}
				if l, ok := oc.Label.Lookup(lang); ok && l == label {
					// A label both values had is no sign.
					if same := old.Choice(ch.Value); same != nil {
						if sl, ok := same.Label.Lookup(lang); ok && sl == label {
							continue
						}
					}
					return moved{choice: j, lang: lang, label: label, oldValue: oc.Value}, true
				}
			}
		}
	}
	return moved{}, false
}
