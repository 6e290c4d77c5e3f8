// Package researcher is the offline side of testimony: it checks batches
// exported by the intake server, opens their envelopes with a researcher's
// key, checks every testimony against the questionnaire again, gives each a
// pseudonym and writes files researchers can analyse.
//
// Use [Open] to open (or create) a workspace, [Workspace.Import] for each
// batch, [Workspace.Rename] to change a pseudonym, and [Workspace.Close] to
// write everything out. The package does no networking.
//
// # Workspace
//
//	registry.sealed     which testimonies were imported and their pseudonyms, sealed to the researcher's key
//	testimonies.jsonl   one JSON object per testimony: pseudonym, language and answers, exactly as sent
//	testimonies.csv     the same as a table for Excel, R or pandas (UTF-8 with BOM, RFC 4180, CRLF)
//	codebook.csv        every question and choice, with labels in every language
//	testimonies/*.md    one file per testimony, named by pseudonym, with question labels
//	quarantine.jsonl    testimonies that could not be opened or broke the questionnaire's rules, with reasons
//	audit/              the researcher's audit log: batches imported, testimonies quarantined, pseudonyms renamed
//	audit.key           its checkpoint signing key (0600); audit.pub is the verifier key auditors pin
//
// The exports hold no envelope id, no hash and no arrival day, so published
// data cannot be joined to records of the server. Only registry.sealed links
// a testimony to its envelope, and only the researcher's key opens it.
//
// Importing is idempotent: an envelope already imported or quarantined (by
// its SHA-256, kept in the sealed registry) is skipped, so re-running on the
// same or overlapping batches never duplicates a testimony or changes a
// pseudonym.
package researcher

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/notekey"
	"github.com/testimony-project/testimony/pseudonym"
	"golang.org/x/crypto/nacl/box"
)

// Workspace is a folder on the researcher's offline machine holding the
// testimonies of one study.
type Workspace struct {
	dir   string
	study *config.Study
	id    *envelope.Identity
	lang  string
	state state
	reg   *pseudonym.Registry
	rows  []Testimony
	quar  []Quarantined
	dirty bool
	// pending are audit records of changes not yet written; Close appends
	// them once the workspace files are durable.
	pending []audit.Record
}

// Testimony is one imported testimony, as written to testimonies.jsonl.
type Testimony struct {
	Pseudonym      string                     `json:"pseudonym"`
	PseudonymRoman string                     `json:"pseudonym_roman"`
	Language       string                     `json:"lang"`
	Answers        map[string]json.RawMessage `json:"answers"`
}

// Quarantined is a testimony that was not imported, as written to
// quarantine.jsonl. Plaintext is empty when the envelope did not open.
type Quarantined struct {
	Reason    string            `json:"reason"`
	Problems  map[string]string `json:"problems,omitempty"`
	Plaintext string            `json:"plaintext,omitempty"`
}

type state struct {
	Version     int      `json:"v"`
	Study       string   `json:"study"`
	Registry    []byte   `json:"registry"`
	Quarantined []string `json:"quarantined"`
	Batches     []string `json:"batches"`
}

const (
	registryFile   = "registry.sealed"
	registryLabel  = "testimony-workspace-v1\n"
	jsonlFile      = "testimonies.jsonl"
	csvFile        = "testimonies.csv"
	codebookFile   = "codebook.csv"
	markdownDir    = "testimonies"
	quarantineFile = "quarantine.jsonl"
)

// Open opens the workspace in dir for the study, creating it if needed.
// lang is the language of question labels in Markdown files, one of the
// study's (empty means the study's default language).
func Open(dir string, study *config.Study, id *envelope.Identity, lang string) (*Workspace, error) {
	if lang == "" {
		lang = study.DefaultLanguage()
	}
	if !study.HasLanguage(lang) {
		return nil, fmt.Errorf("unknown language %q: use one of the study's, %s", lang, strings.Join(study.Languages, ", "))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create workspace: %w", err)
	}
	w := &Workspace{dir: dir, study: study, id: id, lang: lang, reg: pseudonym.NewRegistry()}
	data, err := os.ReadFile(filepath.Join(dir, registryFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return nil, fmt.Errorf("workspace %s is not empty but has no %s: choose an empty or new folder", dir, registryFile)
		}
		w.state = state{Version: 1, Study: study.ID}
		w.dirty = true
		return w, nil
	case err != nil:
		return nil, fmt.Errorf("failed to read workspace: %w", err)
	}
	plain, err := unseal(data, id)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", filepath.Join(dir, registryFile), err)
	}
	if err := json.Unmarshal(plain, &w.state); err != nil || w.state.Version != 1 {
		return nil, fmt.Errorf("malformed %s", registryFile)
	}
	if w.state.Study != study.ID {
		return nil, fmt.Errorf("workspace %s holds study %q, not %q: use another folder", dir, w.state.Study, study.ID)
	}
	if err := w.reg.UnmarshalBinary(w.state.Registry); err != nil {
		return nil, fmt.Errorf("malformed %s: %w", registryFile, err)
	}
	if w.rows, err = readJSONL[Testimony](filepath.Join(dir, jsonlFile)); err != nil {
		return nil, err
	}
	if w.quar, err = readJSONL[Quarantined](filepath.Join(dir, quarantineFile)); err != nil {
		return nil, err
	}
	if len(w.rows) != w.reg.Len() {
		return nil, fmt.Errorf("%s has %d testimonies but the registry has %d: restore the workspace from a backup", jsonlFile, len(w.rows), w.reg.Len())
	}
	return w, nil
}

// Len returns the number of testimonies in the workspace.
func (w *Workspace) Len() int { return len(w.rows) }

// Testimonies returns the imported testimonies, in import order.
func (w *Workspace) Testimonies() []Testimony { return slices.Clone(w.rows) }

// Rename changes a pseudonym everywhere in the workspace. old and new are
// read by [pseudonym.Parse].
func (w *Workspace) Rename(old, new string) error {
	from, err := pseudonym.Parse(old)
	if err != nil {
		return err
	}
	to, err := pseudonym.Parse(new)
	if err != nil {
		return err
	}
	// Hangul names are unique in the registry: find the testimony first,
	// so that a failed rename changes nothing.
	row := slices.IndexFunc(w.rows, func(t Testimony) bool { return t.Pseudonym == from.Hangul })
	if row < 0 {
		return fmt.Errorf("no testimony is called %q", old)
	}
	if err := w.reg.Rename(old, new); err != nil {
		return err
	}
	w.rows[row].Pseudonym, w.rows[row].PseudonymRoman = to.Hangul, to.Roman
	w.dirty = true
	w.pending = append(w.pending, audit.PseudonymRenamed(time.Now()))
	return nil
}

// Close writes the registry and every export, each atomically, then
// records what changed in the researcher's audit log and signs a
// checkpoint.
func (w *Workspace) Close() error {
	if !w.dirty {
		return nil
	}
	defer func() { w.pending = nil }()
	reg, err := w.reg.MarshalBinary()
	if err != nil {
		return err
	}
	w.state.Registry = reg
	plain, err := json.Marshal(w.state)
	if err != nil {
		return err
	}
	sealed, err := seal(plain, w.id.Recipient())
	if err != nil {
		return err
	}
	// Exports first, registry last: if this is interrupted, the next run
	// finds a registry that does not yet count the new testimonies and
	// stops rather than lose or duplicate any.
	if err := w.writeExports(); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(w.dir, registryFile), 0o600, sealed); err != nil {
		return err
	}
	w.dirty = false
	if len(w.pending) == 0 {
		return nil
	}
	l, err := w.openAudit()
	if err != nil {
		return err
	}
	defer l.Close()
	for _, r := range w.pending {
		if _, err := l.Append(r); err != nil {
			return fmt.Errorf("failed to append to the audit log: %w", err)
		}
	}
	if _, err := l.Checkpoint(time.Now(), true); err != nil {
		return fmt.Errorf("failed to sign an audit checkpoint: %w", err)
	}
	return nil
}

// auditOrigin names the researcher's log: the study and the fingerprint of
// the researcher's key.
func (w *Workspace) auditOrigin() string {
	return "testimony/" + w.study.ID + "/researcher/" + w.id.Recipient().Fingerprint()
}

func (w *Workspace) openAudit() (*audit.Log, error) {
	signer, _, err := notekey.LoadOrCreate(filepath.Join(w.dir, "audit.key"), filepath.Join(w.dir, "audit.pub"),
		func() (string, string, error) { return audit.GenerateKey(w.auditOrigin()) })
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	l, err := audit.Open(filepath.Join(w.dir, "audit"), w.auditOrigin(), signer)
	if err != nil {
		return nil, fmt.Errorf("failed to open the audit log: %w", err)
	}
	return l, nil
}

func readJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s line %d: %v", path, n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// seal encrypts the registry to the researcher: "testimony-workspace-v1\n"
// || ephemeral public key || nonce || crypto_box(plain).
func seal(plain []byte, to *envelope.Recipient) ([]byte, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	peer := to.X25519()
	out := append([]byte(registryLabel), pub[:]...)
	out = append(out, nonce[:]...)
	return box.Seal(out, plain, &nonce, &peer, priv), nil
}

func unseal(data []byte, id *envelope.Identity) ([]byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(registryLabel))
	if !ok || len(rest) < 32+24+box.Overhead {
		return nil, errors.New("not a testimony workspace registry")
	}
	var pub, priv [32]byte
	var nonce [24]byte
	copy(pub[:], rest[:32])
	copy(nonce[:], rest[32:56])
	copy(priv[:], id.Bytes())
	plain, ok := box.Open(nil, rest[56:], &nonce, &pub, &priv)
	clear(priv[:])
	if !ok {
		return nil, errors.New("it is sealed to another key, or damaged")
	}
	return plain, nil
}

func hexKey(sum [32]byte) string { return hex.EncodeToString(sum[:]) }
