package export

import (
	"bufio"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/reply"
)

// Threads: what people sent after coming back with their return
// passphrase (see package response), attached to their testimony.
//
// A testimony's thread holds, in the order the researcher's workspace met
// them, follow-ups (answers to the questions of a researcher's reply) and
// additions (a text the person added to their testimony). A withdrawal
// never reaches the writers: the researcher's tools leave a withdrawn
// testimony and its whole thread out of every export. The writers:
//
//	WriteThreadJSONL     thread.jsonl: one JSON object per message, answers exact
//	WriteFollowupsCSV    followups.csv: one row per answer (long format), with codes
//	WriteThreadMarkdown  the "Thread" section of a testimony's Markdown file
//
// They hold no arrival day, envelope hash or return address: a message is
// named by its testimony's pseudonym and its position on the thread.

// ThreadMessage is one message on a testimony's thread, as the thread
// writers take it.
type ThreadMessage struct {
	// Pseudonym and PseudonymRoman name the testimony.
	Pseudonym, PseudonymRoman string
	// N is the message's position on the thread, from 1.
	N int
	// Kind is FollowupKind or AdditionKind.
	Kind string
	// Language is the language of the page the person used, and Version
	// the id of the questionnaire version it was made from.
	Language, Version string
	// Reply is the reply a follow-up answers, and ReplyBy the fingerprint
	// of the researcher who wrote it; nil and "" for an addition.
	Reply   *reply.Content
	ReplyBy string
	// Answers are, for a follow-up, the answers to the reply's questions
	// by question id (values as in [Row.Answers]); for an addition, its
	// text under AdditionAnswer.
	Answers map[string][]string
}

// Kinds of thread messages, and the answer an addition holds.
const (
	FollowupKind   = "followup"
	AdditionKind   = "addition"
	AdditionAnswer = "text"
)

// ThreadMessages is how the thread writers take messages: one at a time,
// testimonies in export order, each thread's messages in order.
type ThreadMessages = iter.Seq2[ThreadMessage, error]

// check refuses a message the writers cannot write.
func (m *ThreadMessage) check() error {
	switch m.Kind {
	case FollowupKind:
		if m.Reply == nil {
			return fmt.Errorf("testimony %s: follow-up %d has no reply", m.Pseudonym, m.N)
		}
		for id, vals := range m.Answers {
			q := replyQuestion(m.Reply, id)
			if q == nil {
				return fmt.Errorf("testimony %s: follow-up %d answers question %q, which reply %s does not ask", m.Pseudonym, m.N, id, m.Reply.ID)
			}
			if q.Type != config.MultiChoice && len(vals) > 1 {
				return fmt.Errorf("testimony %s: follow-up %d: question %q has %d values, want 1", m.Pseudonym, m.N, id, len(vals))
			}
		}
	case AdditionKind:
		if len(m.Answers) != 1 || len(m.Answers[AdditionAnswer]) != 1 {
			return fmt.Errorf("testimony %s: addition %d holds no text", m.Pseudonym, m.N)
		}
	default:
		return fmt.Errorf("testimony %s: message %d is a %q, not a follow-up or an addition", m.Pseudonym, m.N, m.Kind)
	}
	return nil
}

func replyQuestion(c *reply.Content, id string) *reply.Question {
	for i := range c.Questions {
		if c.Questions[i].ID == id {
			return &c.Questions[i]
		}
	}
	return nil
}

// WriteThreadJSONL writes one JSON object per line per message to w, in
// the order msgs yields them:
//
//	{"pseudonym":"김석한","pseudonym_roman":"Kim Seok-han","message":1,"kind":"followup","lang":"ko","version":"<64 hex>","reply":"<reply id>","reply_by":"<fingerprint>","answers":{…}}
//
// "message" is the message's position on its testimony's thread, from 1.
// "reply" and "reply_by" are the id of the reply a follow-up answers and
// the fingerprint of the researcher who wrote it (absent for an
// addition). "answers" holds the answers exactly as sent — a string, or an
// array of strings for multi_choice — in the order of the reply's
// questions; an addition's is {"text": "…"}. Text is escaped as
// [WriteJSONL] escapes it.
func WriteThreadJSONL(w io.Writer, msgs ThreadMessages) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for m, err := range msgs {
		if err != nil {
			return err
		}
		if err := m.check(); err != nil {
			return err
		}
		line = append(line[:0], `{"pseudonym":`...)
		if line, err = AppendJSONString(line, m.Pseudonym); err != nil {
			return err
		}
		line = append(line, `,"pseudonym_roman":`...)
		if line, err = AppendJSONString(line, m.PseudonymRoman); err != nil {
			return err
		}
		line = append(line, `,"message":`...)
		line = strconv.AppendInt(line, int64(m.N), 10)
		line = append(line, `,"kind":"`...)
		line = append(line, m.Kind...)
		line = append(line, `","lang":`...)
		if line, err = AppendJSONString(line, m.Language); err != nil {
			return err
		}
		line = append(line, `,"version":`...)
		if line, err = AppendJSONString(line, m.Version); err != nil {
			return err
		}
		if m.Kind == FollowupKind {
			line = append(line, `,"reply":`...)
			line = strconv.AppendQuote(line, m.Reply.ID) // [a-z2-7]
			line = append(line, `,"reply_by":`...)
			if line, err = AppendJSONString(line, m.ReplyBy); err != nil {
				return err
			}
		}
		line = append(line, `,"answers":{`...)
		n := 0
		for _, a := range messageAnswers(&m) {
			if len(a.values) == 0 {
				continue
			}
			if n > 0 {
				line = append(line, ',')
			}
			n++
			line = strconv.AppendQuote(line, a.id) // [a-z0-9_]
			line = append(line, ':')
			if a.multi {
				line = append(line, '[')
			}
			for i, v := range a.values {
				if i > 0 {
					line = append(line, ',')
				}
				if line, err = AppendJSONString(line, v); err != nil {
					return fmt.Errorf("testimony %s: message %d: question %q: %w", m.Pseudonym, m.N, a.id, err)
				}
			}
			if a.multi {
				line = append(line, ']')
			}
		}
		line = append(line, "}}\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// messageAnswer is one answer of a message, with its question.
type messageAnswer struct {
	id     string
	q      *reply.Question // nil for an addition
	multi  bool
	values []string
}

// messageAnswers returns the answers of m: for a follow-up, one per
// question of its reply, in order (values nil when not answered); for an
// addition, its text.
func messageAnswers(m *ThreadMessage) []messageAnswer {
	if m.Kind == AdditionKind {
		return []messageAnswer{{id: AdditionAnswer, values: m.Answers[AdditionAnswer]}}
	}
	out := make([]messageAnswer, len(m.Reply.Questions))
	for i := range m.Reply.Questions {
		q := &m.Reply.Questions[i]
		out[i] = messageAnswer{id: q.ID, q: q, multi: q.Type == config.MultiChoice, values: m.Answers[q.ID]}
	}
	return out
}

// FollowupsHeader is the header of followups.csv.
var FollowupsHeader = []string{"pseudonym", "pseudonym_roman", "message", "kind", "lang", "reply", "reply_by", "question", "type", "label", "answer", "answer_label"}

// WriteFollowupsCSV writes, as CSV (the format of [WriteCSV]: UTF-8 with a
// byte order mark, every field quoted, defused), one row per answer of
// every message msgs yields, in order — the long format of a table whose
// questions differ from testimony to testimony:
//
//	pseudonym, pseudonym_roman  the testimony
//	message                     the message's position on its thread, from 1
//	kind                        followup or addition
//	lang                        the language of the page the person used
//	reply, reply_by             the reply a follow-up answers and the fingerprint of its author (empty for an addition)
//	question, type, label       the reply's question (id, type, label as the person read it); "text", long_text and "" for an addition
//	answer                      the value, multi_choice values joined by ";"; the text of an addition
//	answer_label                choice labels, joined by "; " (empty for other types)
//
// A follow-up has a row for every question of its reply, in the reply's
// order: one the person left blank holds the code [Skipped] (".s"), and a
// text answer that reads as a code is escaped as in testimonies.csv.
func WriteFollowupsCSV(w io.Writer, msgs ThreadMessages) error {
	cw := newCSVWriter(w)
	cw.row(FollowupsHeader)
	fields := make([]string, 0, len(FollowupsHeader))
	for m, err := range msgs {
		if err != nil {
			return err
		}
		if err := m.check(); err != nil {
			return err
		}
		replyID, replyBy := "", ""
		if m.Reply != nil {
			replyID, replyBy = m.Reply.ID, m.ReplyBy
		}
		for _, a := range messageAnswers(&m) {
			typ, lbl := string(config.LongText), ""
			if a.q != nil {
				typ, lbl = string(a.q.Type), a.q.Label
			}
			answer, answerLabel := Skipped, ""
			if len(a.values) > 0 {
				answer = escapeCode(strings.Join(a.values, MultiSeparator))
				if a.q != nil && len(a.q.Choices) > 0 {
					answerLabel = strings.Join(choiceLabels(a.q, a.values), LabelSeparator)
				}
			}
			fields = append(fields[:0], m.Pseudonym, m.PseudonymRoman, strconv.Itoa(m.N), m.Kind, m.Language, replyID, replyBy, a.id, typ, lbl, answer, answerLabel)
			if err := cw.row(fields); err != nil {
				return err
			}
		}
	}
	return cw.flush()
}

// choiceLabels returns the labels of values, a value with no choice of q
// as itself.
func choiceLabels(q *reply.Question, values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v
		for _, c := range q.Choices {
			if c.Value == v {
				out[i] = c.Label
			}
		}
	}
	return out
}

// WriteThreadMarkdown writes the thread of one testimony, msgs in order,
// as the "Thread" section that follows the testimony in its Markdown file
// ([WriteMarkdown]); nothing if there is none. Each message is a heading
// with its position and kind; a follow-up shows the reply it answers (its
// text, fenced) and each answered question's label, as the person read
// it, with the answer — choice labels followed by their values — fenced;
// an addition shows its text, fenced. As in [WriteMarkdown], nothing a
// person or a researcher wrote is rendered.
func WriteThreadMarkdown(w io.Writer, msgs []ThreadMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	for i := range msgs {
		if err := msgs[i].check(); err != nil {
			return err
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("## Thread\n\n")
	for _, m := range msgs {
		if m.Kind == AdditionKind {
			fmt.Fprintf(bw, "### %d. Addition\n\n", m.N)
			writeFenced(bw, Visible(m.Answers[AdditionAnswer][0]))
			continue
		}
		fmt.Fprintf(bw, "### %d. Follow-up\n\nAnswers reply %s by researcher %s", m.N, m.Reply.ID, escapeMarkdown(m.ReplyBy))
		if strings.TrimSpace(m.Reply.Text) != "" {
			bw.WriteString(", which says:\n\n")
			writeFenced(bw, Visible(m.Reply.Text))
		} else {
			bw.WriteString(".\n\n")
		}
		for _, a := range messageAnswers(&m) {
			if len(a.values) == 0 {
				continue
			}
			fmt.Fprintf(bw, "#### %s\n\n", escapeMarkdown(a.q.Label))
			text := strings.Join(a.values, MultiSeparator)
			if len(a.q.Choices) > 0 {
				labels := choiceLabels(a.q, a.values)
				lines := make([]string, len(a.values))
				for i, v := range a.values {
					lines[i] = v
					if labels[i] != v {
						lines[i] = labels[i] + " (" + v + ")"
					}
				}
				text = strings.Join(lines, "\n")
			}
			writeFenced(bw, Visible(text))
		}
	}
	return bw.Flush()
}

// writeFenced writes text in a code fence longer than any run of
// backticks in it, and a blank line.
func writeFenced(w *bufio.Writer, text string) {
	f := fence(text)
	fmt.Fprintf(w, "%s\n%s\n%s\n\n", f, text, f)
}
