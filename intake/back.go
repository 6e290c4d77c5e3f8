package intake

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
)

// The way back: the pages of a person who comes back with their return
// passphrase (see the package documentation, "Coming back").
//
//	GET  /back          the come-back page: a field for the passphrase
//	POST /back          the passphrase, without JavaScript: the replies found, and forms to answer
//	GET  /back/replies  every stored reply record, padded: the same bytes for everyone
//	POST /back/send     a follow-up, an addition or a withdrawal, without JavaScript

// ReplyBucket is the number of records the download of replies is padded
// to a multiple of: it grows in steps of 512 KiB, so that its size, which
// an observer of a person's connection may see, changes seldom.
const ReplyBucket = 256

// replyMemory bounds what the replies the server serves take: the
// largest download, and another while it is rebuilt.
const replyMemory = 2 * (MaxStoredReplies + ReplyBucket) * reply.RecordSize

// keyField carries, in the pages of a person without JavaScript, the seed
// the passphrase gave (base64url, 43 characters), so that answering does
// not take the passphrase or another derivation.
const keyField = "key"

// replyCache is the download of replies, made again when the records
// change.
type replyCache struct {
	src  *Replies
	held func(n int64) // if set, told of the bytes the cache holds, or is about to

	mu      sync.Mutex
	checked time.Time
	sig     string
	ok      bool
	records []byte // the stored records, sorted
	body    []byte // and padding records, sorted: what /back/replies serves
}

// replyCheckEvery is how often the server looks whether the stored
// records changed (a directory listing).
const replyCheckEvery = time.Second

// get returns the stored records and the download, made again if the
// records changed since it last looked.
func (c *replyCache) get() (records, body []byte, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && time.Since(c.checked) < replyCheckEvery {
		return c.records, c.body, nil
	}
	sig := ""
	if c.src != nil {
		if sig, err = c.src.Signature(); err != nil {
			return nil, nil, err
		}
	}
	if c.ok && sig == c.sig {
		c.checked = time.Now()
		return c.records, c.body, nil
	}
	var recs []byte
	if c.src != nil {
		if recs, sig, err = c.src.Load(); err != nil {
			return nil, nil, err
		}
	}
	n := len(recs) / reply.RecordSize
	total := max((n+ReplyBucket-1)/ReplyBucket, 1) * ReplyBucket
	if c.held != nil {
		// While it is made again: the old download, the records read, the
		// padding and the new download.
		c.held(int64(len(c.records) + len(c.body) + len(recs) + 2*total*reply.RecordSize))
	}
	pad := make([]byte, 0, (total-n)*reply.RecordSize)
	for range total - n {
		p, perr := reply.Padding()
		if perr != nil {
			if c.held != nil {
				c.held(int64(len(c.records) + len(c.body))) // the old download stays
			}
			return nil, nil, perr
		}
		pad = append(pad, p...)
	}
	body = mergeRecords(recs, sortRecords(pad))
	c.records, c.body, c.sig, c.ok, c.checked = recs, body, sig, true, time.Now()
	if c.held != nil {
		c.held(int64(len(recs) + len(body)))
	}
	return recs, body, nil
}

// servedCounts counts, per UTC day, the times the replies were served.
type servedCounts struct {
	mu   sync.Mutex
	days map[string]int
}

func (c *servedCounts) add(now time.Time) {
	c.mu.Lock()
	c.days[now.UTC().Format(time.DateOnly)]++
	c.mu.Unlock()
}

// flush hands the counts of the days pick chooses to RepliesServed, and
// forgets them.
func (c *servedCounts) flush(s *Server, pick func(day string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, n := range c.days {
		if !pick(d) {
			continue
		}
		delete(c.days, d)
		if s.c.RepliesServed == nil {
			continue
		}
		t, _ := time.Parse(time.DateOnly, d)
		if err := s.c.RepliesServed(n, t); err != nil {
			s.c.Log.Add(oplog.Counter{Event: oplog.AuditUnavailable})
		}
	}
}

// RunDaily hands each UTC day's count of replies served to
// Config.RepliesServed just after that day ends, until ctx is done. The
// moment depends only on the clock, never on a request. [Server.Shutdown]
// hands what was counted since.
func (s *Server) RunDaily(ctx context.Context) {
	for {
		now := s.c.Now().UTC()
		y, m, d := now.Date()
		t := time.NewTimer(time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		today := s.c.Now().UTC().Format(time.DateOnly)
		s.served.flush(s, func(day string) bool { return day < today })
	}
}

// backReplies serves every stored reply record with padding records, in
// the order of their bytes: the same bytes for everyone, whoever asks,
// until the records change. The browser finds its own.
func (s *Server) backReplies(w http.ResponseWriter, r *http.Request) {
	_, body, err := s.replies.get()
	if err != nil {
		s.c.Log.Add(oplog.Counter{Event: oplog.StoreUnavailable, Path: oplog.PathSealed})
		s.message(w, r, s.langOf(r), http.StatusServiceUnavailable, "error_title", "back_unavailable")
		return
	}
	if r.Method == http.MethodGet {
		s.served.add(s.c.Now())
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// backPage is the come-back page: the passphrase field, and for the
// browser's script what it needs to find replies and send messages.
type backPage struct {
	page
	// Typed is what the person typed, shown again with Problem.
	Typed, Problem string
	Status         int
	Study, Version string
	Recipients     string // the current researchers' public keys, space-separated
	Names          string // their names, one a line, in the same order
	Data           []template.HTMLAttr
}

// back shows the come-back page.
func (s *Server) back(w http.ResponseWriter, r *http.Request) {
	s.renderBack(w, s.langOf(r), http.StatusOK, "", "")
}

func (s *Server) renderBack(w http.ResponseWriter, lang string, status int, typed, problem string) {
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	p := backPage{page: s.page(lang, localize(l, "back_title"), ""), Typed: typed, Problem: problem,
		Study: s.c.Study.ID, Version: s.cur.id}
	if typed == "" {
		p.page = s.page(lang, localize(l, "back_title"), "/back?")
	}
	p.Scripts = []string{"/static/nacl.min.js", "/static/back.js"}
	var keys []string
	for _, k := range s.recipients {
		keys = append(keys, k.String())
	}
	p.Recipients = strings.Join(keys, " ")
	p.Names = strings.Join(s.names, "\n")
	p.Data = s.backData(l, lang)
	s.render(w, status, "back.html", p)
}

// backData are the limits and messages the come-back page's script needs.
func (s *Server) backData(l *i18n.Localizer, lang string) []template.HTMLAttr {
	st := s.c.Study
	year := &config.Question{Type: config.Year}
	lo, hi := year.Range(s.c.Now())
	short := &config.Question{Type: config.ShortText}
	var out []template.HTMLAttr
	num := func(name string, v int) { out = append(out, dataAttr(name, strconv.Itoa(v))) }
	num("data-year-min", lo)
	num("data-year-max", hi)
	num("data-short-max", short.MaxLen(st))
	num("data-long-max", st.MaxTextLength())
	num("data-add-max", response.AdditionLimit(st))
	for _, id := range []string{"pp_too_long", "pp_checksum", "back_deriving", "back_downloading", "back_finding", "back_none", "back_none_check",
		"back_unavailable", "back_failed", "reply_questions", "followup_send", "followup_again", "addition_heading", "addition_help",
		"addition_send", "withdraw_heading", "withdraw_help", "withdraw_button", "withdraw_confirm", "withdraw_yes", "withdraw_no",
		"sent_followup", "sent_addition", "sent_withdrawal", "sending", "send_failed", "seal_failed", "required_mark", "back_done"} {
		out = append(out, dataAttr("data-m-"+strings.ReplaceAll(id, "_", "-"), localize(l, id)))
	}
	out = append(out, dataAttr("data-m-reply-from", s.text(l, "reply_from", map[string]any{"Name": "{name}"})),
		dataAttr("data-m-pp-unknown-word", s.text(l, "pp_unknown_word", map[string]any{"Position": "{n}"})),
		dataAttr("data-m-pp-word-count", s.text(l, "pp_word_count", map[string]any{"Got": "{n}"})))
	for _, c := range problemCodes {
		out = append(out, dataAttr("data-p-"+string(c), s.text(l, "problem_"+string(c), map[string]any{"Limit": "{n}", "Choice": "{choice}"})))
	}
	return out
}

// passphraseProblem says, in the page's language, what is wrong with a
// passphrase as typed; the error never holds what was typed.
func (s *Server) passphraseProblem(l *i18n.Localizer, err error) string {
	var unknown *returnkey.UnknownWordError
	var count *returnkey.WordCountError
	switch {
	case errors.As(err, &unknown):
		return s.text(l, "pp_unknown_word", map[string]any{"Position": unknown.Position})
	case errors.As(err, &count):
		return s.text(l, "pp_word_count", map[string]any{"Got": count.Got})
	case errors.Is(err, returnkey.ErrTooLong):
		return localize(l, "pp_too_long")
	}
	return localize(l, "pp_checksum")
}

// backFormLimit bounds the post of a passphrase.
const backFormLimit = returnkey.MaxInputSize + 1024

// backOpen reads a passphrase typed without JavaScript: it checks the
// words (their checksum before anything else), derives the seed in a
// derivation slot, looks for the person's replies among the stored
// records in memory, and shows them, with forms to answer, add or
// withdraw that carry the seed, not the words. Nothing is kept.
func (s *Server) backOpen(w http.ResponseWriter, r *http.Request) {
	f, lang, ok := s.readForm(w, r, backFormLimit, oplog.PathForm)
	if !ok {
		return
	}
	if !s.c.Study.HasLanguage(lang) {
		lang = s.c.Study.DefaultLanguage()
	}
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	vals := f.values()["passphrase"]
	if len(vals) != 1 {
		s.reject(oplog.PathForm, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	typed := vals[0]
	p, err := returnkey.Parse(typed)
	if err != nil {
		s.renderBack(w, lang, http.StatusUnprocessableEntity, typed, s.passphraseProblem(l, err))
		return
	}
	var seed [returnkey.SeedSize]byte
	kerr := s.kdf.run(r.Context(), requestOf(r), kdfComeBack, func() { seed, err = returnkey.Seed(p, s.c.Study.ID) })
	p.Clear()
	if kerr != nil || err != nil {
		s.reject(oplog.PathForm, oplog.Busy)
		s.renderBack(w, lang, http.StatusServiceUnavailable, typed, localize(l, "error_busy"))
		return
	}
	defer clear(seed[:])
	s.served.add(s.c.Now())
	s.renderReplies(w, r, lang, http.StatusOK, &seed, repliesState{})
}

// repliesState is what a page of replies shows beside them.
type repliesState struct {
	sent      string     // the message key of what was just sent
	replyID   string     // the reply whose answers had problems
	form      url.Values // the answers to show again
	problems  response.Problems
	addition  string // the addition to show again, with its problem
	addProb   string
	confirm   bool // the withdrawal is to be confirmed
	withdrawn bool // a withdrawal was just sent
	// replies are the person's replies if this request already found
	// them (nil: find them).
	replies *foundReplies
}

// foundReplies is what findReplies found.
type foundReplies struct {
	found      []reply.Found
	unreadable int
}

type followupQuestion struct {
	ID, Type, Label, Value, Problem string
	Required                        bool
	MaxLength                       int
	Min, Max                        string
	Choices                         []choiceView
}

type replyView struct {
	ID, Heading, Lang, Text string
	Questions               []followupQuestion
}

type repliesPage struct {
	page
	Key        string
	Replies    []replyView
	Sent       string
	Addition   string
	AddProblem string
	AddMax     int
	Confirm    bool
	Withdrawn  bool
	Unreadable bool
	Problems   bool
}

// renderReplies finds the replies of the person whose seed it is and
// shows them, with st.
func (s *Server) renderReplies(w http.ResponseWriter, r *http.Request, lang string, status int, seed *[returnkey.SeedSize]byte, st repliesState) {
	if st.replies == nil {
		var ok bool
		if st.replies, ok = s.findRepliesOrSay(w, r, lang, seed); !ok {
			return
		}
	}
	found, unreadable := st.replies.found, st.replies.unreadable
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	p := repliesPage{page: s.page(lang, localize(l, "back_title"), ""), Key: base64.RawURLEncoding.EncodeToString(seed[:]),
		Addition: st.addition, AddProblem: st.addProb, AddMax: response.AdditionLimit(s.c.Study),
		Confirm: st.confirm, Withdrawn: st.withdrawn, Unreadable: unreadable > 0}
	if st.sent != "" {
		p.Sent = localize(l, st.sent)
	}
	for _, fr := range found {
		rv := replyView{ID: fr.Content.ID, Lang: fr.Content.Lang, Text: fr.Content.Text,
			Heading: s.text(l, "reply_from", map[string]any{"Name": s.researcherName(fr.Researcher)})}
		var form url.Values
		var ps response.Problems
		if st.replyID == fr.Content.ID {
			form, ps = st.form, st.problems
		}
		rv.Questions = s.followupQuestions(l, lang, fr.Content, form, ps)
		p.Problems = p.Problems || len(ps) > 0
		p.Replies = append(p.Replies, rv)
	}
	s.render(w, status, "replies.html", p)
}

// findRepliesOrSay is findReplies, answering the request with a page that
// says the replies cannot be read now if it fails.
func (s *Server) findRepliesOrSay(w http.ResponseWriter, r *http.Request, lang string, seed *[returnkey.SeedSize]byte) (*foundReplies, bool) {
	found, unreadable, err := s.findReplies(seed)
	if err != nil {
		s.c.Log.Add(oplog.Counter{Event: oplog.StoreUnavailable, Path: oplog.PathForm})
		s.message(w, r, lang, http.StatusServiceUnavailable, "error_title", "back_unavailable")
		return nil, false
	}
	return &foundReplies{found, unreadable}, true
}

// findReplies looks for the replies of the seed's keys among the stored
// records.
func (s *Server) findReplies(seed *[returnkey.SeedSize]byte) ([]reply.Found, int, error) {
	records, _, err := s.replies.get()
	if err != nil {
		return nil, 0, err
	}
	keys := returnkey.NewKeys(*seed)
	defer keys.Clear()
	return reply.Find(records, keys, s.c.Study.ID, s.recipients)
}

// researcherName returns the name the study gives a researcher's key.
func (s *Server) researcherName(k *envelope.Recipient) string {
	for i, r := range s.recipients {
		if r.Equal(k) && i < len(s.names) {
			return s.names[i]
		}
	}
	return ""
}

// followupQuestions are the views of a reply's questions, with the
// answers of form and their problems.
func (s *Server) followupQuestions(l *i18n.Localizer, lang string, c *reply.Content, form url.Values, ps response.Problems) []followupQuestion {
	fs := response.FollowupStudy(s.c.Study, c)
	var out []followupQuestion
	for i, q := range c.Questions {
		cq := &fs.Questions[i]
		fq := followupQuestion{ID: q.ID, Type: string(q.Type), Label: q.Label, Required: q.Required, MaxLength: cq.MaxLen(fs),
			Value: form.Get(response.FieldPrefix + q.ID)}
		fq.Min, fq.Max = cq.Bounds(s.c.Now())
		for _, ch := range q.Choices {
			fq.Choices = append(fq.Choices, choiceView{Q: q.ID, Value: ch.Value, Label: ch.Label, Checked: contains(form[response.FieldPrefix+q.ID], ch.Value)})
		}
		if pr, ok := ps[q.ID]; ok {
			fq.Problem = s.problemText(l, lang, cq, pr, form[response.FieldPrefix+q.ID])
		}
		out = append(out, fq)
	}
	return out
}

// backSend sends, for a person without JavaScript, a message on the
// thread of the seed it carries: the answers to a reply's questions, an
// addition, or (once confirmed) a withdrawal. It signs the message with
// the seed's keys, seals it to the current researchers like any
// testimony, stores it, and shows the replies again, saying it was sent.
func (s *Server) backSend(w http.ResponseWriter, r *http.Request) {
	const path = oplog.PathForm
	f, lang, ok := s.readForm(w, r, s.maxBody, path)
	if !ok {
		return
	}
	if !s.c.Study.HasLanguage(lang) {
		lang = s.c.Study.DefaultLanguage()
	}
	form := f.values()
	malformed := func() {
		s.reject(path, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
	}
	var seed [returnkey.SeedSize]byte
	key := form[keyField]
	if len(key) != 1 {
		malformed()
		return
	}
	// The length first: Decode writes past seed if the text is longer.
	if len(key[0]) != base64.RawURLEncoding.EncodedLen(len(seed)) {
		malformed()
		return
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(seed[:], []byte(key[0])); err != nil || n != len(seed) {
		malformed()
		return
	}
	defer clear(seed[:])
	for _, name := range []string{"kind", "reply", "nav", "confirm", response.AdditionField} {
		if len(form[name]) > 1 {
			malformed()
			return
		}
	}
	if form.Get("nav") == "cancel" {
		s.renderReplies(w, r, lang, http.StatusOK, &seed, repliesState{})
		return
	}
	m := &response.Message{Language: lang, Kind: response.Kind(form.Get("kind"))}
	st := repliesState{sent: "sent_" + string(m.Kind)}
	switch m.Kind {
	case response.Followup:
		known, ok := s.findRepliesOrSay(w, r, lang, &seed)
		if !ok {
			return
		}
		st.replies = known
		var c *reply.Content
		for _, fr := range known.found {
			if fr.Content.ID == form.Get("reply") && len(fr.Content.Questions) > 0 {
				c = fr.Content
			}
		}
		if c == nil {
			// The reply is gone (purged), or was never this person's.
			malformed()
			return
		}
		var ps response.Problems
		var err error
		m, ps, err = response.FollowupFromForm(s.c.Study, c, lang, form)
		if err != nil {
			malformed()
			return
		}
		if ps != nil {
			s.reject(path, oplog.InvalidAnswers)
			s.renderReplies(w, r, lang, http.StatusUnprocessableEntity, &seed, repliesState{replyID: c.ID, form: form, problems: ps, replies: known})
			return
		}
	case response.Addition:
		text := response.NormalizeText(form.Get(response.AdditionField))
		if strings.TrimSpace(text) == "" {
			s.renderReplies(w, r, lang, http.StatusUnprocessableEntity, &seed, repliesState{addProb: s.additionProblem(lang, response.Problem{Code: response.Required})})
			return
		}
		m.Answers = map[string][]string{response.AdditionField: {text}}
	case response.Withdrawal:
		if form.Get("confirm") != "yes" {
			s.renderReplies(w, r, lang, http.StatusOK, &seed, repliesState{confirm: true})
			return
		}
		st.withdrawn = true
	default:
		malformed()
		return
	}
	keys := returnkey.NewKeys(seed)
	pt, err := response.SignThread(s.c.Study, m, keys)
	keys.Clear()
	var ps response.Problems
	if errors.As(err, &ps) && m.Kind == response.Addition {
		s.reject(path, oplog.InvalidAnswers)
		s.renderReplies(w, r, lang, http.StatusUnprocessableEntity, &seed, repliesState{addition: m.Answers[response.AdditionField][0], addProb: s.additionProblem(lang, ps[response.AdditionField])})
		return
	}
	if err != nil {
		malformed()
		return
	}
	env, err := envelope.Seal(s.c.Study.ID, pt, s.recipients)
	clear(pt)
	if err != nil {
		s.reject(path, oplog.TooLarge)
		if m.Kind == response.Addition {
			s.renderReplies(w, r, lang, http.StatusRequestEntityTooLarge, &seed, repliesState{addition: m.Answers[response.AdditionField][0], addProb: localize(i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang)), "error_too_large")})
			return
		}
		s.message(w, r, lang, http.StatusRequestEntityTooLarge, "error_title", "error_too_large")
		return
	}
	if !s.put(r, path, env) {
		s.message(w, r, lang, http.StatusServiceUnavailable, "error_title", "error_unavailable")
		return
	}
	s.renderReplies(w, r, lang, http.StatusOK, &seed, st)
}

// additionProblem says what is wrong with an addition.
func (s *Server) additionProblem(lang string, p response.Problem) string {
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	q := &config.Question{ID: response.AdditionField, Type: config.LongText}
	return s.problemText(l, lang, q, p, nil)
}

// receiptPage is the page after a testimony was stored, with the return
// passphrase given to a person without JavaScript (Words), or a place for
// the words the browser made.
type receiptPage struct {
	page
	Words     []string
	WordsLang string
	Declined  bool
}

// renderReceipt shows the receipt: the words of the return passphrase if
// the server made one, or, for a browser with JavaScript, the place where
// its script shows the words it made (hidden until it does). declined
// says the person chose no passphrase.
func (s *Server) renderReceipt(w http.ResponseWriter, lang string, words []string, declined bool) {
	l := i18n.NewLocalizer(s.bundle, config.ChromeLanguage(lang))
	p := receiptPage{page: s.page(lang, localize(l, "receipt_title"), ""), Words: words, Declined: declined,
		WordsLang: returnkey.ListFor(lang).Language}
	s.render(w, http.StatusOK, "receipt.html", p)
}
