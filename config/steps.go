package config

import "slices"

// MaxStepQuestions is the most questions on a step made of questions in no
// section.
const MaxStepQuestions = 8

// Step is one page of the questionnaire as shown to a browser without
// JavaScript, where the server decides from the answers already posted
// which questions to show.
type Step struct {
	// Section is the section the step shows, or nil for questions in
	// none.
	Section *Section
	// Part counts the steps of the same section from 1; it is above 1 on
	// a section split because one of its questions depends on another of
	// it.
	Part int
	// Questions are indexes into Study.Questions, in order.
	Questions []int
}

// Steps splits the questionnaire into steps, in order:
//
//   - a section is one step, split before any of its questions whose
//     condition reads a question on the same step;
//   - questions in no section are grouped, a step ending before a question
//     whose condition reads a question on it, before a section, and after
//     [MaxStepQuestions] questions.
//
// So a condition never reads a question on its own step: what to show on
// a step is known from the answers to earlier steps. A section's condition
// reads only questions before the section.
func (s *Study) Steps() []Step {
	var steps []Step
	var cur *Step
	onCur := map[string]bool{}
	for i := range s.Questions {
		q := &s.Questions[i]
		sec := s.SectionOf(q.ID)
		split := cur == nil || cur.Section != sec ||
			sec == nil && len(cur.Questions) >= MaxStepQuestions ||
			slices.ContainsFunc(q.Relevant.Refs(), func(id string) bool { return onCur[id] })
		if split {
			part := 1
			if cur != nil && sec != nil && cur.Section == sec {
				part = cur.Part + 1
			}
			steps = append(steps, Step{Section: sec, Part: part})
			cur = &steps[len(steps)-1]
			clear(onCur)
		}
		cur.Questions = append(cur.Questions, i)
		onCur[q.ID] = true
	}
	return steps
}
