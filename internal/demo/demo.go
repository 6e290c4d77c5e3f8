// Package demo runs the whole testimony pipeline on one machine, for a
// newcomer to watch: researcher keys, a study, the intake server, people
// testifying on both submission paths, an export, offline decryption and
// the pseudonymized table.
//
// The demo plays every role in one process, so it holds the throwaway
// private keys it makes. The real intake server never does: it has no code
// that reads a key file (see the dependency test in cmd/intake).
package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/oplog"
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

// Result is what a run produced, for tests.
type Result struct {
	Dir         string
	Address     string // the server's URL: an onion address, or a loopback one
	Submitted   int
	Testimonies []researcher.Testimony
}

// sample is one person's answers in the example study.
type sample struct {
	lang    string
	answers map[string][]string
}

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

const passphrase = "demo passphrase: never use this one"

// Run runs the demo. It stops early, cleaning up, when ctx is done.
func Run(ctx context.Context, o Options) (*Result, error) {
	out := o.Out
	dir := o.Dir
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
	res := &Result{Dir: dir}
	step := func(who, format string, args ...any) {
		fmt.Fprintf(out, "\n[%s] %s\n", who, fmt.Sprintf(format, args...))
	}
	started := time.Now()

	// 1. The researchers make their keys on their offline machines.
	step("researchers", "Making two researcher keys (argon2id, %d MiB) …", kdf.MemoryKiB>>10)
	var keyPaths []string
	var pubs []string
	for i := 1; i <= 2; i++ {
		id, err := envelope.GenerateIdentity()
		if err != nil {
			return nil, err
		}
		data, err := keyfile.Encrypt(id, []byte(passphrase), kdf)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, fmt.Sprintf("researcher-%d.key", i))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, err
		}
		keyPaths = append(keyPaths, p)
		pubs = append(pubs, id.Recipient().String())
		fmt.Fprintf(out, "  researcher %d: %s\n  fingerprint:  %s\n", i, id.Recipient(), id.Recipient().Fingerprint())
	}

	// 2. The study file, with the researchers' public keys.
	studyPath := filepath.Join(dir, "study.yaml")
	if err := os.WriteFile(studyPath, withRecipients(examples.NKInternetAccess, pubs), 0o644); err != nil {
		return nil, err
	}
	study, err := config.Load(studyPath)
	if err != nil {
		return nil, err
	}
	step("researchers", "Study %q: %d questions in Korean, English and Chinese → %s", study.ID, len(study.Questions), studyPath)

	// 3. The operator starts the server.
	data, err := intake.OpenData(filepath.Join(dir, "server"))
	if err != nil {
		return nil, err
	}
	defer data.Close()
	if err := data.BindStudy(study.ID); err != nil {
		return nil, err
	}
	var logs bytes.Buffer
	if err := data.Record(audit.ServiceStarted(study.SHA256, time.Now())); err != nil {
		return nil, err
	}
	srv, err := intake.New(intake.Config{Study: study, Store: data.Store, Log: oplog.New(&logs),
		Stored: func(sum [32]byte, day time.Time) error { return data.Record(audit.SubmissionStored(sum, day)) }})
	if err != nil {
		return nil, err
	}
	hs := srv.HTTPServer()
	base, client, stopServer, err := startServing(ctx, o, dir, hs, func() { data.Record(audit.OnionPublished(time.Now())) }, step)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	res.Address = base
	step("operator", "Server key for researchers to pin: %s", data.ServerKey())

	// 4. People testify.
	step("people", "Three people send the form without JavaScript; the server seals their answers in memory at once:")
	for _, s := range samples {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		code, err := post(ctx, client, base+"/submit", formValues(s))
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("form submission refused with status %d", code)
		}
		fmt.Fprintf(out, "  form (%s): received\n", s.lang)
		res.Submitted++
	}
	bad := formValues(samples[0])
	bad.Set("q.departure_year", "1850")
	bad.Del("q.consent")
	code, err := post(ctx, client, base+"/submit", bad)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  form with a mistake (year 1850, no consent): status %d, the form comes back with every answer kept and the errors marked\n", code)

	step("people", "Two people's browsers seal their answers themselves (JavaScript on); the server sees only ciphertext:")
	var recipients []*envelope.Recipient
	for _, p := range pubs {
		r, _ := envelope.ParseRecipient(p)
		recipients = append(recipients, r)
	}
	for _, s := range sealedSamples {
		pt, err := response.Marshal(study, &response.Response{Study: study.ID, Language: s.lang, Answers: s.answers})
		if err != nil {
			return nil, err
		}
		env, err := envelope.Seal(study.ID, pt, recipients)
		if err != nil {
			return nil, err
		}
		code, err := post(ctx, client, base+"/sealed", url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}, "lang": {s.lang}})
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("sealed submission refused with status %d", code)
		}
		fmt.Fprintf(out, "  sealed envelope of %d bytes (%s): received\n", len(env), s.lang)
		res.Submitted++
	}

	// 5. The operator exports a signed batch.
	batchPath := filepath.Join(dir, "batch.tar")
	m, err := data.Export(batchPath, time.Now())
	if err != nil {
		return nil, err
	}
	step("operator", "Exported %d envelopes to %s, signed by the server key", len(m.Entries), batchPath)

	// 6. A researcher decrypts on the offline machine.
	key, err := os.ReadFile(keyPaths[0])
	if err != nil {
		return nil, err
	}
	id, err := keyfile.Decrypt(key, []byte(passphrase))
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(data.ServerKey())
	if err != nil {
		return nil, err
	}
	wsDir := filepath.Join(dir, "workspace")
	ws, err := researcher.Open(wsDir, study, id, "ko")
	if err != nil {
		return nil, err
	}
	f, err := os.Open(batchPath)
	if err != nil {
		return nil, err
	}
	sum, err := ws.Import(f, verifier, nil)
	f.Close()
	if err != nil {
		return nil, err
	}
	if err := ws.Close(); err != nil {
		return nil, err
	}
	step("researcher", "Checked the signature and %d hashes, decrypted %d testimonies (%d quarantined), gave each a pseudonym → %s",
		sum.Envelopes, sum.Imported, sum.Quarantined, wsDir)
	if res.Testimonies, err = ws.Testimonies(); err != nil {
		return nil, err
	}

	rows := [][]string{{"pseudonym", "lang", "left", "internet", "testimony"}}
	for _, t := range res.Testimonies {
		rows = append(rows, []string{
			t.Pseudonym + " " + t.PseudonymRoman, t.Language,
			researcher.Cell(t.Answers["departure_year"]), researcher.Cell(t.Answers["internet_use"]),
			truncate(researcher.Cell(t.Answers["testimony"]), 46),
		})
	}
	fmt.Fprintln(out)
	printTable(out, rows)
	// 7. An auditor checks both logs offline.
	serverKey, err := data.AuditKey()
	if err != nil {
		return nil, err
	}
	researcherKey, err := os.ReadFile(filepath.Join(wsDir, "audit.pub"))
	if err != nil {
		return nil, err
	}
	rec, err := audit.Reconcile(filepath.Join(dir, "server", "audit"), serverKey,
		[]string{filepath.Join(wsDir, "audit")}, []string{strings.TrimSpace(string(researcherKey))})
	if err != nil {
		return nil, fmt.Errorf("audit logs do not reconcile: %w", err)
	}
	step("auditor", "Verified the server's audit log (%d records, %d signed) and the researcher's (%d): every exported batch was imported, nothing else. No record names a person, an address or a time finer than the day.",
		rec.Servers[0].Records, rec.Servers[0].Signed, rec.Researchers[0].Records)

	fmt.Fprintf(out, "\nDone in %.1f s. The workspace holds testimonies.csv (opens in Excel), testimonies.jsonl, codebook.csv and one Markdown file per testimony.\n", time.Since(started).Seconds())
	if o.Dir != "" {
		fmt.Fprintf(out, "Files kept in %s\n", dir)
	}
	fmt.Fprintln(out, "Cleaning up …")
	return res, nil
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

func post(ctx context.Context, c *http.Client, u string, v url.Values) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
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
