package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/researcher"
)

func replyCmd() *cobra.Command {
	var f wsFlags
	var to, textPath, questionsPath, lang string
	c := &cobra.Command{
		Use:   "reply --key FILE --workspace WORKSPACE --to PSEUDONYM (--text FILE | --questions FILE) [--lang LANG]",
		Short: "Queue a reply, or follow-up questions, to the person who gave a testimony",
		Long: `reply queues a reply to the person who gave the testimony named PSEUDONYM (in either
script): a text (--text, a UTF-8 file), follow-up questions (--questions, a YAML file in the
question syntax of a study file), or both. The person reads it when they come back with
their return passphrase, and answers the questions; their answers reach every researcher
under the same pseudonym.

Only a testimony that carries a return address can be replied to: a person who chose no
return passphrase cannot be reached, nor one who withdrew their testimony. A reply is
written in one language: the one the person answered in, unless --lang says another. It
fits in a record of 2,048 bytes: some 600 Korean or Chinese characters, or 1,800 English
ones, questions included (the error says by how much a reply is too long).

The questions file:

  questions:
    - id: year
      type: year
      label: {ko: 그 일은 몇 년에 있었습니까?, en: In what year was that?}
      required: true
    - id: where
      type: single_choice
      label: 어디서였습니까?
      choices:
        - {value: home, label: {ko: 집, en: At home}}
        - {value: work, label: 일터}

Types: single_choice, multi_choice, short_text, long_text, year, integer; a label is text
in the reply's language, or a mapping of languages that holds it. At most 10 questions.

Nothing leaves the machine: "researcher reply-batch" seals every queued reply for the
operator to import.

` + exitCodesHelp,
		Example: `  researcher reply --key ~/testimony.key --workspace ~/study-workspace --to 김석한 --text thanks.txt --questions year.yaml
  researcher reply --key ~/testimony.key --workspace ~/study-workspace --to "Kim Seok-han" --text thanks-en.txt --lang en`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if textPath == "" && questionsPath == "" {
				return usageError{errors.New("give the reply's text (--text FILE), its questions (--questions FILE), or both")}
			}
			var text string
			if textPath != "" {
				data, err := readLimited(textPath, 64<<10)
				if err != nil {
					return usageError{err}
				}
				if text, err = researcher.ReplyText(textPath, data); err != nil {
					return usageError{err}
				}
			}
			var questionsData []byte
			if questionsPath != "" {
				var err error
				if questionsData, err = readLimited(questionsPath, 256<<10); err != nil {
					return usageError{err}
				}
			}
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			var questions []reply.Question
			if questionsData != nil {
				replyLang := lang
				if replyLang == "" {
					// The questions' labels are taken in the reply's
					// language, which is the person's unless --lang says.
					replyLang, err = w.LanguageOf(to)
					if err != nil {
						return err
					}
				}
				if questions, err = researcher.ParseQuestions(questionsPath, questionsData, replyLang); err != nil {
					return usageError{err}
				}
			}
			q, err := w.QueueReply(to, text, questions, lang)
			if err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reply %s to %s queued, in %s (%d queued in all); researcher reply-batch seals them for the operator\n", q.ID, q.Pseudonym, q.Lang, q.Queued)
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&to, "to", "", "the pseudonym of the testimony to reply to, in either script (required)")
	c.Flags().StringVar(&textPath, "text", "", "a UTF-8 text `FILE`: what the reply says")
	c.Flags().StringVar(&questionsPath, "questions", "", "a YAML `FILE` of follow-up questions, in the question syntax of a study file")
	c.Flags().StringVar(&lang, "lang", "", "the reply's language, one of the study's (default: the one the person answered in)")
	c.MarkFlagRequired("to")
	return c
}

func replyBatchCmd() *cobra.Command {
	var f wsFlags
	var out, teamCopy string
	var again bool
	c := &cobra.Command{
		Use:   "reply-batch --key FILE --workspace WORKSPACE --out FILE [--team-copy FILE]",
		Short: "Seal every queued reply in a signed reply batch for the server, and a team copy",
		Long: `reply-batch seals every reply queued with "researcher reply" to the person it answers
(only their return passphrase opens it; the server cannot tell who it is for) and writes
them in a reply batch signed with your key (--out), for the operator to import with
"intake replies import". Carry it to the server like a batch, the other way.

It also writes a team copy of the replies, signed with your key (--team-copy; by default
the --out name ending in .team instead of .tar), for the other researchers: they import it
with "researcher decrypt --replies FILE", so that their workspaces check the follow-ups
answering your replies and show them under the same pseudonyms. The team copy holds what
the replies say, not the return addresses: give it only to the team.

Each reply is numbered among your replies to the person; the workspace saves the numbers
before the files are written, so that no number is used twice (two replies numbered
alike would be linked by the server). A copy of every reply batch stays in
WORKSPACE/reply-batches; --again writes the last one and its team copy again (a copy
lost, or a command interrupted after the workspace was saved). The audit log records
each batch (reply-batch-written, with its manifest's SHA-256): "auditor reconcile" checks
the server imported it.

` + exitCodesHelp,
		Example: `  researcher reply-batch --key ~/testimony.key --workspace ~/study-workspace --out /media/usb/replies-1.tar
  # on the server
  intake replies import --data /var/lib/testimony --config study.yaml /media/usb/replies-1.tar
  # each teammate
  researcher decrypt --key ~/testimony.key --study study.yaml --out ~/study-workspace --replies /media/usb/replies-1.team`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if teamCopy == "" {
				teamCopy = strings.TrimSuffix(out, filepath.Ext(out)) + ".team"
			}
			if teamCopy == out {
				return usageError{fmt.Errorf("--team-copy %s is the reply batch's own --out: give it another name", teamCopy)}
			}
			for _, p := range []string{out, teamCopy} {
				if _, err := os.Lstat(p); err == nil {
					return usageError{fmt.Errorf("%s already exists: choose another --out (or --team-copy)", p)}
				}
			}
			w, _, err := f.open(cmd, "")
			if err != nil {
				return err
			}
			defer w.Abort()
			var rb *researcher.ReplyBatch
			if again {
				rb, err = w.LastReplyBatch()
			} else {
				rb, err = w.WriteReplyBatch()
			}
			if err != nil {
				if !again && w.Replies().Sent > 0 {
					err = fmt.Errorf("%w (the reply batches written so far are in %s; --again writes the last one out again)", err, filepath.Join(f.workspace, "reply-batches"))
				}
				return err
			}
			// The numbers are saved before the batch leaves the workspace.
			if err := w.Close(); err != nil {
				return err
			}
			if err := writeNew(out, 0o644, func(wr io.Writer) error { return copyFile(wr, rb.Path) }); err != nil {
				return err
			}
			if err := writeNewBytes(teamCopy, 0o600, rb.TeamCopy); err != nil {
				return err
			}
			o := cmd.OutOrStdout()
			fmt.Fprintf(o, "%d replies sealed in %s (manifest sha256 %x): give it to the operator (intake replies import)\n", rb.Replies, out, rb.Manifest.Hash)
			fmt.Fprintf(o, "team copy written to %s: give it to the other researchers (researcher decrypt --replies)\n", teamCopy)
			if rb.Left > 0 {
				fmt.Fprintf(o, "%d replies are still queued (one batch holds %d): run reply-batch again\n", rb.Left, rb.Replies)
			}
			if rb.Dropped > 0 {
				fmt.Fprintf(o, "%d queued replies were dropped: the people they answer withdrew their testimonies\n", rb.Dropped)
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&out, "out", "", "file to write the signed reply batch to (required; must not exist)")
	c.Flags().StringVar(&teamCopy, "team-copy", "", "file to write the team copy to (default: --out with .team for its extension; must not exist)")
	c.Flags().BoolVar(&again, "again", false, "write the last reply batch and its team copy again, instead of sealing queued replies")
	c.MarkFlagRequired("out")
	return c
}

// copyFile copies the file at path to w.
func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
