package demo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/net/html"
)

// The people's side: what their browsers send and show, over the demo's
// transport (Tor or loopback). Without JavaScript they post the forms the
// server's pages hold; with JavaScript the demo does what the page's
// script does (static/form.js, back.js) with the Go twins of its code:
// returnkey, response, envelope and reply.

// site is the intake server as a person's browser reaches it.
type site struct {
	base   string
	client *http.Client
}

// maxPage bounds what the demo reads of a response: the download of
// replies is the largest (512 KiB: 256 records of 2 KiB, the first step
// of its padding).
const maxPage = 8 << 20

func (s *site) do(ctx context.Context, method, path string, form url.Values) (int, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return 0, nil, fmt.Errorf("failed to read %s %s: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

// post posts form to path and returns the status and the page.
func (s *site) post(ctx context.Context, path string, form url.Values) (int, []byte, error) {
	return s.do(ctx, http.MethodPost, path, form)
}

// sendForm sends a person's answers without JavaScript, as the form's last
// step posts them, and returns the words of the return passphrase the
// receipt shows (none if the person ticked "no return passphrase").
func (s *site) sendForm(ctx context.Context, sm sample, noReturn bool) ([]string, error) {
	v := formValues(sm)
	if noReturn {
		v.Set(intake.NoReturnField, "1")
	}
	code, body, err := s.post(ctx, "/submit", v)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("form submission refused with status %d", code)
	}
	p, err := parsePage(body)
	if err != nil {
		return nil, err
	}
	var words []string
	if ol := first(p.root, byID("pp-words")); ol != nil {
		for _, li := range all(ol, tagClass("li", "")) {
			words = append(words, text(li))
		}
	}
	if !noReturn && len(words) != returnkey.Words {
		return nil, fmt.Errorf("the receipt shows %d words of a return passphrase, want %d", len(words), returnkey.Words)
	}
	return words, nil
}

// sendSealed posts an envelope as the form's script does.
func (s *site) sendSealed(ctx context.Context, env []byte, lang string) error {
	code, _, err := s.post(ctx, "/sealed", url.Values{"envelope": {base64.StdEncoding.EncodeToString(env)}, "lang": {lang}})
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("sealed submission refused with status %d", code)
	}
	return nil
}

// browserPerson is someone whose browser runs JavaScript: it seals their
// answers itself, and makes their return passphrase.
type browserPerson struct {
	lang  string
	words string // the return passphrase, as they wrote it down; "" if none
}

// testify seals the answers of sm to the study's researchers, with a
// return address if p takes a passphrase, as the form's script does, and
// posts the envelope. It returns the envelope's size.
func (p *browserPerson) testify(ctx context.Context, s *site, study *config.Study, to []*envelope.Recipient, sm sample, withReturn bool) (int, error) {
	r := &response.Response{Study: study.ID, Language: sm.lang, Answers: sm.answers}
	if withReturn {
		pp, err := returnkey.Generate()
		if err != nil {
			return 0, err
		}
		keys, err := returnkey.Derive(pp, study.ID)
		if err != nil {
			return 0, err
		}
		r.Return = keys.Address()
		keys.Clear()
		p.words = pp.Format(sm.lang)
		pp.Clear()
	}
	pt, err := response.Marshal(study, r)
	if err != nil {
		return 0, err
	}
	env, err := envelope.Seal(study.ID, pt, to)
	clear(pt)
	if err != nil {
		return 0, err
	}
	return len(env), s.sendSealed(ctx, env, sm.lang)
}

// withdraw comes back as the come-back page's script does: it derives the
// keys from the words, downloads every reply record (the same bytes for
// everyone), looks for its own, and then withdraws the testimony: a
// signed withdrawal sealed to the researchers, posted like a testimony.
// It returns the number of records downloaded and of replies found.
func (p *browserPerson) withdraw(ctx context.Context, s *site, study *config.Study, to []*envelope.Recipient) (records, found int, err error) {
	pp, err := returnkey.Parse(p.words)
	if err != nil {
		return 0, 0, err
	}
	keys, err := returnkey.Derive(pp, study.ID)
	pp.Clear()
	if err != nil {
		return 0, 0, err
	}
	defer keys.Clear()
	code, body, err := s.do(ctx, http.MethodGet, "/back/replies", nil)
	if err != nil {
		return 0, 0, err
	}
	if code != http.StatusOK {
		return 0, 0, fmt.Errorf("downloading the replies: status %d", code)
	}
	mine, _, err := reply.Find(body, keys, study.ID, to)
	if err != nil {
		return 0, 0, err
	}
	m := &response.Message{Language: p.lang, Kind: response.Withdrawal, Answers: map[string][]string{}, Lists: map[string]bool{}}
	pt, err := response.SignThread(study, m, keys)
	if err != nil {
		return 0, 0, err
	}
	env, err := envelope.Seal(study.ID, pt, to)
	clear(pt)
	if err != nil {
		return 0, 0, err
	}
	return len(body) / reply.RecordSize, len(mine), s.sendSealed(ctx, env, p.lang)
}

// shownReply is a reply as the page of replies shows it to a person
// without JavaScript, with the form that answers its questions.
type shownReply struct {
	heading, text string
	questions     []string // labels
	form          url.Values
}

// comeBack types the words of a return passphrase on the come-back page
// without JavaScript, and returns the replies the page shows: the server
// derived the keys and opened them in memory.
func (s *site) comeBack(ctx context.Context, lang string, words []string) ([]shownReply, error) {
	code, body, err := s.post(ctx, "/back", url.Values{"lang": {lang}, "passphrase": {strings.Join(words, " ")}})
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("the come-back page answered the passphrase with status %d", code)
	}
	p, err := parsePage(body)
	if err != nil {
		return nil, err
	}
	var out []shownReply
	for _, sec := range all(p.root, tagClass("section", "reply")) {
		r := shownReply{heading: text(first(sec, tagClass("h2", ""))), text: text(first(sec, tagClass("p", "reply-text")))}
		if f := first(sec, tagClass("form", "")); f != nil {
			r.form = url.Values{}
			for _, in := range all(f, tagClass("input", "")) {
				if attr(in, "type") == "hidden" {
					r.form.Set(attr(in, "name"), attr(in, "value"))
				}
			}
			for _, l := range all(f, tagClass("span", "label")) {
				r.questions = append(r.questions, text(l))
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// answer sends the answers to a reply's questions from the page of
// replies, and returns what the page then says.
func (s *site) answer(ctx context.Context, r shownReply, answers map[string]string) (string, error) {
	if r.form == nil || r.form.Get("key") == "" || r.form.Get("kind") != string(response.Followup) {
		return "", errors.New("the reply shows no form to answer its questions")
	}
	v := url.Values{}
	for k, vs := range r.form {
		v[k] = vs
	}
	for id, a := range answers {
		v.Set(response.FieldPrefix+id, a)
	}
	code, body, err := s.post(ctx, "/back/send", v)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("answering the reply: status %d", code)
	}
	p, err := parsePage(body)
	if err != nil {
		return "", err
	}
	said := text(first(p.root, func(n *html.Node) bool { return n.Data == "p" && attr(n, "role") == "status" }))
	if said == "" {
		return "", errors.New("the page does not say the answers were sent")
	}
	return said, nil
}
