package researcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/internal/signednote"
	"github.com/testimony-project/testimony/pseudonym"
	"golang.org/x/mod/sumdb/note"
)

// rename returns c as a pseudonym.Rename without its key, checking it.
func (c claim) rename() (pseudonym.Rename, error) {
	n := pseudonym.Name{Hangul: c.Hangul, Roman: c.Roman}
	switch {
	case !envelope.IsFingerprint(c.By):
		return pseudonym.Rename{}, fmt.Errorf("malformed fingerprint %.40q", c.By)
	case !isHexRef(c.Ref):
		return pseudonym.Rename{}, fmt.Errorf("malformed testimony reference %.40q", c.Ref)
	case !pseudonym.Canonical(n):
		return pseudonym.Rename{}, fmt.Errorf("malformed name %.40q", n.String())
	case c.Clock == 0:
		return pseudonym.Rename{}, errors.New("clock 0")
	}
	return pseudonym.Rename{Name: n, Clock: c.Clock, Signer: c.By}, nil
}

func (c claim) compare(o claim) int {
	if c.Clock != o.Clock {
		if c.Clock < o.Clock {
			return -1
		}
		return 1
	}
	return strings.Compare(c.Ref+" "+c.Hangul+"/"+c.Roman+" "+c.By, o.Ref+" "+o.Hangul+"/"+o.Roman+" "+o.By)
}

func isHexRef(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16 && hex.EncodeToString(b) == s
}

// ambiguousKey stands for the testimonies of a reference that more than
// one testimony of the workspace has (envelopes sealed with the same
// content key, which only a misbehaving client makes): a rename of it
// applies to none.
const ambiguousKey = "ambiguous"

// claims returns the renames known: saved, and made or received in this
// run.
func (w *Workspace) claims() []claim {
	out := slices.Clone(w.st.Renames)
	if w.run != nil {
		for _, c := range w.run.claims {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// applyRenames lays every rename known over the drawn names (see
// pseudonym.Registry.Apply), setting w.names and w.outcomes.
func (w *Workspace) applyRenames() {
	cs := w.claims()
	keys := w.keysOf(cs)
	rs := make([]pseudonym.Rename, len(cs))
	for i, c := range cs {
		rs[i], _ = c.rename()
		rs[i].Key = keys[c.Ref]
		if rs[i].Key == "" {
			rs[i].Key = "ref:" + c.Ref // no such testimony here (yet)
		}
	}
	var res []pseudonym.Result
	w.names, res = w.reg.Apply(rs)
	w.outcomes = map[claim]pseudonym.Result{}
	for i, c := range cs {
		w.outcomes[c] = res[i]
	}
}

// keysOf returns the registry key of the testimony each claim's reference
// names, ambiguousKey if several do, or nothing if none does.
func (w *Workspace) keysOf(cs []claim) map[string]string {
	keys := map[string]string{}
	if len(cs) == 0 {
		return keys
	}
	want := map[[16]byte]string{}
	for _, c := range cs {
		var ref [16]byte
		hex.Decode(ref[:], []byte(c.Ref))
		want[ref] = c.Ref
	}
	for _, r := range w.rows {
		s, ok := want[r.ref]
		if !ok {
			continue
		}
		if keys[s] != "" {
			keys[s] = ambiguousKey
		} else {
			keys[s] = hexKey(r.key)
		}
	}
	return keys
}

// renamesDigest names the effect of the renames: what each renamed
// testimony is called. The exports are stale when it changes.
func (w *Workspace) renamesDigest() string {
	var lines []string
	for c, r := range w.outcomes {
		if r.Outcome == pseudonym.Applied {
			lines = append(lines, c.Ref+" "+c.Hangul+"/"+c.Roman)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

// nextClock returns the clock of a new rename: one above every rename
// known.
func (w *Workspace) nextClock() uint64 {
	var m uint64
	for _, c := range w.claims() {
		m = max(m, c.Clock)
	}
	return m + 1
}

// Rename gives the testimony now named old the name new, in this
// workspace, once Close has saved the run. old is the current name in either
// script; new is read by [pseudonym.Parse]. The rename is recorded by the
// testimony's reference and signed later with [Workspace.ExportRenames]
// for the rest of the team; see the package documentation, "Renames".
func (w *Workspace) Rename(old, new string) error {
	if err := w.usable(); err != nil {
		return err
	}
	nn, err := pseudonym.Parse(new)
	if err != nil {
		return fmt.Errorf("malformed new name: %w", err)
	}
	key, err := w.names.Find(old)
	if err != nil {
		return err
	}
	if i := w.rowOf(hexDecode32(key)); i >= 0 && !w.live(i) {
		return fmt.Errorf("%s was withdrawn by the person who gave it: it is in no export, and keeps its name", old)
	}
	ref := ""
	for _, r := range w.rows {
		if hexKey(r.key) == key {
			ref = hex.EncodeToString(r.ref[:])
		}
	}
	if ref == "" || w.keysOf([]claim{{Ref: ref}})[ref] == ambiguousKey {
		return fmt.Errorf("%s shares its content key with another testimony (a misbehaving client sealed both), so it cannot be renamed by reference", old)
	}
	if err := w.names.Check(key, nn); err != nil {
		return err
	}
	run := w.begin()
	run.claims = append(run.claims, claim{By: w.id.Recipient().Fingerprint(), Clock: w.nextClock(), Ref: ref, Hangul: nn.Hangul, Roman: nn.Roman})
	run.made++
	w.applyRenames()
	return nil
}

// The renames file, version 1: a note signed by one researcher, holding
// every rename that researcher made in the workspace it was written from:
//
//	testimony renames v1
//	study <study id>
//	researcher <fingerprint>
//	renames <n>
//	rename <ref> <clock> <hangul>/<roman>     (n lines)
//
// with each line ending in "\n" and no other lines. ref is the testimony
// reference (32 lowercase hex digits), clock a decimal from 1 without
// leading zeros, the name canonical as pseudonym.Parse returns it; lines
// are sorted by clock, then as strings, and none repeats; n is from 1 to
// MaxRenames. The signature is by the key named
// "testimony-researcher-" followed by the fingerprint without dashes.
const renamesFormat = "testimony renames v1"

// MaxRenames is the most renames one renames file holds.
const MaxRenames = 100_000

// maxRenamesFile bounds a signed renames file, in bytes.
const maxRenamesFile = 512 + MaxRenames*(7+32+1+20+1+12+1+40+1) + 1024

// renamesFile is the content of a renames file.
type renamesFile struct {
	study, by string
	claims    []claim
}

func (f *renamesFile) marshal() ([]byte, error) {
	if len(f.claims) == 0 || len(f.claims) > MaxRenames {
		return nil, fmt.Errorf("a renames file holds 1 to %d renames, not %d", MaxRenames, len(f.claims))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nstudy %s\nresearcher %s\nrenames %d\n", renamesFormat, f.study, f.by, len(f.claims))
	for i, c := range f.claims {
		if c.By != f.by {
			return nil, errors.New("a renames file holds only its signer's renames")
		}
		if _, err := c.rename(); err != nil {
			return nil, err
		}
		if i > 0 && f.claims[i-1].compare(c) >= 0 {
			return nil, errors.New("renames out of order or repeated")
		}
		fmt.Fprintf(&b, "rename %s %d %s/%s\n", c.Ref, c.Clock, c.Hangul, c.Roman)
	}
	return b.Bytes(), nil
}

// parseRenames parses the text of a renames file (without its signature),
// accepting only the form marshal writes.
func parseRenames(text []byte) (*renamesFile, error) {
	if len(text) > maxRenamesFile {
		return nil, fmt.Errorf("malformed renames file: larger than %d bytes", maxRenamesFile)
	}
	r := signednote.NewLines(text, "renames file")
	if err := r.Header(renamesFormat, "renames file"); err != nil {
		return nil, err
	}
	f := &renamesFile{}
	var err error
	if f.study, err = r.Field("study"); err != nil {
		return nil, err
	}
	if envelope.CheckStudyID(f.study) != nil {
		return nil, r.Errorf("malformed study id %.80q", f.study)
	}
	if f.by, err = r.Field("researcher"); err != nil {
		return nil, err
	}
	if !envelope.IsFingerprint(f.by) {
		return nil, r.Errorf("malformed fingerprint %.80q", f.by)
	}
	n, err := r.Count("renames", "count", 1, MaxRenames)
	if err != nil {
		return nil, err
	}
	for range n {
		l, err := r.Field("rename")
		if err != nil {
			return nil, err
		}
		ref, rest, _ := strings.Cut(l, " ")
		clock, name, _ := strings.Cut(rest, " ")
		hangul, roman, _ := strings.Cut(name, "/")
		k, err := strconv.ParseUint(clock, 10, 64)
		if err != nil || strconv.FormatUint(k, 10) != clock {
			return nil, r.Errorf("malformed clock %.40q", clock)
		}
		cl := claim{By: f.by, Clock: k, Ref: ref, Hangul: hangul, Roman: roman}
		if _, err := cl.rename(); err != nil {
			return nil, r.Errorf("%v", err)
		}
		if len(f.claims) > 0 && f.claims[len(f.claims)-1].compare(cl) >= 0 {
			return nil, r.Errorf("renames out of order or repeated")
		}
		f.claims = append(f.claims, cl)
	}
	if err := r.End(n, "rename"); err != nil {
		return nil, err
	}
	return f, nil
}

// renamesKind names renames files in the errors of verifyRenames.
var renamesKind = signednote.Kind{
	What:    "renames file",
	Signers: "a researcher of the study",
	Hint:    "a researcher no longer in the team signed it, or it is for another study; ask for one signed by a current researcher",
}

// verifyRenames checks that msg is a renames file signed by exactly one
// key, one of verifiers, the key of the researcher it names.
func verifyRenames(msg []byte, verifiers []note.Verifier) (*renamesFile, error) {
	if len(msg) > maxRenamesFile {
		return nil, fmt.Errorf("not a renames file: larger than %d bytes", maxRenamesFile)
	}
	n, err := renamesKind.Open(msg, verifiers...)
	if err != nil {
		return nil, err
	}
	f, err := parseRenames([]byte(n.Text))
	if err != nil {
		return nil, err
	}
	if err := renamesKind.CheckSigner(n, envelope.NoteKeyName(f.by), "researcher "+f.by); err != nil {
		return nil, err
	}
	return f, nil
}

// ExportRenames returns a renames file signed by the researcher, holding
// every rename they made (or that reached this workspace under their
// signature), and the number it holds. Close records it in the audit log
// (renames-signed).
func (w *Workspace) ExportRenames() ([]byte, int, error) {
	if err := w.usable(); err != nil {
		return nil, 0, err
	}
	me := w.id.Recipient().Fingerprint()
	f := &renamesFile{study: w.study.ID, by: me}
	for _, c := range w.claims() {
		if c.By == me {
			f.claims = append(f.claims, c)
		}
	}
	if len(f.claims) == 0 {
		return nil, 0, errors.New("you have renamed no testimony in this workspace: there is nothing to send (researcher pseudonym rename makes a rename)")
	}
	slices.SortFunc(f.claims, claim.compare)
	text, err := f.marshal()
	if err != nil {
		return nil, 0, err
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, w.id.Signer())
	if err != nil {
		return nil, 0, fmt.Errorf("failed to sign the renames: %w", err)
	}
	run := w.begin()
	run.records = append(run.records, audit.RenamesSigned(len(f.claims), timeNow()))
	return msg, len(f.claims), nil
}

// RenamesImport says what importing a renames file did.
type RenamesImport struct {
	// From is the fingerprint of the researcher who signed it.
	From string
	// Renames is the number of renames in the file, and New the number
	// this workspace did not know.
	Renames, New int
	// Outcomes counts the file's renames by what became of them, as
	// pseudonym.Outcome names them ("applied", "superseded", "taken",
	// "unknown testimony").
	Outcomes map[string]int
}

// ImportRenames checks a renames file against the researchers of the
// study (the study given to Open) and adds its renames to the workspace
// when Close saves the run. Importing the same file again changes nothing;
// the names do not depend on the order files are imported in (see the
// package documentation, "Renames"). Close records it in the audit log
// (renames-applied, with the signer's fingerprint).
func (w *Workspace) ImportRenames(msg []byte) (*RenamesImport, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	vs, err := studyVerifiers(w.study)
	if err != nil {
		return nil, err
	}
	f, err := verifyRenames(msg, vs)
	if err != nil {
		return nil, err
	}
	if f.study != w.study.ID {
		return nil, fmt.Errorf("it holds renames for study %q, not %q", f.study, w.study.ID)
	}
	known := w.claims()
	res := &RenamesImport{From: f.by, Renames: len(f.claims), Outcomes: map[string]int{}}
	run := w.begin()
	for _, c := range f.claims {
		if !slices.Contains(known, c) {
			run.claims = append(run.claims, c)
			res.New++
		}
	}
	if res.New > 0 {
		run.records = append(run.records, audit.RenamesApplied(res.New, f.by, timeNow()))
	}
	w.applyRenames()
	for _, c := range f.claims {
		res.Outcomes[w.outcomes[c].Outcome.String()]++
	}
	return res, nil
}

// studyVerifiers returns the signing keys of the study's researchers.
func studyVerifiers(s interface {
	RecipientKeys() ([]*envelope.Recipient, error)
}) ([]note.Verifier, error) {
	keys, err := s.RecipientKeys()
	if err != nil {
		return nil, err
	}
	vs := make([]note.Verifier, len(keys))
	for i, k := range keys {
		vs[i] = k.Verifier()
	}
	return vs, nil
}
