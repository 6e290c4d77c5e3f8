package researcher

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
)

// stateVersion is the version of the sealed registry's contents.
const stateVersion = 2

// state is what registry.sealed holds, as JSON, sealed to the researcher.
// It is the workspace's commit record: whatever it does not count did not
// happen.
type state struct {
	Version int    `json:"v"`
	Study   string `json:"study"`
	// Registry is the pseudonym registry (pseudonym.Registry.MarshalBinary),
	// keyed by the hex SHA-256 of each testimony's envelope.
	Registry []byte `json:"registry"`
	// Rows lists the testimonies in the order of the exports (rowSize bytes
	// each, see row).
	Rows []byte `json:"rows"`
	// Data is the length of data/testimonies that Rows covers.
	Data int64 `json:"data"`
	// Quarantine lists the quarantined envelopes (qentrySize bytes each, see
	// qentry), and QuarantineData the length of data/quarantined.
	Quarantine     []byte `json:"quarantine"`
	QuarantineData int64  `json:"quarantine_data"`
	// Batches are the hex SHA-256s of the manifests of every batch imported,
	// in order.
	Batches []string `json:"batches"`
	// Examined is the examination stamp (see examinationStamp) the
	// quarantine was last examined against.
	Examined string `json:"examined"`
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

func encodeRows(rows []row) []byte {
	b := make([]byte, 0, len(rows)*rowSize)
	for _, r := range rows {
		b = append(b, r.key[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(r.off))
		b = binary.BigEndian.AppendUint32(b, uint32(r.n))
	}
	return b
}

func encodeQuarantine(q []qentry) []byte {
	b := make([]byte, 0, len(q)*qentrySize)
	for _, e := range q {
		b = append(b, e.key[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(e.batch))
		b = append(b, byte(e.reason))
		b = binary.BigEndian.AppendUint64(b, uint64(e.off))
		b = binary.BigEndian.AppendUint32(b, uint32(e.n))
	}
	return b
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
	if err := json.Unmarshal(plain, &w.st); err != nil {
		return bad(err.Error())
	}
	clear(plain)
	st := &w.st
	if st.Version != stateVersion {
		return bad(fmt.Sprintf("version %d", st.Version))
	}
	if st.Study != w.study.ID {
		return fmt.Errorf("workspace %s holds study %q, not %q: use another folder", w.dir, st.Study, w.study.ID)
	}
	if err := w.reg.UnmarshalBinary(st.Registry); err != nil {
		return fmt.Errorf("malformed %s: %w", registryFile, err)
	}
	st.Registry = nil
	if len(st.Rows)%rowSize != 0 || len(st.Quarantine)%qentrySize != 0 {
		return bad("length")
	}
	for _, h := range st.Batches {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return bad("batch hash")
		}
	}
	w.rows = make([]row, 0, len(st.Rows)/rowSize)
	for b := st.Rows; len(b) > 0; b = b[rowSize:] {
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
	st.Rows = nil
	w.quar = make([]qentry, 0, len(st.Quarantine)/qentrySize)
	for b := st.Quarantine; len(b) > 0; b = b[qentrySize:] {
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
	st.Quarantine = nil
	if slices.ContainsFunc(w.st.Audit, func(s string) bool { return s == "" }) || st.AuditBase < 0 {
		return bad("audit records")
	}
	return nil
}
