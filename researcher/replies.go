package researcher

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/replycopy"
)

// Replies, from the researcher's offline machine to the person: a reply is
// queued with QueueReply, to a testimony that carries a return address;
// WriteReplyBatch seals every queued reply (package reply) and writes
// them in a signed reply batch for the operator (`intake replies import`),
// and a team copy (package replycopy) for the other researchers, whose
// workspaces then check the follow-ups that answer them.
//
// Each reply is numbered among the researcher's replies to the person
// (returnkey's tag(i, R)): a number used twice would give two records one
// tag, which links them. The registry records each number with its reply,
// and WriteReplyBatch keeps the batch in reply-batches/ before Close seals
// the registry: a batch file leaves the workspace only once the numbers it
// used are durable. A batch kept by a run that did not complete is removed
// by the next Open, and its numbers used again: no copy of it ever left.

// QueuedReply says what QueueReply queued.
type QueuedReply struct {
	// ID is the reply's id; Pseudonym the name of the testimony it
	// answers, Lang its language.
	ID, Pseudonym, Lang string
	// Queued is the number of replies queued in the workspace, this one
	// included.
	Queued int
}

// QueueReply queues a reply to the testimony now named name (in either
// script): text, follow-up questions, or both, in lang (one of the study's
// languages; empty means the language the person answered in). Close
// saves it; WriteReplyBatch seals it. It refuses a testimony that carries
// no return address (the person chose no return passphrase: nothing can
// reach them), one that was withdrawn, a reply too long for a record
// (saying by how much), and the returnkey.MaxReplies-th reply of the
// researcher to one person.
func (w *Workspace) QueueReply(name, text string, questions []reply.Question, lang string) (*QueuedReply, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	key, err := w.names.Find(name)
	if err != nil {
		return nil, err
	}
	i := w.rowOf(hexDecode32(key))
	n, _ := w.names.Lookup(key)
	switch {
	case i < 0:
		return nil, fmt.Errorf("no testimony is called %s", name)
	case !w.live(i):
		return nil, fmt.Errorf("%s was withdrawn by the person who gave it: no reply can be sent", n.Hangul)
	case w.rows[i].ret.isZero():
		return nil, fmt.Errorf("%s carries no return address: the person chose not to get a return passphrase, so no reply can reach them", n.Hangul)
	}
	if lang == "" {
		if lang, err = w.languageOf(i); err != nil {
			return nil, err
		}
	} else if !w.study.HasLanguage(lang) {
		return nil, fmt.Errorf("unknown language %q: write the reply in one of the study's, %s", lang, strings.Join(w.study.Langs(), ", "))
	}
	me := w.id.Recipient().Fingerprint()
	byRef := w.rowsByRef()
	mine := 0
	for _, e := range w.replies() {
		if e.By == me && w.addressOf(byRef, e.Ref) == w.rows[i].ret {
			mine++
		}
	}
	if mine >= returnkey.MaxReplies {
		return nil, fmt.Errorf("you have written %d replies to %s, as many as one person can receive from one researcher", mine, n.Hangul)
	}
	c := &reply.Content{Study: w.study.ID, ID: reply.NewID(), Lang: lang, Text: text, Questions: questions}
	data, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	run := w.begin()
	run.replies = append(run.replies, replyEntry{ID: c.ID, By: me, Ref: hex.EncodeToString(w.rows[i].ref[:]), Number: -1, Content: data})
	queued := 0
	for _, e := range w.replies() {
		if e.queued() {
			queued++
		}
	}
	return &QueuedReply{ID: c.ID, Pseudonym: n.Hangul, Lang: lang, Queued: queued}, nil
}

// LanguageOf returns the language the person who gave the testimony now
// named name (in either script) answered in.
func (w *Workspace) LanguageOf(name string) (string, error) {
	key, err := w.names.Find(name)
	if err != nil {
		return "", err
	}
	i := w.rowOf(hexDecode32(key))
	if i < 0 || !w.live(i) {
		return "", fmt.Errorf("%s was withdrawn by the person who gave it", name)
	}
	return w.languageOf(i)
}

// languageOf returns the language the person who gave row i answered in.
func (w *Workspace) languageOf(i int) (string, error) {
	f, err := os.Open(filepath.Join(w.dir, dataFile))
	if err != nil {
		return "", fmt.Errorf("failed to read testimonies: %w", err)
	}
	defer f.Close()
	r := w.rows[i]
	buf := make([]byte, r.n)
	if _, err := f.ReadAt(buf, r.off); err != nil {
		return "", fmt.Errorf("failed to read testimonies: %w", err)
	}
	d, err := parseDataLine(buf)
	if err != nil {
		return "", fmt.Errorf("%s is damaged at byte %d: restore the workspace from a backup", dataFile, r.off)
	}
	return d.lang, nil
}

// rowsByRef maps the hex reference of each testimony to its row (the
// first, if several share one).
func (w *Workspace) rowsByRef() map[string]int {
	m := make(map[string]int, len(w.rows))
	for i := len(w.rows) - 1; i >= 0; i-- {
		m[hex.EncodeToString(w.rows[i].ref[:])] = i
	}
	return m
}

// addressOf returns the return address of the testimony whose reference
// is ref (hex), or the zero address.
func (w *Workspace) addressOf(byRef map[string]int, ref string) address {
	if i, ok := byRef[ref]; ok {
		return w.rows[i].ret
	}
	return address{}
}

// ReplyBatch is what WriteReplyBatch wrote.
type ReplyBatch struct {
	// Manifest is the batch's signed manifest; Path the batch, kept in
	// the workspace (reply-batches/<manifest SHA-256>.tar): copy it for
	// the operator once Close saved the run.
	Manifest *reply.Manifest
	Path     string
	// TeamCopy is the signed team copy of its replies, for the other
	// researchers (package replycopy).
	TeamCopy []byte
	// Replies is the number of replies in it; Left those still queued
	// (more than one batch holds), Dropped those dropped because the
	// person withdrew their testimony since they were queued.
	Replies, Left, Dropped int
}

// WriteReplyBatch seals every queued reply to its person, numbering it
// after the researcher's earlier replies to them, and writes them in a
// reply batch signed with the researcher's key (reply.Write), kept in
// reply-batches/, and their team copy. Close saves the numbers and records
// it in the audit log (reply-batch-written, with the manifest's SHA-256
// and the number of records): give the batch to the operator only after
// Close. It fails if no reply is queued.
func (w *Workspace) WriteReplyBatch() (*ReplyBatch, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	me := w.id.Recipient().Fingerprint()
	replies := w.replies()
	byRef := w.rowsByRef()
	next := map[address]int{} // the next number of the researcher's replies to each person
	for _, e := range replies {
		if e.By == me && !e.queued() {
			a := w.addressOf(byRef, e.Ref)
			next[a] = max(next[a], e.Number+1)
		}
	}
	res := &ReplyBatch{}
	var records [][]byte
	var sent []replyEntry
	run := w.begin()
	var dropped []string
	for _, e := range replies {
		if !e.queued() {
			continue
		}
		i, ok := byRef[e.Ref]
		if !ok || !w.live(i) {
			dropped = append(dropped, e.ID)
			continue
		}
		if len(sent) == replycopy.MaxReplies {
			res.Left++
			continue
		}
		a := w.rows[i].ret
		to, err := a.parse()
		if err != nil {
			return nil, fmt.Errorf("malformed %s: %w", registryFile, err)
		}
		if next[a] >= returnkey.MaxReplies {
			return nil, fmt.Errorf("reply %s would be the %d-th to one person: no more can be sent to them", e.ID, next[a]+1)
		}
		e.Number = next[a]
		next[a]++
		rec, err := reply.Seal(to, uint32(e.Number), w.id, e.Content)
		if err != nil {
			return nil, err
		}
		records = append(records, rec)
		sent = append(sent, e)
	}
	if len(sent) == 0 {
		if len(dropped) > 0 {
			return nil, fmt.Errorf("no reply to send: the %d queued were to testimonies withdrawn since", len(dropped))
		}
		return nil, errors.New("no reply is queued: queue one with researcher reply first")
	}
	// The batch, kept in the workspace, durable before the registry says
	// it was written.
	dir := filepath.Join(w.dir, replyBatchesDir)
	keep, err := newIncoming(dir)
	if err != nil {
		return nil, err
	}
	defer func() { keep.remove() }() // unless finished
	m, err := reply.Write(keep, w.id.Signer(), w.study.ID, records)
	if err != nil {
		return nil, err
	}
	if err := keep.finish(); err != nil {
		return nil, err
	}
	hash := hexKey(m.Hash)
	path := filepath.Join(dir, hash+".tar")
	if err := os.Rename(keep.path, path); err != nil {
		os.Remove(keep.path)
		return nil, fmt.Errorf("failed to keep the reply batch: %w", err)
	}
	keep = nil
	if err := atomicfile.SyncDir(dir); err != nil {
		os.Remove(path)
		return nil, err
	}
	c := &replycopy.Copy{StudyID: w.study.ID, Researcher: me, Batch: m.Hash}
	for i := range sent {
		sent[i].Batch = hash
		run.written[sent[i].ID] = sent[i]
		var ref [16]byte
		hex.Decode(ref[:], []byte(sent[i].Ref))
		c.Replies = append(c.Replies, replycopy.Reply{Ref: ref, Number: uint32(sent[i].Number), Content: sent[i].Content})
	}
	run.replyBatches = append(run.replyBatches, hash)
	if len(dropped) > 0 {
		run.dropped = append(run.dropped, dropped...)
	}
	run.records = append(run.records, audit.ReplyBatchWritten(m.Hash, len(records), timeNow()))
	if res.TeamCopy, err = replycopy.Sign(c, w.id.Signer()); err != nil {
		return nil, err
	}
	res.Manifest, res.Path, res.Replies, res.Dropped = m, path, len(sent), len(dropped)
	return res, nil
}

// LastReplyBatch returns the last reply batch a Close saved, and its team
// copy, for writing them out again (a copy lost, or not made because the
// command was interrupted after the run was saved). It fails if none was
// written.
func (w *Workspace) LastReplyBatch() (*ReplyBatch, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if len(w.st.ReplyBatches) == 0 {
		return nil, errors.New("no reply batch was written in this workspace")
	}
	hash := w.st.ReplyBatches[len(w.st.ReplyBatches)-1]
	path := filepath.Join(w.dir, replyBatchesDir, hash+".tar")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the last reply batch is no longer in the workspace: %w", err)
	}
	defer f.Close()
	m, _, err := reply.ReadAll(f, w.keptVerifiers())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if hexKey(m.Hash) != hash {
		return nil, fmt.Errorf("%s holds another reply batch than the registry records: the workspace was damaged", path)
	}
	c := &replycopy.Copy{StudyID: w.study.ID, Researcher: w.id.Recipient().Fingerprint(), Batch: m.Hash}
	for _, e := range w.st.Replies {
		if e.Batch == hash && e.By == c.Researcher {
			var ref [16]byte
			hex.Decode(ref[:], []byte(e.Ref))
			c.Replies = append(c.Replies, replycopy.Reply{Ref: ref, Number: uint32(e.Number), Content: e.Content})
		}
	}
	copyMsg, err := replycopy.Sign(c, w.id.Signer())
	if err != nil {
		return nil, err
	}
	return &ReplyBatch{Manifest: m, Path: path, TeamCopy: copyMsg, Replies: len(c.Replies)}, nil
}

// TeamCopyImport says what importing a team copy did.
type TeamCopyImport struct {
	// From is the fingerprint of the researcher who signed it.
	From string
	// Replies is the number of replies in it, and New the number the
	// workspace did not know.
	Replies, New int
}

// ImportTeamCopy checks a team copy (package replycopy) against the
// researchers of the study given to Open, and adds the replies it holds
// that the workspace does not know, when Close saves the run: follow-ups
// answering them are then checked and attached. Importing a copy again
// changes nothing; a copy whose reply differs from the one the workspace
// holds under the same id is refused. A copy of the researcher's own
// replies (from a backup) restores their numbers. Close records it in
// the audit log (team-copy-imported, with the signer's fingerprint).
func (w *Workspace) ImportTeamCopy(msg []byte) (*TeamCopyImport, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	vs, err := studyVerifiers(w.study)
	if err != nil {
		return nil, err
	}
	c, err := replycopy.Verify(msg, vs)
	if err != nil {
		return nil, err
	}
	if c.StudyID != w.study.ID {
		return nil, fmt.Errorf("it holds replies for study %q, not %q", c.StudyID, w.study.ID)
	}
	known := map[string]replyEntry{}
	for _, e := range w.replies() {
		known[e.ID] = e
	}
	res := &TeamCopyImport{From: c.Researcher, Replies: len(c.Replies)}
	var add []replyEntry
	for _, r := range c.Replies {
		e := replyEntry{ID: r.Parsed.ID, By: c.Researcher, Ref: hex.EncodeToString(r.Ref[:]), Number: int(r.Number), Batch: hexKey(c.Batch), Content: r.Content}
		if k, ok := known[e.ID]; ok {
			if k.By != e.By || k.Ref != e.Ref || !bytes.Equal(k.Content, e.Content) || !k.queued() && k.Number != e.Number {
				return nil, fmt.Errorf("its reply %s differs from the one this workspace holds under that id: one of them is not what its researcher wrote", e.ID)
			}
			continue
		}
		add = append(add, e)
	}
	if len(add) > 0 {
		run := w.begin()
		run.replies = append(run.replies, add...)
		run.records = append(run.records, audit.TeamCopyImported(len(add), c.Researcher, timeNow()))
	}
	res.New = len(add)
	return res, nil
}

// RepliesCount counts the replies the workspace knows, as the last Close
// saved them.
type RepliesCount struct {
	// Queued are the researcher's replies not yet in a reply batch; Sent
	// those written in one; Team those of teammates, from team copies.
	Queued, Sent, Team int
	// Dropped counts the queued replies the last Close dropped because
	// the testimonies they answer were withdrawn.
	Dropped int
}

// Replies counts the replies the workspace knows.
func (w *Workspace) Replies() RepliesCount {
	c := w.replyCounts()
	c.Dropped = w.droppedReplies
	return c
}

func (w *Workspace) replyCounts() RepliesCount {
	var c RepliesCount
	me := w.id.Recipient().Fingerprint()
	for _, e := range w.st.Replies {
		switch {
		case e.queued():
			c.Queued++
		case e.By == me:
			c.Sent++
		default:
			c.Team++
		}
	}
	return c
}

// removeUnsavedReplyBatches removes the reply batches in reply-batches/
// that no saved run wrote: a run that was interrupted before it saved the
// numbers they use.
func (w *Workspace) removeUnsavedReplyBatches() error {
	dir := filepath.Join(w.dir, replyBatchesDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("failed to read workspace: %w", err)
	}
	for _, e := range entries {
		hash, ok := strings.CutSuffix(e.Name(), ".tar")
		if strings.HasPrefix(e.Name(), incomingPrefix) || ok && isHexHash(hash) && !slices.Contains(w.st.ReplyBatches, hash) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("failed to undo an interrupted run: %w", err)
			}
		}
	}
	return nil
}
