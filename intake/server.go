// Package intake is the server people testify to: it shows the
// questionnaire, takes answers, seals them to the study's researchers and
// stores only the sealed envelopes.
//
// Use [New] to make a server for a study and a store, then serve
// [Server.Handler] with the timeouts of [Server.HTTPServer].
//
// # Pages
//
//	GET  /             landing page: the study, safety advice, the researchers
//	GET  /form         the questionnaire, step 1, for browsers without JavaScript
//	GET  /form?all=1   every question on one page, for browsers with JavaScript
//	POST /next         the next (or previous) step, or the review, without JavaScript
//	POST /submit       the reviewed answers, sealed here (not with require_browser_encryption)
//	POST /sealed       an envelope sealed by the browser (static/testimony.js)
//	GET  /back         the come-back page: a field for the return passphrase
//	POST /back         the passphrase, without JavaScript: the replies found, and forms to answer
//	GET  /back/replies every stored reply record, padded: the same bytes for everyone
//	POST /back/send    a follow-up, an addition or a withdrawal, without JavaScript
//	GET  /exit         a harmless page for the quick exit link on every page
//	GET  /static/NAME  style sheet, scripts and the passphrase's word lists, all embedded in the binary
//
// The language is chosen by links (?lang=ko|en|zh, Korean by default), never
// by Accept-Language: Tor Browser sends en-US for everyone.
//
// # Without JavaScript
//
// The questionnaire is split into steps ([config.Study.Steps]): each
// section is a step under its heading and help, and a question whose
// condition names a question on the current step starts a new one, so the
// server decides from answers already posted whether a follow-up is shown.
// Notes are text to read, with no number and no field. The server words
// its messages for the question: a decimal written with a comma is
// explained as a decimal, an exclusive choice ticked with others is named. Each step posts every
// answer given so far; the server checks the answers up to that step, and
// sends the next step with the earlier answers in hidden fields. Nothing is
// kept between requests: no cookie, no session, no answer on disk or in
// memory. The last step leads to a review page, whose send button posts
// everything to /submit, where the answers are checked again, sealed at once
// and only the envelope is stored.
//
// The hidden fields carry no signature (HMAC): they hold only what the
// person typed, every post is checked from scratch against the whole
// questionnaire, and a signature would protect the sender's answers from no
// one but the sender, while a restart of the server would lose every
// half-filled questionnaire. Every form carries instead the version id of
// the study file it was made from ("v"), so answers typed for one version
// of a questionnaire are never read as answers to another (see Versions).
//
// # With JavaScript
//
// The landing page's script sends the person to the one-page form, where
// follow-ups appear and hide in place (static/testimony.js, served with
// static/expr.js, which evaluates the study's conditions, in one file);
// the script checks the answers with
// the rules of package response, writes the plaintext as [response.Marshal]
// does, seals it as package envelope specifies, and posts only the envelope
// to /sealed, in the background (fetch): the receipt replaces the page, and
// a refusal is shown with the answers kept, to send again.
// Sections with their headings, like questions, hide while their condition
// does not hold, and ticking an exclusive choice ("none of these") unticks
// the question's other choices, and the reverse. The server checks the
// envelope's structure, study, size and researchers (see Versions). The
// script also shows a note
// recommending Tor Browser's "Safest" level and, when the browser does not
// look like Tor Browser, a warning; it keeps nothing in the browser.
//
// Every page has the same neutral title. With JavaScript, moves within the
// site replace the page in the browser's history, and a page of the site
// reached with Back or Forward goes to the quick exit's page, so that one
// Back press after the quick exit shows nothing of the study.
//
// Either way the store is written and synced before the page says the
// answers were received.
//
// # Coming back
//
// Unless the person ticks "I do not want a return passphrase" on the
// review, every testimony carries a return address (response.Response's
// Return, see package crypto/returnkey) and the receipt shows the seven
// words of its passphrase, in the list of the page's language, with
// advice on keeping them. With JavaScript the browser makes them, before
// anything is sent: it draws the secret, derives the keys (Argon2id,
// showing progress; the one-page form loads the KDF and the key
// derivation, static/form.js, but no word list), fetches the word list
// of the page's language (static/words-ko.txt …) meanwhile, seals the
// address in the plaintext and posts the envelope; the words never reach
// the server, and if anything fails nothing is sent. Without JavaScript
// the server does the same at /submit, in memory, for that request only,
// in a derivation slot ([Limits].KDFs): it never writes the words, the
// secret or the keys.
//
// Researchers reply offline; the operator imports their signed reply
// batches ([Data.ImportReplies], intake replies import) into DATA/replies
// ([Replies]). A person who comes back types the words on /back. With
// JavaScript the page (static/back.js) reads them, derives the keys,
// downloads /back/replies — every stored record and padding records,
// sorted, the same bytes for everyone until the records change — and
// finds and opens its own; without JavaScript the server does it in
// memory, in a derivation slot, and carries the seed the words gave (not
// the words) in the forms of the page it shows. Either way the person
// reads the replies, answers their questions, adds to the testimony or
// withdraws it (after a confirmation): each is a message on the thread of
// the testimony (response.Message), signed with the person's key and
// sealed to the current researchers like a testimony — posted to /sealed
// by the browser, stored by /back/send without JavaScript — so that the
// server cannot tell it from a testimony.
//
// The server counts, per UTC day, the times it served the replies (a
// download, or a passphrase read without JavaScript), and hands the count
// to [Config.RepliesServed] for the audit log once the day is over
// ([Server.RunDaily]) or when it stops: never a record per visit.
//
// # Versions
//
// A study is revised while answers arrive: the server serves its current
// version ([Config.Study]) and accepts answers to earlier ones
// ([Config.Earlier]) until their grace period ends, except those retired
// because a researcher's key was removed since ([RetiredByKeys]).
// [LoadVersions] decides which, from the data directory. Nobody is ever
// asked to start again:
//
//   - without JavaScript, a form of an accepted earlier version ("v")
//     goes on with that version's steps and questions, and its answers
//     are sealed with that version's id in the plaintext, to the current
//     version's researchers. A form of any other version (retired,
//     expired or unknown) is carried to the current version: every
//     answer to a question that still exists is kept (a choice that no
//     longer exists is dropped, an answer that no longer passes is shown
//     with its problem), and the first step, or the first with a
//     problem, is shown with a note saying that the questionnaire was
//     updated and the answers kept;
//   - with JavaScript, the page carries its version and the researchers'
//     keys, and /sealed accepts an envelope sealed to the researchers of
//     an accepted version, in that version's order. Any other list of
//     keys is refused with 409 Conflict and the current researchers in
//     the Testimony-Recipients header (public keys, space-separated; the
//     current version id in Testimony-Version): the script seals the
//     same plaintext, which still names the version it was answered to,
//     to them and posts it once more.
//
// # Limits
//
// Every connection comes from tor through one socket, so the server
// cannot tell one client from another; its limits hold for everyone
// together ([Limits]), and its timeouts are sized for slow Tor circuits
// but not for stalls:
//
//   - a request's head must arrive within 60 s; a body must keep coming:
//     one that sends less than 512 bytes in 20 s is dropped (a 256 KiB
//     post at 4 KiB/s sends that eight times a second), and a response
//     must be sent within 2 minutes;
//   - at most [Limits.MaxConns] connections are open, and at most
//     [Limits.MaxIdleConns] of them wait for a request; beyond either, the
//     connection waiting the longest is closed, then an upload that has
//     sent nothing for 5 s;
//   - bodies are decoded as they arrive into a buffer that never grows
//     past the study's limit, and all of them together hold at most
//     [Limits.UploadMemory] beyond their first 16 KiB (bodies over 64 KiB
//     leave smaller ones an eighth of it): a request that needs more
//     waits up to 10 s, behind smaller bodies, closing uploads that have
//     sent nothing for 5 s, and then gets the "busy" page (503);
//   - a few requests at a time turn a body into an envelope or a page;
//   - a few return passphrase derivations (Argon2id, 64 MiB each) run at
//     once ([Limits].KDFs, half the cores by default); a request beyond
//     waits up to 10 s behind at most 8 per slot, and then gets a "busy"
//     page, nothing stored. This also bounds how fast anyone can try
//     passphrases through the server: each try costs a derivation;
//   - the download of replies is held in memory once, and rebuilt when
//     the records change: at most [MaxStoredReplies] records;
//   - [Server.MemoryBound] sums these bounds.
//
// [Server.Shutdown] stops the server: new connections are refused at
// once, requests in progress get a grace period, and the connections left
// after it are closed.
//
// # What is logged
//
// Nothing is written to the operational log because of a request: each
// submission stored or refused (with its reason), each failure of the
// store or the audit log, each handler panic and each connection the
// server closes to protect itself is counted in the day's totals of
// [oplog.Logger.Add], which the log writes after the day has ended.
package intake

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/text/language"
)

//go:embed templates/*.html locales/*.yaml static
var files embed.FS

// Config configures a Server.
type Config struct {
	// Study is the questionnaire: its current version. Required.
	Study *config.Study
	// Earlier are the earlier versions of the study the server served,
	// with until when it accepts answers to each (see [LoadVersions]). A
	// version whose recipients include a key that Study does not list is
	// never accepted, whatever its Until says.
	Earlier []EarlierVersion
	// Store keeps the envelopes. Required.
	Store *store.Store
	// Log is the operational log: the server only adds to its daily
	// counts. The zero value discards every event.
	Log oplog.Logger
	// Stored, if not nil, is called after each envelope is stored, with its
	// SHA-256 and the UTC day, for the audit log. An error is counted; the
	// envelope stays stored.
	Stored func(sum [32]byte, day time.Time) error
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Limits bounds the connections and memory clients can take. The
	// zero value means the defaults.
	Limits Limits
	// Replies are the researchers' reply records people who come back
	// look in (see [Data.Replies]). The server reads them again when they
	// change. Nil means there are none.
	Replies *Replies
	// RepliesServed, if not nil, is called once for each UTC day on
	// which the stored replies were served to people coming back, with
	// how many times, for the audit log: just after the day ended (see
	// [Server.RunDaily]), or when the server stops. Never for a single
	// visit. An error is counted.
	RepliesServed func(count int, day time.Time) error
	// MemoryLimit, if set, is called with the memory the server may take
	// at the moment: [Server.MemoryBound] less the return passphrase
	// derivations not running and the reply downloads not held. It is
	// called once by New and again whenever that changes (a derivation
	// starts or ends, the replies are read again), in the order of the
	// changes. intake serve gives it to debug.SetMemoryLimit, so that the
	// garbage collector keeps the heap near what the server needs now
	// rather than near the most it could need.
	MemoryLimit func(bytes int64)
}

// Server serves the questionnaire and takes submissions.
type Server struct {
	c          Config
	recipients []*envelope.Recipient
	names      []string
	bundle     *i18n.Bundle
	tmpl       *template.Template
	static     map[string]*staticFile
	mux        *http.ServeMux
	cur        *version            // the current version
	known      map[string]*version // every version, by id, the current one included
	maxFields  int                 // the most form fields any page of any version can post
	maxBody    int                 // the largest form post of any version (MaxSubmissionBytes)
	maxKeys    int                 // the most recipients of any version
	guard      *guard
	kdf        *kdfSlots
	replies    replyCache
	served     servedCounts
	memory     int64 // MemoryBound
	memoryBase int64 // MemoryBound without derivations and replies

	memMu      sync.Mutex   // orders the calls of c.MemoryLimit
	kdfRunning atomic.Int64 // derivations running
	replyHeld  atomic.Int64 // bytes held for the replies
}

// memoryChanged tells c.MemoryLimit what the server may take now.
func (s *Server) memoryChanged() {
	if s.c.MemoryLimit == nil {
		return
	}
	s.memMu.Lock()
	defer s.memMu.Unlock()
	s.c.MemoryLimit(min(s.memoryBase+s.kdfRunning.Load()*kdfMemory+s.replyHeld.Load(), s.memory))
}

// MemoryBound returns the most memory the server is designed to take with
// its limits, whatever its clients do: what it needs idle, per connection
// and per body in progress, the memory for uploads, and what the requests
// turning bodies into envelopes and pages take at once. Give it to the Go
// runtime (debug.SetMemoryLimit), so that it collects garbage before
// going beyond.
func (s *Server) MemoryBound() int64 { return s.memory }

// maxFields returns the most form fields a page of the study can post:
// lang, v, step, nav, envelope and noreturn, and per question one field, two for
// date_approx (year and season or month) and one per choice, plus an empty
// one, for multi_choice.
func maxFields(st *config.Study) int {
	n := 6
	for _, q := range st.Questions {
		switch q.Type {
		case config.DateApprox:
			n += 2
		case config.MultiChoice:
			n += len(q.Choices) + 1
		default:
			n++
		}
	}
	return n
}

// maxHeaderBytes bounds a request's head.
const maxHeaderBytes = 16 << 10

// New returns a server for c.
func New(c Config) (*Server, error) {
	if c.Study == nil || c.Store == nil {
		return nil, errors.New("intake: Study and Store are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Server{c: c, known: map[string]*version{}}
	var err error
	if s.cur, err = newVersion(c.Study); err != nil {
		return nil, err
	}
	s.cur.current = true
	s.recipients = s.cur.recipients
	s.known[s.cur.id] = s.cur
	for _, e := range c.Earlier {
		if e.Study == nil || e.Study.ID != c.Study.ID {
			return nil, errors.New("intake: an earlier version is not of the same study")
		}
		if e.Study.SHA256 == c.Study.SHA256 {
			continue
		}
		v, err := newVersion(e.Study)
		if err != nil {
			return nil, fmt.Errorf("earlier version %s: %w", e.Study.ShortVersion(), err)
		}
		if !RetiredByKeys(e.Study, c.Study) {
			v.until = e.Until
		}
		s.known[v.id] = v
	}
	// A follow-up posted without JavaScript: lang, key, kind, reply, nav
	// and confirm, and a field per question and choice of a reply.
	s.maxFields = 6 + reply.MaxQuestions*(reply.MaxChoices+1)
	for _, v := range s.known {
		s.maxFields = max(s.maxFields, maxFields(v.study))
		s.maxBody = max(s.maxBody, v.study.MaxSubmissionBytes())
		s.maxKeys = max(s.maxKeys, len(v.recipients))
	}
	lim := c.Limits.withDefaults()
	if err := lim.check(max(s.maxSealedForm(), s.maxBody)); err != nil {
		return nil, err
	}
	// A few requests at a time turn a body into a page or an envelope,
	// so that their memory is bounded too.
	perRequest := 8 * s.maxBody
	slots := min(max(processingMemory/perRequest, 1), maxProcessing)
	s.guard = newGuard(lim, defaultTiming, c.Log, slots)
	s.kdf = newKDFSlots(lim.KDFs, defaultTiming.wait)
	s.replies.src = c.Replies
	s.served.days = map[string]int{}
	s.memoryBase = baseMemory + int64(lim.MaxConns)*(connMemory+uploadAllowance) + lim.UploadMemory + int64(max(slots*perRequest, processingMemory))
	s.memory = s.memoryBase + int64(lim.KDFs)*kdfMemory + replyMemory
	s.kdf.changed = func(delta int64) {
		s.kdfRunning.Add(delta)
		s.memoryChanged()
	}
	s.replies.held = func(n int64) {
		s.replyHeld.Store(n)
		s.memoryChanged()
	}
	s.memoryChanged()
	for _, r := range c.Study.Recipients {
		s.names = append(s.names, r.Name)
	}
	b, err := loadBundle()
	if err != nil {
		return nil, err
	}
	s.bundle = b
	s.tmpl, err = template.New("").Funcs(template.FuncMap{"t": localize}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("failed to parse templates: %w", err)
	}
	if s.static, err = loadStatic(); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.landing)
	s.mux.HandleFunc("GET /form", s.form)
	s.mux.HandleFunc("POST /next", s.next)
	s.mux.HandleFunc("POST /submit", s.submitForm)
	s.mux.HandleFunc("POST /sealed", s.submitSealed)
	s.mux.HandleFunc("GET /exit", s.exit)
	s.mux.HandleFunc("GET /back", s.back)
	s.mux.HandleFunc("POST /back", s.backOpen)
	s.mux.HandleFunc("GET /back/replies", s.backReplies)
	s.mux.HandleFunc("POST /back/send", s.backSend)
	s.mux.HandleFunc("GET /static/{name}", s.serveStatic)
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

func loadBundle() (*i18n.Bundle, error) {
	b := i18n.NewBundle(language.Korean)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	for _, l := range config.ChromeLanguages {
		if _, err := b.LoadMessageFileFS(files, "locales/"+l+".yaml"); err != nil {
			return nil, fmt.Errorf("failed to load messages: %w", err)
		}
	}
	return b, nil
}

// HTTPServer returns an http.Server for the handler with the server's
// limits (see Limits): serve it on a listener, and stop it with
// [Server.Shutdown]. Use one at a time.
func (s *Server) HTTPServer() *http.Server {
	g := s.guard
	return &http.Server{
		Handler:           s.Handler(),
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: g.t.header,
		// No ReadTimeout: a body has its own deadline, moved on as it
		// makes progress, so a slow upload is not cut while a stalled
		// one is.
		WriteTimeout: g.t.write,
		IdleTimeout:  g.t.idle,
		ConnContext:  g.connContext,
		ConnState:    g.connState,
		// net/http's own messages name client addresses ("http: panic
		// serving 127.0.0.1:5678"); they never reach any log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// Shutdown stops hs, which came from s.HTTPServer: it closes its
// listeners and idle connections at once, lets requests in progress
// finish for up to grace, then closes every connection left and waits for
// their handlers to return. It returns how many connections it closed
// after the grace period (each is counted in the log as well).
func (s *Server) Shutdown(hs *http.Server, grace time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	cut := 0
	if err := hs.Shutdown(ctx); err != nil {
		cut = s.guard.shutdown()
		hs.Close()
	}
	s.guard.wait()
	s.served.flush(s, func(string) bool { return true })
	return cut
}

// Handler returns the server's HTTP handler, with its security headers.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// connect-src: the page's script posts the envelope itself
		// (fetch), to keep the answers on the page if it must be sent
		// again.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("Permissions-Policy", "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()")
		// No Date header: the server's clock, read to the second, helps
		// tell which machine hosts an onion service (clock skew).
		h["Date"] = nil
		q := s.guard.begin(w, r)
		defer q.end()
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, q))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.c.Log.Add(oplog.Counter{Event: oplog.HandlerPanics})
				s.message(w, r, s.langOf(r), http.StatusServiceUnavailable, "error_title", "error_unavailable")
			}
		}()
		s.mux.ServeHTTP(w, r)
	})
}

// langOf returns the page language chosen by a "lang" query or form field
// (never Accept-Language: Tor Browser sends en-US for everyone): one of the
// study's languages, by default its first.
func (s *Server) langOf(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); s.c.Study.HasLanguage(l) {
		return l
	}
	return s.c.Study.DefaultLanguage()
}

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	s.renderLanding(w, s.langOf(r))
}

// form shows the first step of the questionnaire, or with all=1 every
// question on one page, for browsers that run JavaScript (the landing
// page's script links there).
func (s *Server) form(w http.ResponseWriter, r *http.Request) {
	lang := s.langOf(r)
	if r.URL.Query().Get("all") == "1" {
		s.renderStep(w, s.cur, lang, http.StatusOK, -1, nil, nil, nil, false)
		return
	}
	if s.c.Study.RequireBrowserEncryption {
		// A browser with JavaScript that comes here is sent on to the
		// one-page form by the script.
		s.messageTo(w, lang, http.StatusOK, "/form?lang="+lang+"&all=1", "encryption_required_title", "encryption_required_why", "encryption_required_how")
		return
	}
	s.renderStep(w, s.cur, lang, http.StatusOK, 0, nil, nil, nil, false)
}

func (s *Server) encryptionRequired(w http.ResponseWriter, r *http.Request, lang string, status int) {
	s.message(w, r, lang, status, "encryption_required_title", "encryption_required_why", "encryption_required_how")
}

// versionOf returns the version of the study a form was made from, if the
// server accepts answers to it now: the one its "v" names, or the current
// one for a form without "v". It returns nil for any other: the answers
// are then carried to the current version.
func (s *Server) versionOf(f *form) *version {
	vals := f.bytes("v")
	if len(vals) == 0 {
		return s.cur
	}
	if len(vals) > 1 {
		return nil
	}
	v := s.known[string(vals[0])]
	if v == nil || !v.accepted(s.c.Now()) {
		return nil
	}
	return v
}

// hasLanguage reports whether lang is a language of a version of the
// study: a form may come from any.
func (s *Server) hasLanguage(lang string) bool {
	for _, v := range s.known {
		if v.study.HasLanguage(lang) {
			return true
		}
	}
	return false
}

// reject counts a refused submission.
func (s *Server) reject(path oplog.Path, reason oplog.Reason) {
	s.c.Log.Add(oplog.Counter{Event: oplog.SubmissionsRejected, Path: path, Reason: reason})
}

// next moves between the steps of the questionnaire without JavaScript.
// The answers of every step travel in the form, never in a cookie or on
// the server. "nav" says where to go: "next" (the default) checks the
// answers up to the current step and goes to the next step with a
// question to show, or to the review; "back" goes to the previous such
// step; a number goes to that step (from the review).
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	if s.c.Study.RequireBrowserEncryption {
		s.encryptionRequired(w, r, s.langOf(r), http.StatusForbidden)
		return
	}
	f, lang, ok := s.readForm(w, r, s.maxBody, oplog.PathForm)
	if !ok {
		return
	}
	form := f.values()
	v := s.versionOf(f)
	if v == nil || !v.study.HasLanguage(lang) {
		s.carry(w, lang, http.StatusOK, form)
		return
	}
	resp, problems, err := response.FromForm(v.study, lang, form)
	step, stepOK := parseStep(v, form.Get("step"))
	if err != nil || !stepOK || len(form["step"]) > 1 || len(form["nav"]) > 1 {
		s.reject(oplog.PathForm, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	// Which questions are shown, once: every step asks.
	shown := response.Shown(v.study, resp.Answers)
	nav := form.Get("nav")
	switch {
	case nav == "back":
		target := 0
		for i := step - 1; i >= 0; i-- {
			if v.stepShown(i, shown) {
				target = i
				break
			}
		}
		s.renderStep(w, v, lang, http.StatusOK, target, form, resp.Answers, nil, false)
	case nav != "" && nav != "next":
		n, err := strconv.Atoi(nav)
		if err != nil || n < 1 || n > len(v.steps) {
			s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
			return
		}
		s.renderStep(w, v, lang, http.StatusOK, n-1, form, resp.Answers, nil, false)
	default:
		last := step
		if step < 0 {
			last = len(v.steps) - 1
		}
		if first := firstProblemStep(v, problems, last); first >= 0 {
			if step < 0 {
				first = -1
			}
			s.renderStep(w, v, lang, http.StatusUnprocessableEntity, first, form, resp.Answers, problems, false)
			return
		}
		for i := last + 1; i < len(v.steps); i++ {
			if v.stepShown(i, shown) {
				s.renderStep(w, v, lang, http.StatusOK, i, form, resp.Answers, nil, false)
				return
			}
		}
		if first := firstProblemStep(v, problems, len(v.steps)-1); first >= 0 {
			s.renderStep(w, v, lang, http.StatusUnprocessableEntity, first, form, resp.Answers, problems, false)
			return
		}
		s.renderReview(w, v, lang, form, resp.Answers)
	}
}

// carry shows the answers of a form made from a version the server does
// not accept (retired, past its grace period, or unknown) on the current
// version, with a note that the questionnaire was updated: every answer to
// a question that still exists is kept, but for choices that no longer
// exist, and the first step with a problem in an answer kept is shown, or
// else the first step. Nobody has to start again.
func (s *Server) carry(w http.ResponseWriter, lang string, status int, form url.Values) {
	v := s.cur
	if !v.study.HasLanguage(lang) {
		lang = v.study.DefaultLanguage()
	}
	kept := carriedForm(v.study, form)
	resp, problems, err := response.FromForm(v.study, lang, kept)
	if err != nil {
		// carriedForm keeps only what FromForm reads; should it not,
		// the person still gets the questionnaire.
		kept = url.Values{}
		resp, problems, _ = response.FromForm(v.study, lang, kept)
	}
	// Only problems with answers kept: a question left unanswered is for
	// the person to reach in order.
	for id := range problems {
		if _, answered := resp.Answers[id]; !answered {
			delete(problems, id)
		}
	}
	if len(problems) == 0 {
		problems = nil
	}
	step := max(firstProblemStep(v, problems, len(v.steps)-1), 0)
	s.renderStep(w, v, lang, status, step, kept, resp.Answers, problems, true)
}

// carriedForm returns the answer fields of form that st still reads: those
// of its answerable questions, as a page of st could post them (one value
// but for a multi_choice, only choices st has, UTF-8 text).
func carriedForm(st *config.Study, form url.Values) url.Values {
	out := url.Values{}
	for i := range st.Questions {
		q := &st.Questions[i]
		if !q.Answerable() {
			continue
		}
		name := response.FieldPrefix + q.ID
		vals := form[name]
		switch q.Type {
		case config.SingleChoice, config.MultiChoice:
			var keep []string
			for _, val := range vals {
				if q.Choice(val) != nil && !slices.Contains(keep, val) {
					keep = append(keep, val)
				}
			}
			if q.Type == config.SingleChoice && len(keep) > 1 {
				keep = nil
			}
			vals = keep
		default:
			if len(vals) != 1 || !utf8.ValidString(vals[0]) {
				vals = nil
			}
		}
		if len(vals) > 0 {
			out[name] = vals
		}
		if q.Type == config.DateApprox {
			if when := form[name+response.WhenSuffix]; len(when) == 1 && utf8.ValidString(when[0]) {
				out[name+response.WhenSuffix] = when
			}
		}
	}
	return out
}

// parseStep reads the "step" field of a form of version v: "all" (-1) or
// a step number.
func parseStep(v *version, field string) (int, bool) {
	if field == "all" {
		return -1, true
	}
	n, err := strconv.Atoi(field)
	if err != nil || n < 1 || n > len(v.steps) {
		return 0, false
	}
	return n - 1, true
}

// firstProblemStep returns the first step of v up to last with a problem,
// or -1.
func firstProblemStep(v *version, problems response.Problems, last int) int {
	if len(problems) == 0 {
		return -1
	}
	for i := 0; i <= last; i++ {
		for _, qi := range v.steps[i].Questions {
			if _, ok := problems[v.study.Questions[qi].ID]; ok {
				return i
			}
		}
	}
	return -1
}

func (s *Server) exit(w http.ResponseWriter, r *http.Request) {
	// The quick exit shows a blank, harmless page with no trace of the study.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Weather</title></head><body><p>Cloudy, 12°C.</p></body></html>")
}

// staticFile is a file of static/, kept in memory with its gzip form:
// every request over an onion service costs seconds, every byte counts.
type staticFile struct {
	ctype   string
	raw, gz []byte
}

// bundles are the scripts served as one file, the concatenation of files
// of static/ in order: one file costs one request. A part of a bundle is
// not served alone.
//
//   - testimony.js, on every page: the page's script needs the
//     conditions' evaluator (expr.js, which sets the global
//     testimonyExpr);
//   - form.js, on the one-page form instead of testimony.js: the same,
//     with the KDF (argon2id.min.js) and the return passphrase's keys
//     (returnkey.js without its word lists, see liteReturnKey): the
//     words are fetched, in the page's language only (words-ko.txt …),
//     once the person presses "Send";
//   - back.js, on the come-back page instead of testimony.js:
//     testimony.js without the conditions' evaluator (replies' questions
//     have no conditions), the KDF, returnkey.js whole (a passphrase may
//     be typed in the words of any list), reply.js, and the page's
//     script.
var bundles = map[string][]string{
	"testimony.js": {"expr.js", "testimony.js"},
	"form.js":      {"expr.js", "testimony.js", "argon2id.min.js", liteReturnKey},
	"back.js":      {"testimony.js", "argon2id.min.js", "returnkey.js", "reply.js", "back.js"},
}

// liteReturnKey names returnkey.js without its word lists in a bundle.
const liteReturnKey = "returnkey.js (lite)"

// wordLists block of returnkey.js, which liteReturnKey leaves out.
var wordListsBlock = regexp.MustCompile(`(?s)  // BEGIN WORD LISTS.*?// END WORD LISTS\n`)

// staticPart returns a part of a bundle.
func staticPart(name string) ([]byte, error) {
	if name != liteReturnKey {
		return fs.ReadFile(files, "static/"+name)
	}
	raw, err := fs.ReadFile(files, "static/returnkey.js")
	if err != nil {
		return nil, err
	}
	if !wordListsBlock.Match(raw) {
		return nil, errors.New("intake: static/returnkey.js has no word list block to leave out")
	}
	return wordListsBlock.ReplaceAll(raw, []byte("  // The word lists are not on this page: intake serves each apart (words-ko.txt …).\n  var LISTS = null;\n")), nil
}

// staticBytes returns the content of static/name as served: a file of
// static/, or a bundle.
func staticBytes(name string) ([]byte, error) {
	parts, ok := bundles[name]
	if !ok {
		return fs.ReadFile(files, "static/"+name)
	}
	var b bytes.Buffer
	for _, p := range parts {
		raw, err := staticPart(p)
		if err != nil {
			return nil, err
		}
		b.Write(raw)
		// Each part is a statement: a part that does not end its last
		// one would run into the next.
		if t := bytes.TrimRight(raw, " \t\r\n"); !bytes.HasSuffix(t, []byte(";")) && !bytes.HasSuffix(t, []byte("}")) {
			b.WriteByte(';')
		}
		if !bytes.HasSuffix(raw, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

// wordListFiles are the return passphrase's word lists as the one-page
// form fetches them: words-<ko|zh|en>.txt, the 2048 words as shown (NFC),
// one a line.
func wordListFiles() map[string][]byte {
	out := map[string][]byte{}
	for _, l := range returnkey.Lists {
		var b bytes.Buffer
		for i := range 2048 {
			b.WriteString(l.Word(i))
			b.WriteByte('\n')
		}
		out["words-"+l.Language+".txt"] = b.Bytes()
	}
	return out
}

func loadStatic() (map[string]*staticFile, error) {
	inBundle := map[string]bool{}
	for name, parts := range bundles {
		for _, p := range parts {
			inBundle[p] = inBundle[p] || p != name
		}
	}
	out := map[string]*staticFile{}
	ents, err := fs.ReadDir(files, "static")
	if err != nil {
		return nil, err
	}
	names := map[string][]byte{}
	for _, e := range ents {
		if inBundle[e.Name()] {
			continue
		}
		raw, err := staticBytes(e.Name())
		if err != nil {
			return nil, err
		}
		names[e.Name()] = raw
	}
	for name := range bundles {
		if _, ok := names[name]; !ok {
			raw, err := staticBytes(name)
			if err != nil {
				return nil, err
			}
			names[name] = raw
		}
	}
	for name, raw := range wordListFiles() {
		names[name] = raw
	}
	for name, raw := range names {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(raw)
		zw.Close()
		ctype := mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[name] = &staticFile{ctype: ctype, raw: raw, gz: b.Bytes()}
	}
	return out, nil
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := s.static[r.PathValue("name")]
	if !ok {
		s.notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Vary", "Accept-Encoding")
	body := f.raw
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(name) != "gzip" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.message(w, r, s.langOf(r), http.StatusMethodNotAllowed, "error_title", "error_method")
		return
	}
	s.message(w, r, s.langOf(r), http.StatusNotFound, "error_title", "error_not_found")
}

// readForm reads a url-encoded body whose keys and values take at most
// limit bytes decoded, as it arrives, within the server's limits. It
// refuses multipart bodies: Go's multipart reader spills large parts to
// temporary files, and answers must never touch the disk. It returns the
// page's language: the form's "lang" if it has a valid one, even when the
// rest could not be read, else the query's. On failure it has answered
// with an error page in that language.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, limit int, path oplog.Path) (*form, string, bool) {
	lang := s.langOf(r)
	fail := func(reason oplog.Reason, status int, msg string) (*form, string, bool) {
		s.reject(path, reason)
		// The rest of the body is not read: the connection cannot
		// carry another request.
		w.Header().Set("Connection", "close")
		s.message(w, r, lang, status, "error_title", msg)
		return nil, lang, false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return fail(oplog.UnsupportedMediaType, http.StatusUnsupportedMediaType, "error_unsupported")
	}
	l := formLimits{bytes: limit, fields: s.maxFields}
	if r.ContentLength > l.maxWire() {
		return fail(oplog.TooLarge, http.StatusRequestEntityTooLarge, "error_too_large")
	}
	q := requestOf(r)
	var body io.Reader = r.Body
	if q != nil {
		l.grow = q.reserve
		body = bodyProgress{q, r.Body}
	}
	f, err := readForm(body, l)
	if v := f.bytes("lang"); len(v) == 1 && s.hasLanguage(string(v[0])) {
		lang = string(v[0])
	}
	switch {
	case err == nil:
	case errors.Is(err, errFormTooLarge):
		return fail(oplog.TooLarge, http.StatusRequestEntityTooLarge, "error_too_large")
	case errors.Is(err, errTooManyFields), errors.Is(err, errFormMalformed):
		return fail(oplog.Malformed, http.StatusBadRequest, "error_malformed")
	default:
		switch reason := q.failure(err); reason {
		case oplog.Busy:
			return fail(reason, http.StatusServiceUnavailable, "error_busy")
		case oplog.Stalled:
			return fail(reason, http.StatusRequestTimeout, "error_timeout")
		default:
			// The connection is gone, or going: the page is for a
			// client still reading, and never says "200 OK".
			return fail(reason, http.StatusServiceUnavailable, "error_unavailable")
		}
	}
	if q != nil {
		q.bodyDone()
		q.process()
	}
	if v := f.bytes("lang"); len(v) > 1 || len(v) == 1 && !s.hasLanguage(string(v[0])) {
		return fail(oplog.Malformed, http.StatusBadRequest, "error_malformed")
	}
	return f, lang, true
}

// maxEnvelope is the size of the largest envelope a browser can send: the
// largest plaintext a form post of any version could carry, padded and
// sealed to the most researchers of any version.
func (s *Server) maxEnvelope() int {
	return envelope.Size(s.maxBody, len(s.c.Study.ID), s.maxKeys)
}

// maxSealedForm bounds the decoded form posted to /sealed: the largest
// envelope in base64, and room for the other fields ("lang" and those a
// later page may add). Percent-encoding ("%2B" for "+", "%2F" for "/",
// "%3D" for "=", as browsers send them) is undone as the body is read, so
// it takes no room here: on the wire such a form may take up to three
// times as many bytes (formLimits.maxWire).
func (s *Server) maxSealedForm() int {
	return base64.StdEncoding.EncodedLen(s.maxEnvelope()) + 1024
}

func (s *Server) submitForm(w http.ResponseWriter, r *http.Request) {
	const path = oplog.PathForm
	if s.c.Study.RequireBrowserEncryption {
		s.reject(path, oplog.BrowserEncryptionRequired)
		w.Header().Set("Connection", "close")
		s.encryptionRequired(w, r, s.langOf(r), http.StatusForbidden)
		return
	}
	f, lang, ok := s.readForm(w, r, s.maxBody, path)
	if !ok {
		return
	}
	form := f.values()
	v := s.versionOf(f)
	if v == nil || !v.study.HasLanguage(lang) {
		// Nothing is stored: the person checks the answers carried to
		// the current version, and sends them again.
		s.reject(path, oplog.StudyChanged)
		s.carry(w, lang, http.StatusConflict, form)
		return
	}
	resp, problems, err := response.FromForm(v.study, lang, form)
	if err != nil {
		s.reject(path, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	if problems != nil {
		s.reject(path, oplog.InvalidAnswers)
		s.renderStep(w, v, lang, http.StatusUnprocessableEntity, max(firstProblemStep(v, problems, len(v.steps)-1), 0), form, resp.Answers, problems, false)
		return
	}
	// Unless the person declined it, a return passphrase: made and
	// derived here, in memory, for this request only (see returnGiven).
	var words []string
	if len(form[NoReturnField]) == 0 {
		var addr *returnkey.Address
		var err error
		words, addr, err = s.newReturn(r, lang)
		if err != nil {
			// Nothing is stored: the review again, to send again.
			s.reject(path, oplog.Busy)
			s.renderReviewStatus(w, v, lang, http.StatusServiceUnavailable, "return_busy", form, resp.Answers)
			return
		}
		resp.Return = addr
	}
	// The plaintext names the version the answers were given to; the
	// envelope goes to the current version's researchers.
	plaintext, err := response.Marshal(v.study, resp)
	if err != nil {
		s.reject(path, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	env, err := envelope.Seal(s.c.Study.ID, plaintext, s.recipients)
	clear(plaintext)
	if err != nil {
		s.reject(path, oplog.TooLarge)
		s.message(w, r, lang, http.StatusRequestEntityTooLarge, "error_title", "error_too_large")
		return
	}
	if !s.put(r, path, env) {
		s.message(w, r, lang, http.StatusServiceUnavailable, "error_title", "error_unavailable")
		return
	}
	s.renderReceipt(w, lang, words, len(words) == 0)
}

// NoReturnField is the field of the review page a person ticks to get no
// return passphrase: a way back is the default.
const NoReturnField = "noreturn"

// newReturn makes a return passphrase for a person without JavaScript, in
// a derivation slot (Limits.KDFs): its words in the list of lang, and the
// address its keys give, which the plaintext carries. The secret and the
// keys are cleared before it returns; nothing of them is written
// anywhere. It fails only when no slot came free in time.
func (s *Server) newReturn(r *http.Request, lang string) ([]string, *returnkey.Address, error) {
	var words []string
	var addr *returnkey.Address
	var err error
	kerr := s.kdf.run(r.Context(), requestOf(r), kdfNewReturn, func() {
		var p *returnkey.Passphrase
		if p, err = returnkey.Generate(); err != nil {
			return
		}
		defer p.Clear()
		var k *returnkey.Keys
		if k, err = returnkey.Derive(p, s.c.Study.ID); err != nil {
			return
		}
		addr = k.Address()
		k.Clear()
		words = p.Words(returnkey.ListFor(lang))
	})
	if kerr != nil {
		return nil, nil, kerr
	}
	return words, addr, err
}

// acceptedKeys returns the lists of researchers' keys an envelope may be
// sealed to at now: the current version's, and those of the earlier
// versions accepted, each in its version's order.
func (s *Server) acceptedKeys(now time.Time) [][]*envelope.Recipient {
	sets := [][]*envelope.Recipient{s.recipients}
	for _, v := range s.known {
		if v.current || !v.accepted(now) {
			continue
		}
		if !slices.ContainsFunc(sets, func(rs []*envelope.Recipient) bool { return sameRecipients(rs, v.recipients) }) {
			sets = append(sets, v.recipients)
		}
	}
	return sets
}

func sameRecipients(a, b []*envelope.Recipient) bool {
	return slices.EqualFunc(a, b, (*envelope.Recipient).Equal)
}

// Headers of a 409 answer to /sealed: the current researchers' public
// keys, space-separated, in the order to seal to, and the current
// version id.
const (
	RecipientsHeader = "Testimony-Recipients"
	VersionHeader    = "Testimony-Version"
)

func (s *Server) submitSealed(w http.ResponseWriter, r *http.Request) {
	const path = oplog.PathSealed
	f, lang, ok := s.readForm(w, r, s.maxSealedForm(), path)
	if !ok {
		return
	}
	vals := f.bytes("envelope")
	if len(vals) != 1 {
		s.reject(path, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	env := make([]byte, base64.StdEncoding.DecodedLen(len(vals[0])))
	n, err := base64.StdEncoding.Strict().Decode(env, vals[0])
	if err != nil {
		s.reject(path, oplog.Malformed)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	env = env[:n]
	if err := envelope.Check(s.c.Study.ID, env, s.maxEnvelope(), s.acceptedKeys(s.c.Now())); err != nil {
		switch {
		case errors.Is(err, envelope.ErrWrongRecipients):
			// Sealed to the researchers of a version no longer
			// accepted: the page's script seals the same answers to
			// these and sends them again.
			s.reject(path, oplog.StudyChanged)
			keys := make([]string, len(s.recipients))
			for i, k := range s.recipients {
				keys[i] = k.String()
			}
			w.Header().Set(RecipientsHeader, strings.Join(keys, " "))
			w.Header().Set(VersionHeader, s.cur.id)
			s.message(w, r, lang, http.StatusConflict, "error_title", "error_recipients_changed")
		case errors.Is(err, envelope.ErrWrongStudy):
			s.reject(path, oplog.WrongStudy)
			s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		default:
			s.reject(path, oplog.Malformed)
			s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		}
		return
	}
	s.store(w, r, lang, path, env)
}

func (s *Server) store(w http.ResponseWriter, r *http.Request, lang string, path oplog.Path, env []byte) {
	if !s.put(r, path, env) {
		s.message(w, r, lang, http.StatusServiceUnavailable, "error_title", "error_unavailable")
		return
	}
	// A browser with JavaScript fills in the return passphrase it made,
	// if it made one.
	s.renderReceipt(w, lang, nil, false)
}

// put stores env, which came by path, counts it, and records it in the
// audit log. It reports whether it was stored.
func (s *Server) put(r *http.Request, path oplog.Path, env []byte) bool {
	requestOf(r).processed()
	now := s.c.Now().UTC()
	if _, err := s.c.Store.Put(env, now); err != nil {
		s.c.Log.Add(oplog.Counter{Event: oplog.StoreUnavailable, Path: path})
		return false
	}
	s.c.Log.Add(oplog.Counter{Event: oplog.SubmissionsStored, Path: path})
	if s.c.Stored != nil {
		y, m, d := now.Date()
		if err := s.c.Stored(sha256.Sum256(env), time.Date(y, m, d, 0, 0, 0, 0, time.UTC)); err != nil {
			s.c.Log.Add(oplog.Counter{Event: oplog.AuditUnavailable})
		}
	}
	return true
}
