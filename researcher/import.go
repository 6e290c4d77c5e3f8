package researcher

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/batch"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/response"
	"golang.org/x/mod/sumdb/note"
)

// Summary says what one import did.
type Summary struct {
	ManifestSHA256 [32]byte // of the batch's signed manifest, for the audit log
	Envelopes      int      // in the batch
	Imported       int      // new testimonies
	Skipped        int      // already imported or quarantined
	Quarantined    int      // newly quarantined
}

// Import reads a batch, refusing it whole unless it carries a valid
// signature by the server key and every envelope matches the manifest, then
// opens, checks and adds every envelope not seen before. progress, if not
// nil, is called as envelopes are processed.
func (w *Workspace) Import(r io.Reader, server note.Verifier, progress func(done, total int)) (*Summary, error) {
	m, envs, err := batch.Read(r, server)
	if err != nil {
		return nil, err
	}
	if m.StudyID != w.study.ID {
		return nil, fmt.Errorf("batch %s is for study %q, not %q: use the study file it was exported for", m.BatchID, m.StudyID, w.study.ID)
	}
	sum := &Summary{ManifestSHA256: m.Hash, Envelopes: len(envs)}

	seen := map[string]bool{}
	for _, k := range w.state.Quarantined {
		seen[k] = true
	}
	type result struct {
		key     string
		plain   []byte
		resp    *response.Response
		answers map[string]json.RawMessage
		err     error
	}
	results := make([]result, len(envs))
	var todo []int
	for i := range envs {
		// batch.Read checked every envelope against its manifest hash.
		results[i].key = hexKey(m.Entries[i].SHA256)
		if _, ok := w.reg.Lookup(results[i].key); ok || seen[results[i].key] {
			sum.Skipped++
			continue
		}
		seen[results[i].key] = true // the same envelope twice in one batch
		todo = append(todo, i)
	}

	// Open and check in parallel; assign pseudonyms in batch order.
	var done int
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				res := &results[i]
				res.plain, res.err = envelope.Open(w.study.ID, envs[i].Data, w.id)
				if res.err == nil {
					res.resp, res.err = response.Unmarshal(w.study, res.plain)
				}
				if res.err == nil {
					res.answers, res.err = encodeAnswers(w.study, res.resp)
				}
				if progress != nil {
					mu.Lock()
					done++
					progress(done+sum.Skipped, len(envs))
					mu.Unlock()
				}
			}
		}()
	}
	for _, i := range todo {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if progress != nil && len(todo) == 0 {
		progress(len(envs), len(envs))
	}

	for _, i := range todo {
		res := &results[i]
		if res.err != nil {
			q := Quarantined{Reason: reason(res.err)}
			var ps response.Problems
			if errors.As(res.err, &ps) {
				q.Problems = map[string]string{}
				for id, p := range ps {
					q.Problems[id] = p.String()
				}
			}
			if res.plain != nil {
				q.Plaintext = string(res.plain)
			}
			w.quar = append(w.quar, q)
			w.state.Quarantined = append(w.state.Quarantined, res.key)
			sum.Quarantined++
			continue
		}
		name, err := w.reg.Assign(res.key, pseudonymSeed(w.study.ID, m.Entries[i].SHA256))
		if err != nil {
			return nil, err
		}
		t := Testimony{Pseudonym: name.Hangul, PseudonymRoman: name.Roman, Language: res.resp.Language, Answers: res.answers}
		w.rows = append(w.rows, t)
		sum.Imported++
	}
	now := time.Now()
	hash := hexKey(m.Hash)
	if !slices.Contains(w.state.Batches, hash) {
		w.state.Batches = append(w.state.Batches, hash)
		w.pending = append(w.pending, audit.BatchImported(m.Hash, len(envs), w.id.Recipient().Fingerprint(), now))
	}
	if sum.Quarantined > 0 {
		w.pending = append(w.pending, audit.TestimoniesQuarantined(sum.Quarantined, now))
	}
	w.dirty = true
	return sum, nil
}

func reason(err error) string {
	var ps response.Problems
	switch {
	case errors.Is(err, envelope.ErrNoIdentity):
		return "not sealed to this researcher's key"
	case errors.Is(err, envelope.ErrDamaged):
		return "envelope failed authentication"
	case errors.Is(err, envelope.ErrMalformed):
		return "malformed envelope"
	case errors.As(err, &ps):
		return "answers break the questionnaire's rules"
	default:
		return "malformed plaintext: " + err.Error()
	}
}

// encodeAnswers returns the answers of r as testimonies.jsonl holds them:
// as the plaintext holds them (response.Values), without escaping <, > and
// &, so that the file shows text as it was written.
func encodeAnswers(s *config.Study, r *response.Response) (map[string]json.RawMessage, error) {
	vals, err := response.Values(s, r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(vals))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for id, v := range vals {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		out[id] = bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	return out, nil
}

// pseudonymSeed returns the seed of a testimony's team pseudonym (DESIGN.md
// §6): SHA-512("testimony-pseudonym-v1" || 0x00 || S || K)[0:32].
//
// TODO(lead): K must be the envelope's content key, which envelope.Open
// will return (envelope branch). Until then callers pass the envelope's
// SHA-256, which the server and the audit log also know: switch every call
// to the content key at merge.
func pseudonymSeed(study string, k [32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte("testimony-pseudonym-v1"))
	h.Write([]byte{0})
	h.Write([]byte(study))
	h.Write(k[:])
	var seed [32]byte
	copy(seed[:], h.Sum(nil))
	return seed
}
