package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/xlsform"
)

func xlsformCmd() *cobra.Command {
	var in, out, from, recipientsFile, limits string
	c := &cobra.Command{
		Use:   "xlsform --in FORM.xlsx --out STUDY.yaml (--from STUDY.yaml | --recipients FILE)",
		Short: "Convert an XLSForm (ODK, KoboToolbox, SurveyCTO) into a study file",
		Long: `xlsform converts a questionnaire written as an XLSForm (.xlsx: survey, choices and settings
sheets) into a study file. The form gives the questions, choices, groups (sections), languages
(label::Korean (ko) …), conditions (relevant, constraint), title and introduction; the study file
also needs its researchers' keys and limits, kept from the current study (--from) or read from
--recipients, a YAML list of "- name: … / public_key: testimony-pub-…" as a study file writes
them (a study file will do).

With --from, the new study must be a revision of it: a question id that comes back with another
type, or a choice value whose label moved to another value, is refused, naming the cell, so that
a change made in the spreadsheet never silently changes what earlier answers mean.

Every problem is printed at once, one a line, with its sheet and cell (survey!F12) and how to fix
it; nothing is written then. What testimony refuses, and why (metadata such as device ids, times
and phone numbers; locations; photos, audio and files; calculations; repeats …), is in the README
and the package doc of xlsform. Warnings (a date asked as a year and a season or month, ignored
appearances …) are printed too, and the study file is written.`,
		Example: `  researcher xlsform --in form.xlsx --out study.yaml --from study.yaml
  researcher xlsform --in form.xlsx --out study.yaml --recipients team.yaml --limits max_text_length=8000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt := xlsform.Options{Name: filepath.Base(in)}
			if from != "" {
				existing, err := config.Load(from)
				if err != nil {
					return printStudyProblems(cmd.ErrOrStderr(), from, err)
				}
				opt.Recipients = existing.Recipients
				opt.RecipientsFrom = "--from " + from
				opt.Limits = existing.Limits
				opt.LimitsFrom = "--from " + from
				opt.RequireBrowserEncryption = existing.RequireBrowserEncryption
				opt.ID = existing.ID
				opt.Earlier = []*config.Study{existing}
			}
			if recipientsFile != "" {
				rs, err := readRecipientList(recipientsFile)
				if err != nil {
					return err
				}
				opt.Recipients, opt.RecipientsFrom = rs, "--recipients "+recipientsFile
			}
			if limits != "" {
				if err := parseLimitsFlag(limits, &opt.Limits); err != nil {
					return err
				}
				opt.LimitsFrom = "--limits"
			}
			if len(opt.Recipients) == 0 {
				return errors.New("the study needs its researchers' public keys: give --from with the current study file, or --recipients with a list of them")
			}
			f, err := os.Open(in)
			if err != nil {
				return fmt.Errorf("failed to read the form: %w", err)
			}
			res, err := xlsform.Convert(f, opt)
			f.Close()
			var problems xlsform.Errors
			if errors.As(err, &problems) {
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p)
				}
				return fmt.Errorf("%s has %s; fix %s in the spreadsheet and convert it again (nothing was written)", in, nounCount(len(problems), "problem"), map[bool]string{true: "it", false: "them"}[len(problems) == 1])
			}
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			if err := atomicfile.WriteBytes(out, 0o644, res.YAML); err != nil {
				return err
			}
			sum := sha256.Sum256(res.YAML)
			s := res.Study
			notes := 0
			for _, q := range s.Questions {
				if q.Type == config.Note {
					notes++
				}
			}
			langs := append([]string{s.Languages[0] + " (default)"}, s.Languages[1:]...)
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: study %s, version %s\n", out, s.ID, config.ShortVersion(hex.EncodeToString(sum[:])))
			fmt.Fprintf(w, "  %s (%s), %s; languages %s; %s\n", nounCount(len(s.Questions)-notes, "question"), nounCount(notes, "note"),
				nounCount(len(s.Sections), "section"), strings.Join(langs, ", "), nounCount(len(s.Recipients), "recipient"))
			if from != "" {
				fmt.Fprintf(w, "  a revision of %s (version %s): every question id and choice value keeps its meaning\n", from, opt.Earlier[0].ShortVersion())
			}
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "", "the XLSForm to convert, an .xlsx file (required)")
	c.Flags().StringVar(&out, "out", "", "the study file to write; replaced atomically if it exists (required)")
	c.Flags().StringVar(&from, "from", "", "the current study file: keep its recipients, limits and id, and check that the new study is a revision of it")
	c.Flags().StringVar(&recipientsFile, "recipients", "", "a YAML file listing the researchers (name, public_key), as a study file does")
	c.Flags().StringVar(&limits, "limits", "", "limits, as max_submission_bytes=N,max_text_length=N (default: those of --from, or testimony's)")
	c.MarkFlagRequired("in")
	c.MarkFlagRequired("out")
	return c
}

// printStudyProblems prints the problems of a study file one a line and
// returns a one-line error.
func printStudyProblems(stderr io.Writer, path string, err error) error {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	return fmt.Errorf("%s has %s; fix it first", path, nounCount(len(errs), "problem"))
}

// readRecipientList reads a list of researchers: a YAML list of name and
// public_key, or a mapping (such as a study file) with such a list under
// recipients. config checks the keys.
func readRecipientList(path string) ([]config.Recipient, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read recipients: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read recipients: %w", err)
	}
	if len(data) > config.MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: give a list of researchers, or a study file", path, config.MaxFileSize)
	}
	var list []config.Recipient
	if err := yaml.Unmarshal(data, &list); err != nil || len(list) == 0 {
		var doc struct {
			Recipients []config.Recipient `yaml:"recipients"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Recipients) == 0 {
			return nil, fmt.Errorf("%s lists no researchers: write one \"- name: …\" line and an indented \"public_key: testimony-pub-…\" line for each, as a study file's recipients", path)
		}
		list = doc.Recipients
	}
	return list, nil
}

// parseLimitsFlag reads --limits into l.
func parseLimitsFlag(s string, l *config.Limits) error {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("--limits %q: write name=number, such as max_text_length=8000", kv)
		}
		switch strings.TrimSpace(k) {
		case "max_submission_bytes":
			l.MaxSubmissionBytes = n
		case "max_text_length":
			l.MaxTextLength = n
		default:
			return fmt.Errorf("--limits: unknown limit %q; the limits are max_submission_bytes and max_text_length", k)
		}
	}
	return nil
}

func nounCount(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
