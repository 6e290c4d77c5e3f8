package researcher

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/testimony-project/testimony/pseudonym"
)

// stateVersion is the version of the sealed registry's contents.
const stateVersion = 3

// state is what registry.sealed holds, sealed to the researcher. It is the
// workspace's commit record: whatever it does not count did not happen.
//
// Encoded (see encodeState) as the line "testimony workspace state v3",
// then, each preceded by its length as a big-endian integer of 4 bytes for
// the first and 8 for the others: the JSON of state; the pseudonym registry
// (pseudonym.Registry.MarshalBinary, the drawn names, keyed by the hex
// SHA-256 of each testimony's envelope); the rows, in the order of the
// exports (rowSize bytes each, see row); the quarantined envelopes
// (qentrySize bytes each, see qentry).
type state struct {
	Version int    `json:"v"`
	Study   string `json:"study"`
	// Data is the length of data/testimonies that the rows cover, and
	// QuarantineData the length of data/quarantined.
	Data           int64 `json:"data"`
	QuarantineData int64 `json:"quarantine_data"`
	// Batches are the hex SHA-256s of the manifests of every batch imported,
	// in order.
	Batches []string `json:"batches"`
	// Handovers are the hex SHA-256s of every handover file imported, in
	// order (kept in handovers/).
	Handovers []string `json:"handovers,omitempty"`
	// Renames are every rename known: made here or received.
	Renames []claim `json:"renames,omitempty"`
	// Lang is the language of question labels in the exports, and Labels
	// that of testimonies-labels-<lang>.csv, or "".
	Lang   string `json:"lang,omitempty"`
	Labels string `json:"labels,omitempty"`
	// ExaminedStudy (the hex SHA-256 of the study file) and ExaminedRules
	// (examinationRules) are what the quarantine was last examined against.
	ExaminedStudy string `json:"examined_study"`
	ExaminedRules int    `json:"examined_rules"`
	// Audit holds the records of the last Close, to be appended to the
	// audit log after the registry is sealed; AuditBase is the size of the
	// log before them.
	AuditBase int64    `json:"audit_base"`
	Audit     []string `json:"audit"`
}

// claim is a rename: testimony ref, name, clock and the fingerprint of the
// researcher who made it (see pseudonym.Rename).
type claim struct {
	By     string `json:"by"`
	Clock  uint64 `json:"clock"`
	Ref    string `json:"ref"`
	Hangul string `json:"hangul"`
	Roman  string `json:"roman"`
}

// row is one testimony: its envelope's SHA-256, its testimony reference
// (DESIGN.md §6) and where its line is in data/testimonies. Encoded as key
// (32) || ref (16) || u64be offset || u32be length.
type row struct {
	key [32]byte
	ref [16]byte
	off int64
	n   int64
}

const rowSize = 32 + 16 + 8 + 4

// qentry is one quarantined envelope: its SHA-256, the file holding its
// ciphertext (a source: an index into state.Batches, or with the top bit
// set into state.Handovers), the reason and where the examination's line is
// in data/quarantined. Encoded as key (32) || u32be source || u8 reason ||
// u64be offset || u32be length.
type qentry struct {
	key    [32]byte
	src    source
	reason reason
	off    int64
	n      int64
}

// source is where the workspace keeps an envelope's ciphertext: a kept
// batch, or with handoverSource set a kept handover file.
type source uint32

const handoverSource source = 1 << 31

func batchSource(i int) source  { return source(i) }
func handoverAt(i int) source   { return source(i) | handoverSource }
func (s source) handover() bool { return s&handoverSource != 0 }
func (s source) index() int     { return int(s &^ handoverSource) }

const qentrySize = 32 + 4 + 1 + 8 + 4

const stateMagic = "testimony workspace state v3\n"

// encodeState encodes the workspace's state: st, the registry, rows and
// quarantine, in one buffer allocated once.
func encodeState(st *state, reg *pseudonym.Registry, rows []row, quar []qentry) ([]byte, error) {
	j, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	size := len(stateMagic) + 4 + len(j) + 8 + reg.Len()*110 + 64 + 8 + len(rows)*rowSize + 8 + len(quar)*qentrySize
	b := make([]byte, 0, size)
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(j)))
	b = append(b, j...)
	at := len(b)
	b = binary.BigEndian.AppendUint64(b, 0)
	if b, err = reg.AppendBinary(b); err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint64(b[at:], uint64(len(b)-at-8))
	b = binary.BigEndian.AppendUint64(b, uint64(len(rows)*rowSize))
	for _, r := range rows {
		b = append(b, r.key[:]...)
		b = append(b, r.ref[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.off))
		b = binary.BigEndian.AppendUint32(b, uint32(r.n))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(quar)*qentrySize))
	for _, e := range quar {
		b = append(b, e.key[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(e.src))
		b = append(b, byte(e.reason))
		b = binary.BigEndian.AppendUint64(b, uint64(e.off))
		b = binary.BigEndian.AppendUint32(b, uint32(e.n))
	}
	return b, nil
}

// decodeState splits the encoding of a state into its parts.
func decodeState(b []byte) (j, reg, rows, quar []byte, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(stateMagic))
	if bytes.HasPrefix(b, []byte("testimony workspace state v2\n")) {
		return nil, nil, nil, nil, false
	}
	if !ok || len(rest) < 4 {
		return nil, nil, nil, nil, false
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(len(rest)) < uint64(n) {
		return nil, nil, nil, nil, false
	}
	j, rest = rest[:n], rest[n:]
	var parts [3][]byte
	for i := range parts {
		if len(rest) < 8 {
			return nil, nil, nil, nil, false
		}
		n := binary.BigEndian.Uint64(rest)
		rest = rest[8:]
		if uint64(len(rest)) < n {
			return nil, nil, nil, nil, false
		}
		parts[i], rest = rest[:n], rest[n:]
	}
	return j, parts[0], parts[1], parts[2], len(rest) == 0
}

// load reads the sealed registry into w.
func (w *Workspace) load(sealed []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("malformed %s (%s): restore the workspace from a backup", registryFile, what)
	}
	plain, err := unseal(sealed, w.id)
	if err != nil {
		return fmt.Errorf("failed to open %s: %w", registryFile, err)
	}
	defer clear(plain)
	if bytes.HasPrefix(plain, []byte("testimony workspace state v2\n")) {
		return fmt.Errorf("workspace %s was made by an earlier version of researcher, which kept no testimony references: decrypt its batches (%s) into a new folder", w.dir, filepath.Join(w.dir, batchesDir))
	}
	j, regBytes, rowBytes, quarBytes, ok := decodeState(plain)
	if !ok {
		return bad("structure")
	}
	if err := json.Unmarshal(j, &w.st); err != nil {
		return bad(err.Error())
	}
	st := &w.st
	if st.Version != stateVersion {
		return bad(fmt.Sprintf("version %d", st.Version))
	}
	if st.Study != w.study.ID {
		return fmt.Errorf("workspace %s holds study %q, not %q: use another folder", w.dir, st.Study, w.study.ID)
	}
	if err := w.reg.UnmarshalBinary(regBytes); err != nil {
		return fmt.Errorf("malformed %s: %w", registryFile, err)
	}
	if len(rowBytes)%rowSize != 0 || len(quarBytes)%qentrySize != 0 {
		return bad("length")
	}
	for _, h := range slices.Concat(st.Batches, st.Handovers) {
		if !isHexHash(h) {
			return bad("batch hash")
		}
	}
	for _, c := range st.Renames {
		if _, err := c.rename(); err != nil {
			return bad("rename: " + err.Error())
		}
	}
	w.rows = make([]row, 0, len(rowBytes)/rowSize)
	for b := rowBytes; len(b) > 0; b = b[rowSize:] {
		var r row
		copy(r.key[:], b)
		copy(r.ref[:], b[32:])
		r.off = int64(binary.BigEndian.Uint64(b[48:]))
		r.n = int64(binary.BigEndian.Uint32(b[56:]))
		if _, ok := w.reg.Lookup(hexKey(r.key)); !ok || r.n == 0 || r.off < 0 || r.off+r.n > st.Data {
			return bad("row")
		}
		w.rows = append(w.rows, r)
	}
	if len(w.rows) != w.reg.Len() {
		return bad("rows and pseudonyms differ in number")
	}
	w.quar = make([]qentry, 0, len(quarBytes)/qentrySize)
	for b := quarBytes; len(b) > 0; b = b[qentrySize:] {
		var e qentry
		copy(e.key[:], b)
		e.src = source(binary.BigEndian.Uint32(b[32:]))
		e.reason = reason(b[36])
		e.off = int64(binary.BigEndian.Uint64(b[37:]))
		e.n = int64(binary.BigEndian.Uint32(b[45:]))
		if !e.src.handover() && e.src.index() >= len(st.Batches) || e.src.handover() && e.src.index() >= len(st.Handovers) || e.reason.code() == "" || e.n == 0 || e.off < 0 || e.off+e.n > st.QuarantineData {
			return bad("quarantine entry")
		}
		if _, dup := w.qindex[e.key]; dup {
			return bad("quarantine entry repeated")
		}
		w.qindex[e.key] = len(w.quar)
		w.quar = append(w.quar, e)
	}
	if slices.ContainsFunc(w.st.Audit, func(s string) bool { return s == "" }) || st.AuditBase < 0 {
		return bad("audit records")
	}
	w.applyRenames()
	return nil
}
