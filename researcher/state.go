package researcher

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/testimony-project/testimony/pseudonym"
)

// stateVersion is the version of the sealed registry's contents.
const stateVersion = 2

// state is what registry.sealed holds, sealed to the researcher. It is the
// workspace's commit record: whatever it does not count did not happen.
//
// Encoded (see encodeState) as the line "testimony workspace state v2",
// then, each preceded by its length as a big-endian integer of 4 bytes for
// the first and 8 for the others: the JSON of state; the pseudonym registry
// (pseudonym.Registry.MarshalBinary, keyed by the hex SHA-256 of each
// testimony's envelope); the rows, in the order of the exports (rowSize
// bytes each, see row); the quarantined envelopes (qentrySize bytes each,
// see qentry).
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
	// ExaminedStudy (the hex SHA-256 of the study file) and ExaminedRules
	// (examinationRules) are what the quarantine was last examined against.
	ExaminedStudy string `json:"examined_study"`
	ExaminedRules int    `json:"examined_rules"`
	// Epoch counts renames, so that exports made before one are known to
	// be stale.
	Epoch int64 `json:"epoch"`
	// Audit holds the records of the last Close, to be appended to the
	// audit log after the registry is sealed; AuditBase is the size of the
	// log before them.
	AuditBase int64    `json:"audit_base"`
	Audit     []string `json:"audit"`
}

// row is one testimony: its envelope's SHA-256 and where its line is in
// data/testimonies. Encoded as key (32) || u64be offset || u32be length.
type row struct {
	key [32]byte
	off int64
	n   int64
}

const rowSize = 32 + 8 + 4

// qentry is one quarantined envelope: its SHA-256, the batch holding it
// (index into state.Batches), the reason and where the examination's line
// is in data/quarantined. Encoded as key (32) || u32be batch || u8 reason ||
// u64be offset || u32be length.
type qentry struct {
	key    [32]byte
	batch  int
	reason reason
	off    int64
	n      int64
}

const qentrySize = 32 + 4 + 1 + 8 + 4

const stateMagic = "testimony workspace state v2\n"

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
		b = binary.BigEndian.AppendUint64(b, uint64(r.off))
		b = binary.BigEndian.AppendUint32(b, uint32(r.n))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(quar)*qentrySize))
	for _, e := range quar {
		b = append(b, e.key[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(e.batch))
		b = append(b, byte(e.reason))
		b = binary.BigEndian.AppendUint64(b, uint64(e.off))
		b = binary.BigEndian.AppendUint32(b, uint32(e.n))
	}
	return b, nil
}

// decodeState splits the encoding of a state into its parts.
func decodeState(b []byte) (j, reg, rows, quar []byte, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(stateMagic))
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
	for _, h := range st.Batches {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return bad("batch hash")
		}
	}
	w.rows = make([]row, 0, len(rowBytes)/rowSize)
	for b := rowBytes; len(b) > 0; b = b[rowSize:] {
		var r row
		copy(r.key[:], b)
		r.off = int64(binary.BigEndian.Uint64(b[32:]))
		r.n = int64(binary.BigEndian.Uint32(b[40:]))
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
		e.batch = int(binary.BigEndian.Uint32(b[32:]))
		e.reason = reason(b[36])
		e.off = int64(binary.BigEndian.Uint64(b[37:]))
		e.n = int64(binary.BigEndian.Uint32(b[45:]))
		if e.batch >= len(st.Batches) || e.reason.code() == "" || e.n == 0 || e.off < 0 || e.off+e.n > st.QuarantineData {
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
	return nil
}
