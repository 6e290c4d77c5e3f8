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
//	GET  /exit         a harmless page for the quick exit link on every page
//	GET  /static/NAME  style sheet and scripts, all embedded in the binary
//
// The language is chosen by links (?lang=ko|en|zh, Korean by default), never
// by Accept-Language: Tor Browser sends en-US for everyone.
//
// # Without JavaScript
//
// The questionnaire is split into steps: a question whose condition names a
// question on the current step starts a new one, so the server decides from
// answers already posted whether a follow-up is shown. Each step posts every
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
// half-filled questionnaire. Every form carries instead the study file's
// hash ("v"), so answers typed for one version of a questionnaire are never
// read as answers to a changed one.
//
// # With JavaScript
//
// The landing page's script sends the person to the one-page form, where
// follow-ups appear and hide in place (static/testimony.js, served with
// static/expr.js, which evaluates the study's conditions, in one file);
// the script checks the answers with
// the rules of package response, writes the plaintext as [response.Marshal]
// does, seals it as package envelope specifies, and posts only the envelope
// to /sealed. The server checks its structure, study and size. The script
// also shows a note recommending Tor Browser's "Safest" level and, when the
// browser does not look like Tor Browser, a warning; it keeps nothing in
// the browser.
//
// Either way the store is written and synced before the page says the
// answers were received.
package intake

import (
	"bytes"
	"compress/gzip"
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
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/oplog"
	"github.com/testimony-project/testimony/response"
	"github.com/testimony-project/testimony/store"
	"golang.org/x/text/language"
)

//go:embed templates/*.html locales/*.yaml static
var files embed.FS

// Config configures a Server.
type Config struct {
	// Study is the questionnaire. Required.
	Study *config.Study
	// Store keeps the envelopes. Required.
	Store *store.Store
	// Log is the operational log. The zero value discards every event.
	Log oplog.Logger
	// Stored, if not nil, is called after each envelope is stored, with its
	// SHA-256 and the UTC day, for the audit log. An error is logged; the
	// envelope stays stored.
	Stored func(sum [32]byte, day time.Time) error
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
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
	steps      [][]int
	maxFields  int // the most form fields any page of the study can post
}

// maxFields returns the most form fields a page of the study can post:
// lang, v, step, nav and envelope, and per question one field, two for
// date_approx (year and season or month) and one per choice, plus an empty
// one, for multi_choice.
func maxFields(st *config.Study) int {
	n := 5
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

// Limits on requests, independent of the study.
const (
	maxHeaderBytes = 16 << 10
	// Tor circuits can be slow: a 256 KiB post at 4 KiB/s takes a minute.
	readHeaderTimeout = 60 * time.Second
	readTimeout       = 5 * time.Minute
	writeTimeout      = 5 * time.Minute
	idleTimeout       = 2 * time.Minute
)

// New returns a server for c.
func New(c Config) (*Server, error) {
	if c.Study == nil || c.Store == nil {
		return nil, errors.New("intake: Study and Store are required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Server{c: c, maxFields: maxFields(c.Study)}
	var err error
	if s.recipients, err = c.Study.RecipientKeys(); err != nil {
		return nil, err
	}
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
	s.steps = splitSteps(c.Study)
	s.mux.HandleFunc("GET /{$}", s.landing)
	s.mux.HandleFunc("GET /form", s.form)
	s.mux.HandleFunc("POST /next", s.next)
	s.mux.HandleFunc("POST /submit", s.submitForm)
	s.mux.HandleFunc("POST /sealed", s.submitSealed)
	s.mux.HandleFunc("GET /exit", s.exit)
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

// HTTPServer returns an http.Server for the handler with limits suited to
// slow Tor circuits and untrusted clients. Set Addr or serve on a listener.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		// net/http's own messages name client addresses ("http: panic
		// serving 127.0.0.1:5678"); they never reach any log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// Handler returns the server's HTTP handler, with its security headers.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
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
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.c.Log.Event(oplog.HandlerPanic)
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
		s.renderStep(w, lang, http.StatusOK, -1, nil, nil, nil)
		return
	}
	if s.c.Study.RequireBrowserEncryption {
		// A browser with JavaScript that comes here is sent on to the
		// one-page form by the script.
		s.messageTo(w, lang, http.StatusOK, "/form?lang="+lang+"&all=1", "encryption_required_title", "encryption_required_why", "encryption_required_how")
		return
	}
	s.renderStep(w, lang, http.StatusOK, 0, nil, nil, nil)
}

func (s *Server) encryptionRequired(w http.ResponseWriter, r *http.Request, lang string, status int) {
	s.message(w, r, lang, status, "encryption_required_title", "encryption_required_why", "encryption_required_how")
}

// checkVersion refuses a form that carries answers typed for another
// version of the study file (the server was restarted with a changed
// questionnaire while someone was answering).
func (s *Server) checkVersion(w http.ResponseWriter, r *http.Request, form url.Values, lang string) bool {
	if v, ok := form["v"]; ok && (len(v) != 1 || v[0] != version(s.c.Study)) {
		s.message(w, r, lang, http.StatusConflict, "error_title", "error_study_changed")
		return false
	}
	return true
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
	form, ok := s.readForm(w, r, int64(s.c.Study.MaxSubmissionBytes()), "form")
	if !ok {
		return
	}
	lang := s.formLang(form)
	if !s.checkVersion(w, r, form, lang) {
		return
	}
	resp, problems, err := response.FromForm(s.c.Study, lang, form)
	step, stepOK := s.parseStep(form.Get("step"))
	if err != nil || !stepOK || len(form["step"]) > 1 || len(form["nav"]) > 1 {
		s.c.Log.Rejected("form", "malformed")
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	nav := form.Get("nav")
	switch {
	case nav == "back":
		target := 0
		for i := step - 1; i >= 0; i-- {
			if s.stepShown(i, resp.Answers) {
				target = i
				break
			}
		}
		s.renderStep(w, lang, http.StatusOK, target, form, resp.Answers, nil)
	case nav != "" && nav != "next":
		n, err := strconv.Atoi(nav)
		if err != nil || n < 1 || n > len(s.steps) {
			s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
			return
		}
		s.renderStep(w, lang, http.StatusOK, n-1, form, resp.Answers, nil)
	default:
		last := step
		if step < 0 {
			last = len(s.steps) - 1
		}
		if first := s.firstProblemStep(problems, last); first >= 0 {
			if step < 0 {
				first = -1
			}
			s.renderStep(w, lang, http.StatusUnprocessableEntity, first, form, resp.Answers, problems)
			return
		}
		for i := last + 1; i < len(s.steps); i++ {
			if s.stepShown(i, resp.Answers) {
				s.renderStep(w, lang, http.StatusOK, i, form, resp.Answers, nil)
				return
			}
		}
		if first := s.firstProblemStep(problems, len(s.steps)-1); first >= 0 {
			s.renderStep(w, lang, http.StatusUnprocessableEntity, first, form, resp.Answers, problems)
			return
		}
		s.renderReview(w, lang, form, resp.Answers)
	}
}

// parseStep reads the "step" field: "all" (-1) or a step number.
func (s *Server) parseStep(v string) (int, bool) {
	if v == "all" {
		return -1, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > len(s.steps) {
		return 0, false
	}
	return n - 1, true
}

// stepShown reports whether step i has a question to show given answers.
func (s *Server) stepShown(i int, answers map[string][]string) bool {
	for _, qi := range s.steps[i] {
		if response.Relevant(s.c.Study, &s.c.Study.Questions[qi], answers) {
			return true
		}
	}
	return false
}

// firstProblemStep returns the first step up to last with a problem, or -1.
func (s *Server) firstProblemStep(problems response.Problems, last int) int {
	for i := 0; i <= last; i++ {
		for _, qi := range s.steps[i] {
			if _, ok := problems[s.c.Study.Questions[qi].ID]; ok {
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
// of static/ in order: the page's script needs the conditions' evaluator
// (expr.js, which sets the global testimonyExpr), and one file costs one
// request. A part of a bundle is not served alone.
var bundles = map[string][]string{"testimony.js": {"expr.js", "testimony.js"}}

// staticBytes returns the content of static/name as served: a file of
// static/, or a bundle.
func staticBytes(name string) ([]byte, error) {
	parts, ok := bundles[name]
	if !ok {
		return fs.ReadFile(files, "static/"+name)
	}
	var b bytes.Buffer
	for _, p := range parts {
		raw, err := fs.ReadFile(files, "static/"+p)
		if err != nil {
			return nil, err
		}
		b.Write(raw)
		if !bytes.HasSuffix(raw, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

func loadStatic() (map[string]*staticFile, error) {
	inBundle := map[string]bool{}
	for name, parts := range bundles {
		for _, p := range parts {
			inBundle[p] = p != name
		}
	}
	out := map[string]*staticFile{}
	ents, err := fs.ReadDir(files, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if inBundle[e.Name()] {
			continue
		}
		raw, err := staticBytes(e.Name())
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(raw)
		zw.Close()
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[e.Name()] = &staticFile{ctype: ctype, raw: raw, gz: b.Bytes()}
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

// readForm reads a url-encoded body of at most limit bytes. It refuses
// multipart bodies: Go's multipart reader spills large parts to temporary
// files, and answers must never touch the disk.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, limit int64, path string) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		s.c.Log.Rejected(path, "unsupported_media_type")
		s.message(w, r, s.c.Study.DefaultLanguage(), http.StatusUnsupportedMediaType, "error_title", "error_unsupported")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.c.Log.Rejected(path, "too_large")
			s.message(w, r, s.c.Study.DefaultLanguage(), http.StatusRequestEntityTooLarge, "error_title", "error_too_large")
		} else {
			s.c.Log.Rejected(path, "malformed")
			s.message(w, r, s.c.Study.DefaultLanguage(), http.StatusBadRequest, "error_title", "error_malformed")
		}
		return nil, false
	}
	n := 0
	for _, vs := range r.PostForm {
		n += len(vs)
	}
	lang := r.PostForm.Get("lang")
	if n > s.maxFields || len(r.PostForm["lang"]) > 1 || (lang != "" && !s.c.Study.HasLanguage(lang)) {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, s.c.Study.DefaultLanguage(), http.StatusBadRequest, "error_title", "error_malformed")
		return nil, false
	}
	return r.PostForm, true
}

func (s *Server) formLang(f url.Values) string {
	if l := f.Get("lang"); s.c.Study.HasLanguage(l) {
		return l
	}
	return s.c.Study.DefaultLanguage()
}

// maxEnvelope is the size of the largest envelope a browser can send: the
// largest plaintext a form post could carry, padded and sealed.
func (s *Server) maxEnvelope() int {
	return envelope.Size(s.c.Study.MaxSubmissionBytes(), len(s.c.Study.ID), len(s.recipients))
}

func (s *Server) submitForm(w http.ResponseWriter, r *http.Request) {
	const path = "form"
	if s.c.Study.RequireBrowserEncryption {
		s.c.Log.Rejected(path, "browser_encryption_required")
		s.encryptionRequired(w, r, s.langOf(r), http.StatusForbidden)
		return
	}
	form, ok := s.readForm(w, r, int64(s.c.Study.MaxSubmissionBytes()), path)
	if !ok {
		return
	}
	lang := s.formLang(form)
	if !s.checkVersion(w, r, form, lang) {
		return
	}
	resp, problems, err := response.FromForm(s.c.Study, lang, form)
	if err != nil {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	if problems != nil {
		s.c.Log.Rejected(path, "invalid_answers")
		s.renderStep(w, lang, http.StatusUnprocessableEntity, max(s.firstProblemStep(problems, len(s.steps)-1), 0), form, resp.Answers, problems)
		return
	}
	plaintext, err := response.Marshal(s.c.Study, resp)
	if err != nil {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	env, err := envelope.Seal(s.c.Study.ID, plaintext, s.recipients)
	clear(plaintext)
	if err != nil {
		s.c.Log.Rejected(path, "too_large")
		s.message(w, r, lang, http.StatusRequestEntityTooLarge, "error_title", "error_too_large")
		return
	}
	s.store(w, r, lang, path, env)
}

func (s *Server) submitSealed(w http.ResponseWriter, r *http.Request) {
	const path = "sealed"
	limit := base64.StdEncoding.EncodedLen(s.maxEnvelope()) + 1024
	form, ok := s.readForm(w, r, int64(limit), path)
	if !ok {
		return
	}
	lang := s.formLang(form)
	vals := form["envelope"]
	if len(vals) != 1 {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	env, err := base64.StdEncoding.Strict().DecodeString(vals[0])
	if err != nil {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	if err := envelope.Check(s.c.Study.ID, env, s.maxEnvelope(), [][]*envelope.Recipient{s.recipients}); err != nil {
		reason := "malformed"
		if errors.Is(err, envelope.ErrWrongStudy) {
			reason = "wrong_study"
		}
		s.c.Log.Rejected(path, reason)
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	s.store(w, r, lang, path, env)
}

func (s *Server) store(w http.ResponseWriter, r *http.Request, lang, path string, env []byte) {
	now := s.c.Now().UTC()
	if _, err := s.c.Store.Put(env, now); err != nil {
		s.c.Log.Error(oplog.StoreUnavailable, path)
		s.message(w, r, lang, http.StatusServiceUnavailable, "error_title", "error_unavailable")
		return
	}
	s.c.Log.Path(oplog.SubmissionStored, path)
	if s.c.Stored != nil {
		y, m, d := now.Date()
		if err := s.c.Stored(sha256.Sum256(env), time.Date(y, m, d, 0, 0, 0, 0, time.UTC)); err != nil {
			s.c.Log.Error(oplog.StoreUnavailable, "audit")
		}
	}
	s.message(w, r, lang, http.StatusOK, "receipt_title", "receipt_body", "receipt_no_code")
}
