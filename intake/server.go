// Package intake is the server people testify to: it shows the
// questionnaire, takes answers, seals them to the study's researchers and
// stores only the sealed envelopes.
//
// Use [New] to make a server for a study and a store, then serve
// [Server.Handler] with the timeouts of [Server.HTTPServer].
//
// Answers arrive on one of two paths. A browser with JavaScript seals them
// itself and posts the envelope to /sealed; the server checks only its
// structure, study and size. A browser without JavaScript posts the form to
// /submit; the server validates it, seals it in memory at once and keeps
// nothing but the envelope. Either way the store is written and synced
// before the page says the answers were received.
package intake

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
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
	static     http.Handler
	mux        *http.ServeMux
}

// Limits on requests, independent of the study.
const (
	maxHeaderBytes = 16 << 10
	maxFields      = 512
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
	s := &Server{c: c}
	for _, r := range c.Study.Recipients {
		k, err := envelope.ParseRecipient(r.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", r.Name, err)
		}
		s.recipients = append(s.recipients, k)
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
	sub, _ := fs.Sub(files, "static")
	s.static = http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.form)
	s.mux.HandleFunc("POST /submit", s.submitForm)
	s.mux.HandleFunc("POST /sealed", s.submitSealed)
	s.mux.HandleFunc("GET /exit", s.exit)
	s.mux.Handle("GET /static/", s.static)
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

func loadBundle() (*i18n.Bundle, error) {
	b := i18n.NewBundle(language.Korean)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	for _, l := range config.Languages {
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
		ErrorLog:          nil,
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
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.c.Log.Event(oplog.HandlerPanic)
				s.message(w, r, langOf(r), http.StatusServiceUnavailable, "error_title", "error_unavailable")
			}
		}()
		s.mux.ServeHTTP(w, r)
	})
}

// langOf returns the page language chosen by a "lang" query or form field
// (never Accept-Language: Tor Browser sends en-US for everyone).
func langOf(r *http.Request) string {
	l := r.URL.Query().Get("lang")
	for _, c := range config.Languages {
		if l == c {
			return c
		}
	}
	return config.DefaultLanguage
}

func (s *Server) form(w http.ResponseWriter, r *http.Request) {
	s.renderForm(w, r, langOf(r), http.StatusOK, nil, nil)
}

func (s *Server) exit(w http.ResponseWriter, r *http.Request) {
	// The quick exit shows a blank, harmless page with no trace of the study.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>Weather</title></head><body><p>Cloudy, 12°C.</p></body></html>")
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.message(w, r, langOf(r), http.StatusMethodNotAllowed, "error_title", "error_method")
		return
	}
	s.message(w, r, langOf(r), http.StatusNotFound, "error_title", "error_not_found")
}

// readForm reads a url-encoded body of at most limit bytes. It refuses
// multipart bodies: Go's multipart reader spills large parts to temporary
// files, and answers must never touch the disk.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request, limit int64, path string) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		s.c.Log.Rejected(path, "unsupported_media_type")
		s.message(w, r, config.DefaultLanguage, http.StatusUnsupportedMediaType, "error_title", "error_unsupported")
		return nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.c.Log.Rejected(path, "too_large")
			s.message(w, r, config.DefaultLanguage, http.StatusRequestEntityTooLarge, "error_title", "error_too_large")
		} else {
			s.c.Log.Rejected(path, "malformed")
			s.message(w, r, config.DefaultLanguage, http.StatusBadRequest, "error_title", "error_malformed")
		}
		return nil, false
	}
	n := 0
	for _, vs := range r.PostForm {
		n += len(vs)
	}
	lang := r.PostForm.Get("lang")
	if n > maxFields || len(r.PostForm["lang"]) > 1 || (lang != "" && !isLang(lang)) {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, config.DefaultLanguage, http.StatusBadRequest, "error_title", "error_malformed")
		return nil, false
	}
	return r.PostForm, true
}

func isLang(l string) bool {
	for _, c := range config.Languages {
		if l == c {
			return true
		}
	}
	return false
}

func formLang(f url.Values) string {
	if l := f.Get("lang"); isLang(l) {
		return l
	}
	return config.DefaultLanguage
}

func (s *Server) maxSubmission() int {
	if n := s.c.Study.Limits.MaxSubmissionBytes; n > 0 {
		return n
	}
	return config.DefaultMaxSubmissionBytes
}

// maxEnvelope is the size of the largest envelope a browser can send: the
// largest plaintext a form post could carry, padded and sealed.
func (s *Server) maxEnvelope() int {
	return envelope.Size(s.maxSubmission(), len(s.c.Study.ID), len(s.recipients))
}

func (s *Server) submitForm(w http.ResponseWriter, r *http.Request) {
	const path = "form"
	if s.c.Study.RequireBrowserEncryption {
		s.c.Log.Rejected(path, "browser_encryption_required")
		s.message(w, r, langOf(r), http.StatusForbidden, "error_title", "error_encryption_required")
		return
	}
	form, ok := s.readForm(w, r, int64(s.maxSubmission()), path)
	if !ok {
		return
	}
	lang := formLang(form)
	resp, problems, err := response.FromForm(s.c.Study, lang, form)
	if err != nil {
		s.c.Log.Rejected(path, "malformed")
		s.message(w, r, lang, http.StatusBadRequest, "error_title", "error_malformed")
		return
	}
	if problems != nil {
		s.c.Log.Rejected(path, "invalid_answers")
		s.renderForm(w, r, lang, http.StatusUnprocessableEntity, form, problems)
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
	lang := formLang(form)
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
	if err := envelope.Check(s.c.Study.ID, env, s.maxEnvelope()); err != nil {
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
		if err := s.c.Stored(sha256.Sum256(env), now); err != nil {
			s.c.Log.Error(oplog.StoreUnavailable, "audit")
		}
	}
	s.message(w, r, lang, http.StatusOK, "receipt_title", "receipt_body", "receipt_no_code")
}
