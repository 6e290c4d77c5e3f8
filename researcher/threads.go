package researcher

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
	"github.com/testimony-project/testimony/export"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/reply"
	"github.com/testimony-project/testimony/response"
)

// A person who testified with a return passphrase may come back: read the
// researchers' replies, answer their questions (a follow-up), add to the
// testimony (an addition), or withdraw it (a withdrawal). Each is a message
// on the thread of the first testimony, sealed in an ordinary envelope and
// signed with the key the passphrase gives (package response). The
// workspace keeps every message that opened and whose signature verifies
// (data/messages, indexed by the registry with the thread's address), and
// decides at every Close, from what it holds, what becomes of each: see
// resolve.

// addressSize is the size of a return address's keys: X25519, Ed25519 and
// the tag key.
const addressSize = 96

// address is a return address as the registry keeps it: its 96 bytes,
// all zero for none.
type address [addressSize]byte

var addressEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// addressOf returns a's bytes.
func addressOf(a *returnkey.Address) address {
	var out address
	if a == nil {
		return out
	}
	b, err := addressEncoding.DecodeString(strings.ToUpper(strings.TrimPrefix(a.String(), returnkey.AddressPrefix)))
	if err != nil || len(b) != addressSize {
		panic("researcher: a returnkey.Address that does not encode as documented")
	}
	copy(out[:], b)
	return out
}

func (a address) isZero() bool { return a == address{} }

// parse returns the address a holds.
func (a address) parse() (*returnkey.Address, error) {
	return returnkey.ParseAddress(returnkey.AddressPrefix + strings.ToLower(addressEncoding.EncodeToString(a[:])))
}

// msgKind is the kind of a message, as the registry keeps it.
type msgKind uint8

const (
	kindFollowup msgKind = 1 + iota
	kindAddition
	kindWithdrawal
)

func kindOf(k response.Kind) msgKind {
	switch k {
	case response.Followup:
		return kindFollowup
	case response.Addition:
		return kindAddition
	case response.Withdrawal:
		return kindWithdrawal
	}
	return 0
}

func (k msgKind) String() string {
	switch k {
	case kindFollowup:
		return string(response.Followup)
	case kindAddition:
		return string(response.Addition)
	case kindWithdrawal:
		return string(response.Withdrawal)
	}
	return "unknown"
}

// Whether a follow-up's answers keep the rules of the reply it answers:
// checked once the reply is known (it never changes).
const (
	followupUnchecked uint8 = iota
	followupValid
	followupInvalid
)

// msgEntry is one message on a thread that opened and whose signature
// verified: its envelope's SHA-256, the address of its thread, its kind,
// where its ciphertext is (source and position in it, which order the
// thread), where its line is in data/messages, the reply a follow-up
// answers and whether its answers keep that reply's rules. Encoded as key
// (32) || address (96) || u8 kind || u32be source || u32be position ||
// u64be offset || u32be length || reply id (26 ASCII bytes, zero for
// other kinds) || u8 check.
type msgEntry struct {
	key   [32]byte
	addr  address
	kind  msgKind
	src   source
	pos   uint32
	off   int64
	n     int64
	reply [replyIDSize]byte
	check uint8
}

const (
	replyIDSize  = 26
	msgEntrySize = 32 + addressSize + 1 + 4 + 4 + 8 + 4 + replyIDSize + 1
)

var replyIDRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

func (m *msgEntry) append(b []byte) []byte {
	b = append(b, m.key[:]...)
	b = append(b, m.addr[:]...)
	b = append(b, byte(m.kind))
	b = binary.BigEndian.AppendUint32(b, uint32(m.src))
	b = binary.BigEndian.AppendUint32(b, m.pos)
	b = binary.BigEndian.AppendUint64(b, uint64(m.off))
	b = binary.BigEndian.AppendUint32(b, uint32(m.n))
	b = append(b, m.reply[:]...)
	return append(b, m.check)
}

func parseMsgEntry(b []byte) (msgEntry, error) {
	var m msgEntry
	copy(m.key[:], b)
	copy(m.addr[:], b[32:])
	b = b[32+addressSize:]
	m.kind = msgKind(b[0])
	m.src = source(binary.BigEndian.Uint32(b[1:]))
	m.pos = binary.BigEndian.Uint32(b[5:])
	m.off = int64(binary.BigEndian.Uint64(b[9:]))
	m.n = int64(binary.BigEndian.Uint32(b[17:]))
	copy(m.reply[:], b[21:])
	m.check = b[21+replyIDSize]
	switch {
	case m.kind < kindFollowup || m.kind > kindWithdrawal, m.n == 0, m.off < 0, m.check > followupInvalid:
		return m, errors.New("malformed")
	case m.kind == kindFollowup && !replyIDRE.Match(m.reply[:]),
		m.kind != kindFollowup && m.reply != [replyIDSize]byte{}:
		return m, errors.New("malformed reply id")
	}
	if _, err := m.addr.parse(); err != nil {
		return m, err
	}
	return m, nil
}

func (m *msgEntry) replyID() string {
	if m.kind != kindFollowup {
		return ""
	}
	return string(m.reply[:])
}

// msgState is what became of a message.
type msgState uint8

const (
	// msgAttached: shown on its testimony's thread.
	msgAttached msgState = iota
	// msgWithdrawal: a withdrawal; its thread is withdrawn.
	msgWithdrawal
	// msgWithdrawn: on a withdrawn thread, so in no export.
	msgWithdrawn
	// msgThreadUnknown: no testimony of the workspace has its thread's
	// address (yet).
	msgThreadUnknown
	// msgReplyUnknown: a follow-up answering a reply the workspace does
	// not know (yet) for that testimony.
	msgReplyUnknown
	// msgBreaksRules: a follow-up whose answers break the rules of the
	// reply's questions.
	msgBreaksRules
)

// quarantined reports whether a message in state s is quarantined: held,
// shown in quarantine.jsonl, and brought in if what it waits for comes.
func (s msgState) quarantined() bool {
	return s == msgThreadUnknown || s == msgReplyUnknown || s == msgBreaksRules
}

func (s msgState) reason() reason {
	switch s {
	case msgThreadUnknown:
		return reasonThreadUnknown
	case msgReplyUnknown:
		return reasonReplyUnknown
	case msgBreaksRules:
		return reasonAnswers
	}
	return 0
}

// threadView is what the messages of a workspace come to (resolve).
type threadView struct {
	// out tells, for each row, whether its testimony was withdrawn.
	out []bool
	// state is what became of each message.
	state []msgState
	// thread maps a row to the messages attached to it, in thread order.
	thread map[int][]int
	// withdrawn counts the rows withdrawn; waiting the withdrawals of a
	// thread no row has (yet).
	withdrawn, waiting int
}

// resolve decides what becomes of every message, from what the workspace
// holds; nothing else. So researchers holding the same testimonies,
// messages and replies get the same threads and withdrawals, whatever
// order these reached them in:
//
//   - A thread is withdrawn if any withdrawal on it verified: every testimony
//     whose return address it is leaves every export, with every message
//     on it, even one that arrives later. A withdrawal waits for a
//     testimony not held yet.
//   - Otherwise a message is attached to every testimony whose return
//     address its thread is (one, unless a misbehaving client gave two
//     testimonies the same address), or quarantined as thread-unknown if
//     there is none.
//   - A follow-up must also answer a reply the workspace knows (own, or from
//     a team copy), written to a testimony with the thread's address, else
//     it is reply-unknown; and its answers must keep the rules of that
//     reply's questions (checked once, when the reply becomes known), else
//     answers-break-rules.
//
// A thread's messages are in the order the workspace met them: by the
// batch (in the order batches were imported, handovers after them) and
// their position in it.
func (w *Workspace) resolve(rows []row, msgs []msgEntry, replies []replyEntry, batches, handovers []string) *threadView {
	v := &threadView{out: make([]bool, len(rows)), state: make([]msgState, len(msgs)), thread: map[int][]int{}}
	byAddr := map[address][]int{}
	byRef := map[[16]byte][]int{}
	for i, r := range rows {
		if !r.ret.isZero() {
			byAddr[r.ret] = append(byAddr[r.ret], i)
		}
		byRef[r.ref] = append(byRef[r.ref], i)
	}
	withdrawn := map[address]bool{}
	for _, m := range msgs {
		if m.kind == kindWithdrawal {
			withdrawn[m.addr] = true
		}
	}
	for a := range withdrawn {
		if len(byAddr[a]) == 0 {
			v.waiting++
		}
		for _, i := range byAddr[a] {
			v.out[i] = true
			v.withdrawn++
		}
	}
	known := map[string]*replyEntry{}
	for i := range replies {
		if !replies[i].queued() {
			known[replies[i].ID] = &replies[i]
		}
	}
	for k, m := range msgs {
		switch {
		case m.kind == kindWithdrawal:
			v.state[k] = msgWithdrawal
		case withdrawn[m.addr]:
			v.state[k] = msgWithdrawn
		case len(byAddr[m.addr]) == 0:
			v.state[k] = msgThreadUnknown
		case m.kind == kindFollowup && !replyTo(known[m.replyID()], m.addr, rows, byRef):
			v.state[k] = msgReplyUnknown
		case m.kind == kindFollowup && m.check == followupInvalid:
			v.state[k] = msgBreaksRules
		case m.kind == kindFollowup && m.check != followupValid:
			v.state[k] = msgReplyUnknown // not checked yet: the next Close does
		default:
			v.state[k] = msgAttached
			for _, i := range byAddr[m.addr] {
				v.thread[i] = append(v.thread[i], k)
			}
		}
	}
	rank := func(s source) int {
		if s.handover() {
			return len(batches) + s.index()
		}
		return s.index()
	}
	for _, ks := range v.thread {
		slices.SortFunc(ks, func(a, b int) int {
			return cmp.Or(cmp.Compare(rank(msgs[a].src), rank(msgs[b].src)), cmp.Compare(msgs[a].pos, msgs[b].pos), bytes.Compare(msgs[a].key[:], msgs[b].key[:]))
		})
	}
	return v
}

// replyTo reports whether e, a known reply (or nil), was written to a
// testimony whose return address is addr.
func replyTo(e *replyEntry, addr address, rows []row, byRef map[[16]byte][]int) bool {
	if e == nil {
		return false
	}
	var ref [16]byte
	if _, err := hex.Decode(ref[:], []byte(e.Ref)); err != nil {
		return false
	}
	for _, i := range byRef[ref] {
		if rows[i].ret == addr {
			return true
		}
	}
	return false
}

// live reports whether row i is in the exports: not withdrawn.
func (w *Workspace) live(i int) bool { return w.view == nil || i >= len(w.view.out) || !w.view.out[i] }

// messageLine returns the line of data/messages for m, a message read
// with the study version s: the version, the language, the kind, the
// reply a follow-up answers and the answers as the plaintext holds them
// (a string, or an array for an answer written as one), ids sorted. The
// thread's address and the signature are not in it: the registry keeps
// the address, sealed.
func messageLine(s *config.Study, m *response.Message) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"version":`...)
	b = appendJSONString(b, s.Version())
	b = append(b, `,"lang":`...)
	b = appendJSONString(b, m.Language)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, string(m.Kind))
	if m.Kind == response.Followup {
		b = append(b, `,"reply":`...)
		b = appendJSONString(b, m.Reply)
	}
	b = append(b, `,"answers":{`...)
	for i, id := range slices.Sorted(maps.Keys(m.Answers)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
		b = append(b, ':')
		vals := m.Answers[id]
		if m.Lists[id] {
			b = append(b, '[')
			for j, x := range vals {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, x)
			}
			b = append(b, ']')
		} else if len(vals) > 0 {
			b = appendJSONString(b, vals[0])
		} else {
			b = append(b, `""`...)
		}
	}
	return append(b, "}}\n"...)
}

// storedMessage is a line of data/messages, read.
type storedMessage struct {
	Version string                     `json:"version"`
	Lang    string                     `json:"lang"`
	Kind    string                     `json:"kind"`
	Reply   string                     `json:"reply"`
	Answers map[string]json.RawMessage `json:"answers"`
}

// message returns the message the line holds, without its thread and
// signature.
func (sm *storedMessage) message() (*response.Message, error) {
	m := &response.Message{Version: sm.Version, Language: sm.Lang, Kind: response.Kind(sm.Kind), Reply: sm.Reply,
		Answers: map[string][]string{}, Lists: map[string]bool{}}
	for id, raw := range sm.Answers {
		if len(raw) > 0 && raw[0] == '[' {
			var vals []string
			if err := json.Unmarshal(raw, &vals); err != nil {
				return nil, err
			}
			m.Answers[id], m.Lists[id] = vals, true
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		m.Answers[id] = []string{s}
	}
	return m, nil
}

// messageReader reads lines of data/messages.
type messageReader struct {
	f   *os.File
	buf []byte
}

func (w *Workspace) openMessages() (*messageReader, error) {
	f, err := os.Open(filepath.Join(w.dir, messagesFile))
	if err != nil {
		return nil, fmt.Errorf("failed to read messages: %w", err)
	}
	return &messageReader{f: f}, nil
}

func (r *messageReader) Close() error { return r.f.Close() }

func (r *messageReader) read(m *msgEntry) (*storedMessage, error) {
	if int64(cap(r.buf)) < m.n {
		r.buf = make([]byte, m.n)
	}
	r.buf = r.buf[:m.n]
	if _, err := r.f.ReadAt(r.buf, m.off); err != nil {
		return nil, fmt.Errorf("failed to read messages: %w", err)
	}
	var sm storedMessage
	if err := json.Unmarshal(r.buf, &sm); err != nil {
		return nil, fmt.Errorf("%s is damaged at byte %d: restore the workspace from a backup", messagesFile, m.off)
	}
	return &sm, nil
}

// checkFollowups checks, against the reply it answers, every follow-up of
// msgs not checked yet whose reply is known, and records the result in it.
func (w *Workspace) checkFollowups(msgs []msgEntry, replies []replyEntry) error {
	known := map[string]*replyEntry{}
	for i := range replies {
		if !replies[i].queued() {
			known[replies[i].ID] = &replies[i]
		}
	}
	withdrawn := map[address]bool{}
	for _, m := range msgs {
		if m.kind == kindWithdrawal {
			withdrawn[m.addr] = true
		}
	}
	var r *messageReader
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	for k := range msgs {
		m := &msgs[k]
		e := known[m.replyID()]
		if m.kind != kindFollowup || m.check != followupUnchecked || e == nil || withdrawn[m.addr] {
			continue
		}
		if r == nil {
			var err error
			if r, err = w.openMessages(); err != nil {
				return err
			}
		}
		sm, err := r.read(m)
		if err != nil {
			return err
		}
		msg, err := sm.message()
		if err != nil {
			return fmt.Errorf("%s is damaged at byte %d: restore the workspace from a backup", messagesFile, m.off)
		}
		c, err := reply.ParseContent(e.Content)
		if err != nil {
			return fmt.Errorf("malformed %s: reply %s: %w", registryFile, e.ID, err)
		}
		s := w.versions[sm.Version]
		if s == nil {
			return fmt.Errorf("%s names version %s of the study, which the workspace no longer holds: restore %s from a backup", messagesFile, config.ShortVersion(sm.Version), versionsDir)
		}
		m.check = followupValid
		if response.ValidateFollowup(s, c, msg) != nil {
			m.check = followupInvalid
		}
	}
	return nil
}

// threadsDigest names what the thread exports show: every message and
// what became of it. The exports of threads are stale when it changes.
func (w *Workspace) threadsDigest() string {
	if len(w.msgs) == 0 {
		return ""
	}
	h := sha256.New()
	for k, m := range w.msgs {
		h.Write(m.key[:])
		h.Write([]byte{byte(w.view.state[k])})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// threadExport reads what the thread writers of package export need.
type threadExport struct {
	w       *Workspace
	r       *messageReader
	replies map[string]*threadReply
}

type threadReply struct {
	content *reply.Content
	by      string
}

func (w *Workspace) newThreadExport() (*threadExport, error) {
	t := &threadExport{w: w, replies: map[string]*threadReply{}}
	for _, e := range w.st.Replies {
		if e.queued() {
			continue
		}
		c, err := reply.ParseContent(e.Content)
		if err != nil {
			return nil, fmt.Errorf("malformed %s: reply %s: %w", registryFile, e.ID, err)
		}
		t.replies[e.ID] = &threadReply{c, e.By}
	}
	if len(w.msgs) > 0 {
		r, err := w.openMessages()
		if err != nil {
			return nil, err
		}
		t.r = r
	}
	return t, nil
}

func (t *threadExport) Close() {
	if t.r != nil {
		t.r.Close()
	}
}

// messages returns the thread of row i, for the testimony named as r
// names it.
func (t *threadExport) messages(i int, r export.Row) ([]export.ThreadMessage, error) {
	ks := t.w.view.thread[i]
	if len(ks) == 0 {
		return nil, nil
	}
	out := make([]export.ThreadMessage, 0, len(ks))
	for n, k := range ks {
		m := &t.w.msgs[k]
		sm, err := t.r.read(m)
		if err != nil {
			return nil, err
		}
		msg, err := sm.message()
		if err != nil {
			return nil, fmt.Errorf("%s is damaged at byte %d: restore the workspace from a backup", messagesFile, m.off)
		}
		tm := export.ThreadMessage{Pseudonym: r.Pseudonym, PseudonymRoman: r.PseudonymRoman, N: n + 1, Kind: sm.Kind, Language: sm.Lang, Version: sm.Version, Answers: msg.Answers}
		if m.kind == kindFollowup {
			rp := t.replies[m.replyID()]
			if rp == nil {
				return nil, fmt.Errorf("malformed %s: a follow-up answers reply %s, which it does not hold", registryFile, m.replyID())
			}
			tm.Reply, tm.ReplyBy = rp.content, rp.by
		}
		out = append(out, tm)
	}
	return out, nil
}

// redactAddresses returns plain with every return address in it replaced
// by its prefix and "…": a plaintext shown in quarantine.jsonl must not
// hold a key that finds a person's replies.
func redactAddresses(plain []byte) []byte {
	return addressRE.ReplaceAll(plain, []byte(returnkey.AddressPrefix+"…"))
}

var addressRE = regexp.MustCompile(regexp.QuoteMeta(returnkey.AddressPrefix) + `[a-z2-7]+`)

// checkReplies checks the replies a registry holds.
func checkReplies(es []replyEntry, study string) error {
	ids := map[string]bool{}
	for _, e := range es {
		c, err := reply.ParseContent(e.Content)
		switch {
		case err != nil:
			return fmt.Errorf("reply: %v", err)
		case c.ID != e.ID || c.Study != study || ids[e.ID]:
			return errors.New("reply id")
		case !envelope.IsFingerprint(e.By) || !isHexRef(e.Ref):
			return errors.New("reply author or reference")
		case e.queued() != (e.Number < 0), e.Number >= returnkey.MaxReplies, !e.queued() && !isHexHash(e.Batch):
			return errors.New("reply number")
		}
		ids[e.ID] = true
	}
	return nil
}

// replies returns the replies known: saved, and queued, imported or
// written in this run.
func (w *Workspace) replies() []replyEntry {
	out := slices.Clone(w.st.Replies)
	if w.run == nil {
		return out
	}
	out = append(out, w.run.replies...)
	for i := range out {
		if e, ok := w.run.written[out[i].ID]; ok {
			out[i] = e
		}
	}
	return slices.DeleteFunc(out, func(e replyEntry) bool { return e.queued() && slices.Contains(w.run.dropped, e.ID) })
}

// rowOf returns the index of the row of the envelope key, or -1.
func (w *Workspace) rowOf(key [32]byte) int {
	for i, r := range w.rows {
		if r.key == key {
			return i
		}
	}
	return -1
}

// threadCounts says what a run changed in the threads.
type threadCounts struct {
	// attached counts follow-ups and additions newly attached, withdrawn
	// the testimonies newly withdrawn, quarantined the messages newly held.
	attached, withdrawn, quarantined int
	// touched holds the rows whose thread changed.
	touched map[int]bool
}

// threadChanges compares v, what the messages come to after the run, with
// what they came to before it (w.view).
func (w *Workspace) threadChanges(v *threadView, msgs []msgEntry) threadCounts {
	old := w.view
	c := threadCounts{touched: map[int]bool{}}
	for k, now := range v.state {
		was, existed := msgState(0), k < len(old.state)
		if existed {
			was = old.state[k]
		}
		kind := msgs[k].kind
		if now == msgAttached && (kind == kindFollowup || kind == kindAddition) && (!existed || was != msgAttached) {
			c.attached++
		}
		if now.quarantined() && (!existed || !was.quarantined()) {
			c.quarantined++
		}
	}
	for i, out := range v.out {
		if out && (i >= len(old.out) || !old.out[i]) {
			c.withdrawn++
		}
	}
	for i, ks := range v.thread {
		if !slices.Equal(ks, old.thread[i]) {
			c.touched[i] = true
		}
	}
	for i := range old.thread {
		if _, ok := v.thread[i]; !ok {
			c.touched[i] = true
		}
	}
	return c
}

// scrubWithdrawn overwrites with spaces, in data/, the lines of what the
// people who withdrew wrote: their testimonies and every message on their
// threads. With before, the view before the last Close, only what that
// Close withdrew; with nil, everything withdrawn (lines already blank are
// left alone), as Open does after a crash. The ciphertexts stay in the
// batches the workspace keeps, which are signed whole.
func (w *Workspace) scrubWithdrawn(before *threadView) error {
	var lines [][2]int64 // of data/testimonies
	for i, out := range w.view.out {
		if out && (before == nil || i >= len(before.out) || !before.out[i]) {
			lines = append(lines, [2]int64{w.rows[i].off, w.rows[i].n})
		}
	}
	var mlines [][2]int64 // of data/messages
	for k, st := range w.view.state {
		if st == msgWithdrawn && (before == nil || k >= len(before.state) || before.state[k] != msgWithdrawn) {
			mlines = append(mlines, [2]int64{w.msgs[k].off, w.msgs[k].n})
		}
	}
	if err := scrubLines(filepath.Join(w.dir, dataFile), lines); err != nil {
		return err
	}
	return scrubLines(filepath.Join(w.dir, messagesFile), mlines)
}

// scrubLines overwrites each line (offset, length) of the file at path
// with spaces, keeping its newline, and makes it durable.
func scrubLines(path string, lines [][2]int64) error {
	if len(lines) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("failed to remove what a withdrawn testimony said: %w", err)
	}
	defer f.Close()
	wrote := false
	var buf []byte
	for _, l := range lines {
		if cap(buf) < int(l[1]) {
			buf = make([]byte, l[1])
		}
		buf = buf[:l[1]]
		if _, err := f.ReadAt(buf, l[0]); err != nil {
			return fmt.Errorf("failed to remove what a withdrawn testimony said: %w", err)
		}
		blank := bytes.Repeat([]byte{' '}, len(buf)-1)
		blank = append(blank, '\n')
		if bytes.Equal(buf, blank) {
			continue
		}
		if _, err := f.WriteAt(blank, l[0]); err != nil {
			return fmt.Errorf("failed to remove what a withdrawn testimony said: %w", err)
		}
		wrote = true
	}
	if wrote {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("failed to remove what a withdrawn testimony said: %w", err)
		}
	}
	return nil
}

// exportThreads writes thread.jsonl and followups.csv: the messages
// attached to every testimony not withdrawn, testimonies in the order of
// the exports, each thread in order.
func (w *Workspace) exportThreads() error {
	t, err := w.newThreadExport()
	if err != nil {
		return err
	}
	defer t.Close()
	msgs := func(yield func(export.ThreadMessage, error) bool) {
		for _, i := range w.exportOrder() {
			if len(w.view.thread[i]) == 0 {
				continue
			}
			name, _ := w.names.Lookup(hexKey(w.rows[i].key))
			ms, err := t.messages(i, export.Row{Pseudonym: name.Hangul, PseudonymRoman: name.Roman})
			if err != nil {
				yield(export.ThreadMessage{}, err)
				return
			}
			for _, m := range ms {
				if !yield(m, nil) {
					return
				}
			}
		}
	}
	if err := atomicfile.Write(filepath.Join(w.dir, threadFile), 0o600, func(out io.Writer) error { return export.WriteThreadJSONL(out, msgs) }); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(w.dir, followupsFile), 0o600, func(out io.Writer) error { return export.WriteFollowupsCSV(out, msgs) })
}

// writeHeldMessages writes a line of quarantine.jsonl for every message
// held (thread-unknown, reply-unknown, or a follow-up whose answers break
// its reply's rules), with the message as data/messages holds it.
func (w *Workspace) writeHeldMessages(out io.Writer) error {
	var r *messageReader
	defer func() {
		if r != nil {
			r.Close()
		}
	}()
	var known map[string][]byte
	for k := range w.msgs {
		st := w.view.state[k]
		if !st.quarantined() {
			continue
		}
		if r == nil {
			var err error
			if r, err = w.openMessages(); err != nil {
				return err
			}
			known = map[string][]byte{}
			for _, e := range w.st.Replies {
				if !e.queued() {
					known[e.ID] = e.Content
				}
			}
		}
		m := &w.msgs[k]
		sm, err := r.read(m)
		if err != nil {
			return err
		}
		q := Quarantined{Reason: st.reason().code(), Explanation: st.reason().explanation(), Message: bytes.TrimSuffix(bytes.Clone(r.buf), []byte("\n"))}
		if st == msgBreaksRules {
			q.Problems = map[string]string{}
			msg, err1 := sm.message()
			c, err2 := reply.ParseContent(known[m.replyID()])
			if s := w.versions[sm.Version]; err1 == nil && err2 == nil && s != nil {
				var ps response.Problems
				if err := response.ValidateFollowup(s, c, msg); errors.As(err, &ps) {
					for id, p := range ps {
						q.Problems[id] = p.String()
					}
				}
			}
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(q); err != nil {
			return err
		}
		if _, err := out.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
