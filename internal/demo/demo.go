// Package demo runs the life of a testimony study on one machine, for a
// newcomer to watch, in short narrated steps:
//
//   - two researchers make keys and write the study; the operator serves
//     it (an onion service on a private Tor network, or loopback);
//   - people testify on both paths, one making a mistake, some taking a
//     return passphrase; the operator exports a signed batch; a researcher
//     decrypts it offline and gets the pseudonymized table;
//   - the way back: the researcher replies to one testimony with a
//     follow-up question and writes a signed reply batch; the operator
//     imports it; the person comes back without JavaScript, through the
//     same transport, types the words of their passphrase, reads the reply
//     and answers; another comes back with JavaScript and withdraws; after
//     the next export and decrypt the answer is on the thread of the first
//     testimony, under its pseudonym, and the withdrawn testimony is in no
//     export; the researcher writes the HTML report;
//   - purge with proof: the researcher signs an import receipt, and the
//     operator purges exactly the envelopes of the batches it covers;
//   - an auditor verifies the server's and the researcher's audit logs and
//     reconciles them, the reply batch included.
//
// Every step calls the package functions the commands call (intake serve,
// export, replies import and purge; researcher decrypt, reply,
// reply-batch, report and receipt; auditor verify and reconcile); nothing
// is shelled out. People's browsers are played over HTTP: without
// JavaScript the demo posts the forms the server's pages hold, and reads
// the pages; with JavaScript it does what the pages' scripts do, with the
// Go twins of their code (returnkey, response, envelope, reply).
//
// The demo plays every role in one process, so it holds the throwaway
// private keys it makes. The real intake server never does: it has no code
// that reads a key file (see the dependency test in cmd/intake). The
// narration keeps the project's rules: no step of the operator prints an
// answer (only the people, on their own side, and the researcher, offline,
// see plaintext), and nothing in it is finer than the UTC day.
package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/receipt"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/researcher"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// Options configures Run.
type Options struct {
	// Out receives the demo's narration. Required.
	Out io.Writer
	// Dir is where the demo keeps its files. Empty means a new temporary
	// folder, removed at the end.
	Dir string
	// Loopback serves on 127.0.0.1 instead of an onion service on a private
	// Tor network. The zero value (false) uses Tor, which needs the tor
	// program and takes 20 to 40 seconds to start.
	Loopback bool
	// KDF are the argon2id parameters of the demo's key files. The zero
	// value means keyfile.DefaultParams.
	KDF keyfile.Params
}

// Result is what a run produced, for tests. Its paths are in Dir, which
// is gone after Run unless Options.Dir named it.
type Result struct {
	// Dir holds study.yaml, server/ (the intake's data directory),
	// workspace/ (the researcher's) and usb/ (the files carried between
	// the server and the offline machine).
	Dir       string
	ServerDir string
	Workspace string
	// Address is the server's URL: an onion address, or a loopback one.
	Address string
	// Submitted counts the testimonies people sent and the server stored
	// (not the messages on threads).
	Submitted int
	// Imported are the testimonies of the first decrypt; Testimonies those
	// of the workspace at the end.
	Imported, Testimonies []researcher.Testimony
	// Batches are the batch files the operator exported, in order.
	Batches []string
	// RepliedTo is the pseudonym of the testimony the researcher replied
	// to, with a question whose id is FollowupQuestion, which the person
	// answered with FollowupAnswer; ReplyBatch is the reply batch's
	// manifest.
	RepliedTo                        string
	FollowupQuestion, FollowupAnswer string
	ReplyBatch                       *reply.Manifest
	// Withdrawn is the pseudonym of the testimony its person withdrew.
	Withdrawn string
	// Report is the HTML report the researcher wrote.
	Report string
	// Receipt is the researcher's import receipt, and Purge what the
	// operator's purge with it did.
	Receipt *receipt.Receipt
	Purge   *intake.PurgeResult
	// Reconciliation is the auditor's, of the server's and the
	// researcher's logs.
	Reconciliation *audit.Reconciliation
}

// sample is one person's answers in the example study.
type sample struct {
	lang    string
	answers map[string][]string
}

// samples are sent without JavaScript: the server seals them.
var samples = []sample{
	{"ko", map[string][]string{
		"departure_year": {"2019"}, "departure_province": {"ryanggang"},
		"phone_use": {"own"}, "phone_activities": {"calls", "messages", "photos_videos"},
		"phone_monitoring": {"auto_screenshots", "street_inspection"},
		"intranet_use":     {"a_few_times"}, "intranet_where": {"library"},
		"internet_use": {"inside"}, "internet_where": {"academy_of_sciences"},
		"internet_first_used": {"2016-autumn"}, "access_approval": {"application_signatures", "security_approval"},
		"approval_time": {"days_1_3"}, "session_length": {"one_hour"},
		"monitoring_seen": {"supervisor_beside", "screen_freeze_fingerprint", "security_officer"},
		"foreign_media":   {"often"}, "foreign_media_kind": {"south_korean_drama"},
		"testimony": {"도서관 관리원이 두 사람 사이에 앉아 량쪽 화면을 계속 지켜보았습니다. 5분마다 화면이 멈추고, 관리원이 지문을 찍어야 다시 쓸 수 있었습니다.\r\n허가를 받는 데 이틀이 걸렸습니다."},
		"consent":   {"yes"},
	}},
	{"en", map[string][]string{
		"departure_year": {"2017"}, "phone_use": {"borrowed"}, "phone_monitoring": {"auto_screenshots"},
		"internet_use": {"abroad"}, "internet_abroad": {"china_business"}, "internet_first_used": {"2014"},
		"foreign_media": {"a_few_times"}, "foreign_media_kind": {"south_korean_music", "chinese"},
		"testimony": {"I first saw the internet on a business trip to China. Back home, the phone took a screenshot every few minutes, so we deleted songs from the USB stick before inspections."},
		"consent":   {"yes"},
	}},
	{"zh", map[string][]string{
		"departure_year": {"2021"}, "departure_province": {"north_hamgyong"}, "phone_use": {"own"},
		"internet_use": {"never"}, "intranet_use": {"often"}, "intranet_where": {"phone", "workplace"},
		"foreign_media": {"never"},
		"testimony":     {"我只用过光明网，从来没有上过互联网。听说只有少数人可以用。"},
		"consent":       {"yes"},
	}},
}

// sealedSamples are sent as a browser with JavaScript sends them: sealed on
// the client, so the server never sees the answers.
var sealedSamples = []sample{
	{"ko", map[string][]string{
		"departure_year": {"2015"}, "phone_use": {"no"}, "internet_use": {"never"},
		"foreign_media": {"often"}, "foreign_media_kind": {"south_korean_drama", "western"},
		"foreign_media_first": {"2008-winter"}, "media_crackdown": {"home_searched", "device_checked"},
		"testimony": {"알판과 칩으로 남조선 영화를 보았습니다. 밤에 갑자기 집 검열이 있었습니다."},
		"consent":   {"yes"},
	}},
	{"en", map[string][]string{
		"departure_year": {"2022"}, "internet_use": {"both"}, "internet_where": {"university"},
		"internet_abroad": {"china_work"}, "approval_time": {"up_to_week"},
		"monitoring_seen": {"logs_checked", "sites_blocked"},
		"testimony":       {"Every Korean website was blocked; only Chinese or English sites were available, and we could read only the titles of research papers."},
		"consent":         {"yes"},
	}},
}

// lateSample is sent after the last export: its envelope is what the purge
// keeps.
var lateSample = sample{"zh", map[string][]string{
	"departure_year": {"2023"}, "phone_use": {"own"}, "phone_monitoring": {"auto_screenshots", "street_inspection"},
	"internet_use": {"never"}, "foreign_media": {"never"},
	"testimony": {"手机每隔几分钟自动截屏。路上检查的人会翻看所有截图。"},
	"consent":   {"yes"},
}}

// The researcher's reply to the first person, as `researcher reply` reads
// it from a text file and a questions file.
const (
	replyText = "증언을 고맙게 받았습니다. 한 가지만 더 묻겠습니다.\n"
	questions = `questions:
  - id: freeze_year
    type: year
    label: {ko: 화면이 멈추는 일은 몇 년에 처음 있었습니까?, en: In what year did the screen first freeze?, zh: 屏幕第一次冻结是哪一年？}
    required: true
`
	followupQuestion = "freeze_year"
	followupAnswer   = "2017"
)

const passphrase = "demo passphrase: never use this one"

// run is one run of the demo: what the roles share.
type run struct {
	ctx   context.Context
	out   io.Writer
	dir   string
	res   *Result
	start time.Time

	study      *config.Study
	studyData  []byte
	recipients []*envelope.Recipient
	site       *site
	usb        string             // what is carried between server and offline machine
	id         *envelope.Identity // researcher 1's key, unlocked
	serverKey  note.Verifier      // the batch key the researcher pinned

	firstWords []string       // the return passphrase of the first person
	leaver     *browserPerson // the person who withdraws
}

// step narrates what a role does.
func (r *run) step(who, format string, args ...any) {
	fmt.Fprintf(r.out, "[%s] %s\n", who, fmt.Sprintf(format, args...))
}

// detail narrates a detail of the step before.
func (r *run) detail(format string, args ...any) {
	fmt.Fprintf(r.out, "  %s\n", fmt.Sprintf(format, args...))
}

// rel names a path in the demo's folder relative to it.
func (r *run) rel(path string) string {
	if p, err := filepath.Rel(r.dir, path); err == nil && !strings.HasPrefix(p, "..") {
		return p
	}
	return path
}

// Run runs the demo. It stops early, cleaning up, when ctx is done.
func Run(ctx context.Context, o Options) (*Result, error) {
	dir := o.Dir
	if dir != "" {
		// A second run in the same folder would meet the first run's
		// keys, server and workspace halfway through.
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("%s is not empty: give --keep a new or empty folder", dir)
		}
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "testimony-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	kdf := o.KDF
	if kdf == (keyfile.Params{}) {
		kdf = keyfile.DefaultParams
	}
	r := &run{ctx: ctx, out: o.Out, dir: dir, start: time.Now(), usb: filepath.Join(dir, "usb"),
		res: &Result{Dir: dir, ServerDir: filepath.Join(dir, "server"), Workspace: filepath.Join(dir, "workspace")}}
	if err := os.MkdirAll(r.usb, 0o700); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		fmt.Fprintf(r.out, "The demo's files are in %s (removed at the end)\n", dir)
	} else {
		fmt.Fprintf(r.out, "The demo's files are in %s\n", dir)
	}
	if err := r.setUp(kdf); err != nil {
		return nil, err
	}

	// The operator serves the study, as intake serve does.
	data, err := intake.OpenData(r.res.ServerDir)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	serving, err := data.StartServing(r.study, filepath.Join(r.dir, "study.yaml"), intake.DefaultGrace,
		intake.Config{Log: oplog.New(io.Discard)}, time.Now())
	if err != nil {
		return nil, err
	}
	defer func() { serving.Stop(time.Now()) }()
	hs := serving.Server.HTTPServer()
	fmt.Fprintln(r.out)
	base, client, stopServer, err := startServing(ctx, o, dir, hs, func() { data.Record(audit.OnionPublished(time.Now())) }, r.step)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	r.res.Address = base
	r.site = &site{base: base, client: client}
	r.step("operator", "Server key for researchers to pin: %s", data.ServerKey())
	if r.serverKey, err = note.NewVerifier(data.ServerKey()); err != nil {
		return nil, err
	}

	for _, chapter := range []func() error{r.testimonies, r.wayBack, r.purge, r.audit} {
		fmt.Fprintln(r.out)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := chapter(); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(r.out, "\nDone in %.1f s.", time.Since(r.start).Seconds())
	if o.Dir != "" {
		fmt.Fprintf(r.out, " Files kept in %s\n", dir)
	} else {
		fmt.Fprintln(r.out, " Cleaning up …")
	}
	return r.res, nil
}

// setUp makes the researchers' keys and the study file.
func (r *run) setUp(kdf keyfile.Params) error {
	r.step("researchers", "Making two researcher keys (argon2id, %d MiB) …", kdf.MemoryKiB>>10)
	var pubs []string
	for i := 1; i <= 2; i++ {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			return err
		}
		data, err := keyfile.Encrypt(id, []byte(passphrase), kdf)
		if err != nil {
			return err
		}
		p := filepath.Join(r.dir, fmt.Sprintf("researcher-%d.key", i))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
		if i == 1 {
			r.id = id // the researcher the demo's researcher steps are
		}
		pubs = append(pubs, id.Recipient().String())
		r.recipients = append(r.recipients, id.Recipient())
		r.detail("researcher %d: %s\n  fingerprint:  %s", i, id.Recipient(), id.Recipient().Fingerprint())
	}
	studyPath := filepath.Join(r.dir, "study.yaml")
	r.studyData = withRecipients(examples.NKInternetAccess, pubs)
	if err := os.WriteFile(studyPath, r.studyData, 0o644); err != nil {
		return err
	}
	var err error
	if r.study, err = config.Parse(studyPath, r.studyData); err != nil {
		return err
	}
	questions := 0
	for _, q := range r.study.Questions {
		if q.Answerable() {
			questions++
		}
	}
	r.step("researchers", "Study %q: %d questions in Korean, English and Chinese → %s", r.study.ID, questions, r.rel(studyPath))
	return nil
}

// operator runs f on the server's data directory opened anew, as each
// intake command beside the running server does.
func (r *run) operator(f func(d *intake.Data) error) error {
	d, err := intake.OpenData(r.res.ServerDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return f(d)
}

// researcher opens the workspace with researcher 1's key, runs f and
// saves the run, as each researcher command does. A nil study is the one
// the workspace keeps.
func (r *run) researcher(study *config.Study, lang string, f func(w *researcher.Workspace) error) (*researcher.Workspace, error) {
	w, err := researcher.Open(r.res.Workspace, study, r.id, lang)
	if err != nil {
		return nil, err
	}
	defer w.Abort() // unless closed
	if err := f(w); err != nil {
		return nil, err
	}
	return w, w.Close()
}

// export exports every pending envelope to the USB stick, as intake
// export --out does, and narrates it, with note.
func (r *run) export(note string) error {
	var res *intake.ExportResult
	if err := r.operator(func(d *intake.Data) (err error) {
		res, err = d.ExportParts(intake.ExportOptions{Out: r.usb}, time.Now())
		return err
	}); err != nil {
		return err
	}
	for _, p := range res.Parts {
		r.res.Batches = append(r.res.Batches, p.Path)
	}
	r.step("operator", "Exported %d envelopes → %s%s", res.Envelopes, r.rel(res.Parts[0].Path), note)
	return nil
}

// decrypt imports the batches into the workspace, as researcher decrypt
// does, and returns what each import did.
func (r *run) decrypt(lang string, batches ...string) (*researcher.Workspace, []*researcher.Summary, error) {
	var sums []*researcher.Summary
	w, err := r.researcher(r.study, lang, func(w *researcher.Workspace) error {
		if err := w.SetStudyFile(r.studyData); err != nil {
			return err
		}
		for _, path := range batches {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			sum, err := w.Import(f, []note.Verifier{r.serverKey}, nil)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			sums = append(sums, sum)
		}
		return nil
	})
	return w, sums, err
}

// testimonies: people testify, the operator exports, the researcher
// decrypts.
func (r *run) testimonies() error {
	ctx := r.ctx
	r.step("people", "Three people send the form without JavaScript; the server seals their answers in memory at once:")
	for i, s := range samples {
		words, err := r.site.sendForm(ctx, s, i > 0)
		if err != nil {
			return err
		}
		r.res.Submitted++
		if i == 0 {
			r.firstWords = words
			r.detail("form (%s): received; the receipt shows the %d words of a return passphrase", s.lang, len(words))
		} else {
			r.detail("form (%s): received (this person ticked \"no return passphrase\")", s.lang)
		}
	}
	bad := formValues(samples[0])
	bad.Set("q.departure_year", "1850")
	bad.Del("q.consent")
	code, _, err := r.site.post(ctx, "/submit", bad)
	if err != nil {
		return err
	}
	r.detail("form with a mistake (year 1850, no consent): status %d, the form comes back with every answer kept and the errors marked", code)

	r.step("people", "Two people's browsers seal their answers themselves (JavaScript on); the server sees only ciphertext:")
	for i, s := range sealedSamples {
		p := &browserPerson{lang: s.lang}
		n, err := p.testify(ctx, r.site, r.study, r.recipients, s, i == 0)
		if err != nil {
			return err
		}
		r.res.Submitted++
		if i == 0 {
			r.leaver = p
			r.detail("sealed envelope of %d bytes (%s): received, with a return address; the browser showed the words", n, s.lang)
		} else {
			r.detail("sealed envelope of %d bytes (%s): received", n, s.lang)
		}
	}
	if err := r.export(", signed by the server key"); err != nil {
		return err
	}
	w, sums, err := r.decrypt("ko", r.res.Batches...)
	if err != nil {
		return err
	}
	r.step("researcher", "Checked the signature and %d hashes, decrypted %d testimonies (%d quarantined), gave each a pseudonym → %s",
		sums[0].Envelopes, sums[0].Imported, sums[0].Quarantined, r.rel(r.res.Workspace))
	if r.res.Imported, err = w.Testimonies(); err != nil {
		return err
	}
	rows := [][]string{{"pseudonym", "lang", "left", "internet", "testimony"}}
	for _, t := range r.res.Imported {
		rows = append(rows, []string{
			t.Pseudonym + " " + t.PseudonymRoman, t.Language,
			researcher.Cell(t.Answers["departure_year"]), researcher.Cell(t.Answers["internet_use"]),
			truncate(researcher.Cell(t.Answers["testimony"]), 46),
		})
	}
	fmt.Fprintln(r.out)
	printTable(r.out, rows)
	return nil
}

// wayBack: a reply with a follow-up question, answered without
// JavaScript; a withdrawal with JavaScript; the next decrypt; the report.
func (r *run) wayBack() error {
	ctx := r.ctx
	// The researcher reads the first person's testimony and asks more.
	asked := slices.IndexFunc(r.res.Imported, func(t researcher.Testimony) bool {
		return researcher.Cell(t.Answers["testimony"]) == response.NormalizeText(samples[0].answers["testimony"][0])
	})
	if asked < 0 {
		return errors.New("the first testimony is not in the workspace")
	}
	name := r.res.Imported[asked].Pseudonym
	r.res.RepliedTo, r.res.FollowupQuestion, r.res.FollowupAnswer = name, followupQuestion, followupAnswer
	var queued *researcher.QueuedReply
	if _, err := r.researcher(nil, "", func(w *researcher.Workspace) error {
		text, err := researcher.ReplyText("reply.txt", []byte(replyText))
		if err != nil {
			return err
		}
		lang, err := w.LanguageOf(name)
		if err != nil {
			return err
		}
		qs, err := researcher.ParseQuestions("questions.yaml", []byte(questions), lang)
		if err != nil {
			return err
		}
		queued, err = w.QueueReply(name, text, qs, "")
		return err
	}); err != nil {
		return err
	}
	var rb *researcher.ReplyBatch
	if _, err := r.researcher(nil, "", func(w *researcher.Workspace) (err error) {
		rb, err = w.WriteReplyBatch()
		return err
	}); err != nil {
		return err
	}
	batchPath := filepath.Join(r.usb, "replies-1.tar")
	kept, err := os.ReadFile(rb.Path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(batchPath, kept, 0o644); err != nil {
		return err
	}
	r.res.ReplyBatch = rb.Manifest
	r.step("researcher", "Replies to %s in %s, with a follow-up question: sealed to the person's return address, in a signed reply batch of %d → %s",
		name, langName(queued.Lang), rb.Replies, r.rel(batchPath))

	var stored int
	if err := r.operator(func(d *intake.Data) error {
		if _, err := d.ImportReplies(r.study, []string{batchPath}, time.Now()); err != nil {
			return err
		}
		stored, err = d.StoredReplies()
		return err
	}); err != nil {
		return err
	}
	r.step("operator", "Imported %s (intake replies import): the server holds %d reply record, and cannot tell whom it is for", r.rel(batchPath), stored)

	// The first person comes back, without JavaScript.
	shown, err := r.site.comeBack(ctx, samples[0].lang, r.firstWords)
	if err == nil && len(shown) == 0 {
		// The server looks for new reply records once a second.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(1100 * time.Millisecond):
		}
		shown, err = r.site.comeBack(ctx, samples[0].lang, r.firstWords)
	}
	if err != nil {
		return err
	}
	if len(shown) != 1 || len(shown[0].questions) != 1 {
		return fmt.Errorf("the person who came back was shown %d replies, want 1 with 1 question", len(shown))
	}
	r.step("people", "The first form's person comes back without JavaScript and types the %d words; the server derives their keys in memory and shows the reply:", len(r.firstWords))
	r.detail("%s: %q", shown[0].heading, shown[0].text)
	said, err := r.site.answer(ctx, shown[0], map[string]string{followupQuestion: followupAnswer})
	if err != nil {
		return err
	}
	r.detail("%s → %s, sent; the page says %q", shown[0].questions[0], followupAnswer, said)

	// The person whose browser made their passphrase withdraws.
	records, found, err := r.leaver.withdraw(ctx, r.site, r.study, r.recipients)
	if err != nil {
		return err
	}
	r.step("people", "The first browser's person comes back with JavaScript: the browser derives the keys, downloads all %d reply records (%d KiB, the same for everyone), finds %s; the person withdraws the testimony",
		records, records*reply.RecordSize>>10, plural(found, "reply of theirs", "replies of theirs"))

	if err := r.export(": a follow-up and a withdrawal, which the server cannot tell from testimonies"); err != nil {
		return err
	}
	w, sums, err := r.decrypt("", r.res.Batches[len(r.res.Batches)-1])
	if err != nil {
		return err
	}
	if r.res.Testimonies, err = w.Testimonies(); err != nil {
		return err
	}
	for _, t := range r.res.Imported {
		if !slices.ContainsFunc(r.res.Testimonies, func(u researcher.Testimony) bool { return u.Pseudonym == t.Pseudonym }) {
			r.res.Withdrawn = t.Pseudonym
		}
	}
	r.step("researcher", "Decrypted %d messages on threads, each signed with its thread's key: %s on %s's; %s withdrawn (%s), in no export now",
		sums[0].Messages, plural(w.Threads().Followups, "follow-up", "follow-ups"), name, plural(w.Withdrawn(), "testimony", "testimonies"), r.res.Withdrawn)
	fu, err := readCSV(filepath.Join(r.res.Workspace, "followups.csv"))
	if err != nil {
		return err
	}
	for _, row := range fu[1:] {
		if len(row) > 10 && row[0] == name {
			r.detail("followups.csv: %s %s, %s: %s", row[0], row[1], row[7], row[10])
		}
	}

	// The report, as researcher report --out WORKSPACE/report.html.
	r.res.Report = filepath.Join(r.res.Workspace, "report.html")
	if _, err := r.researcher(nil, "", func(w *researcher.Workspace) error {
		return w.WriteReport(r.res.Report, researcher.ReportOptions{})
	}); err != nil {
		return err
	}
	r.step("researcher", "Wrote report.html (counts and charts; free text only counted), as researcher report does. The workspace holds:")
	r.detail("%s", r.workspaceFiles())
	return nil
}

// workspaceFiles says what the workspace holds for the researcher to
// open, from the files it holds.
func (r *run) workspaceFiles() string {
	var have []string
	for _, f := range []struct{ name, what string }{
		{"testimonies.csv", ""}, {"testimonies.xlsx", "(both open in Excel)"}, {"testimonies.jsonl", ""},
		{"codebook.csv", ""}, {"followups.csv", ""}, {"thread.jsonl", ""}, {"report.html", ""},
	} {
		if fi, err := os.Stat(filepath.Join(r.res.Workspace, f.name)); err == nil && fi.Size() > 0 {
			have = append(have, strings.TrimSpace(f.name+" "+f.what))
		}
	}
	md, _ := filepath.Glob(filepath.Join(r.res.Workspace, "testimonies", "*.md"))
	have = append(have, fmt.Sprintf("testimonies/ (%d Markdown files, one per testimony)", len(md)))
	return strings.Join(have, ", ")
}

// purge: a late testimony, the receipt, the purge.
func (r *run) purge() error {
	p := &browserPerson{lang: lateSample.lang}
	if _, err := p.testify(r.ctx, r.site, r.study, r.recipients, lateSample, false); err != nil {
		return err
	}
	r.res.Submitted++
	r.step("people", "One more person's browser sends a testimony; it waits on the server for the next export")

	receiptPath := filepath.Join(r.usb, "researcher-1.receipt")
	if _, err := r.researcher(nil, "", func(w *researcher.Workspace) error {
		msg, rc, err := w.Receipt()
		if err != nil {
			return err
		}
		r.res.Receipt = rc
		return os.WriteFile(receiptPath, msg, 0o644)
	}); err != nil {
		return err
	}
	r.step("researcher", "Signed an import receipt for the %d batches imported → %s", len(r.res.Receipt.Batches), r.rel(receiptPath))

	keys, err := r.study.RecipientKeys()
	if err != nil {
		return err
	}
	var o intake.PurgeOptions
	for _, k := range keys {
		o.Verifiers = append(o.Verifiers, k.Verifier())
	}
	msg, err := os.ReadFile(receiptPath)
	if err != nil {
		return err
	}
	o.Receipts = []intake.ReceiptFile{{Name: receiptPath, Data: msg}}
	if err := r.operator(func(d *intake.Data) (err error) {
		r.res.Purge, err = d.Purge(o, time.Now())
		return err
	}); err != nil {
		return err
	}
	pr := r.res.Purge
	if c := pr.Receipts[0]; c.Err != nil {
		return fmt.Errorf("the purge refused the receipt: %w", c.Err)
	}
	r.step("operator", "Purged with the receipt (intake purge --receipt): deleted the %d envelopes of the %d batches it covers; their signed manifests stay",
		pr.Purged, pr.Batches)
	for _, k := range pr.Kept {
		r.detail("kept %s: %s", plural(k.Envelopes, "envelope", "envelopes"), k.Reason)
	}
	return nil
}

// audit: the auditor verifies both logs and reconciles them.
func (r *run) audit() error {
	var serverKey string
	if err := r.operator(func(d *intake.Data) (err error) {
		serverKey, err = d.AuditKey()
		return err
	}); err != nil {
		return err
	}
	researcherKey, err := os.ReadFile(filepath.Join(r.res.Workspace, "audit.pub"))
	if err != nil {
		return err
	}
	serverLog, researcherLog := filepath.Join(r.res.ServerDir, "audit"), filepath.Join(r.res.Workspace, "audit")
	// Reconcile verifies each log first, as auditor verify does.
	rec, err := audit.Reconcile(serverLog, serverKey, []string{researcherLog}, []string{strings.TrimSpace(string(researcherKey))})
	if err != nil {
		return fmt.Errorf("audit logs do not verify or reconcile: %w", err)
	}
	sv, rv := rec.Servers[0], rec.Researchers[0]
	r.step("auditor", "Verified the server's audit log (%d records, %d signed) and the researcher's (%d records, %d signed)", sv.Records, sv.Signed, rv.Records, rv.Signed)
	r.res.Reconciliation = rec
	r.step("auditor", "Reconciled them: every batch exported (%d) was imported, every reply batch written (%d) was imported by the server, nothing else.",
		len(rec.Batches), len(rec.ReplyBatches))
	r.detail("No record names a person, an address or a time finer than the day.")
	return nil
}

// plural says "1 reply", "2 replies".
func plural(n int, one, many string) string {
	switch n {
	case 0:
		return "no " + one
	case 1:
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// langName names a language of the example study in English.
func langName(tag string) string {
	switch tag {
	case "ko":
		return "Korean"
	case "en":
		return "English"
	case "zh":
		return "Chinese"
	}
	return tag
}

// readCSV reads an export of the workspace.
func readCSV(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF"))))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err == nil && len(rows) == 0 {
		err = fmt.Errorf("%s is empty", path)
	}
	return rows, err
}

func formValues(s sample) url.Values {
	v := url.Values{"lang": {s.lang}}
	for id, vals := range s.answers {
		if strings.HasSuffix(id, "_first") || strings.HasSuffix(id, "_first_used") {
			year, when, _ := strings.Cut(vals[0], "-")
			v.Set(response.FieldPrefix+id, year)
			v.Set(response.FieldPrefix+id+response.WhenSuffix, when)
			continue
		}
		v[response.FieldPrefix+id] = vals
	}
	return v
}

// withRecipients replaces the example study's recipients with pubs.
func withRecipients(study []byte, pubs []string) []byte {
	lines := strings.Split(string(study), "\n")
	n := 0
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, "public_key: "); ok && n < len(pubs) {
			lines[i] = k + "public_key: " + pubs[n]
			n++
		}
	}
	return []byte(strings.Join(lines, "\n"))
}
