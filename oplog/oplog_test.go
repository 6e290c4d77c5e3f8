package oplog

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestLinesHoldOnlyTheVocabulary checks every line is JSON with only the
// fixed field names, and the time only as a UTC day.
func TestLinesHoldOnlyTheVocabulary(t *testing.T) {
	var b bytes.Buffer
	l := New(&b)
	l.Event(ServerStarted)
	l.Addr(OnionPublished, "abc.onion")
	l.Path(SubmissionStored, "form")
	l.Rejected("sealed", "too_large")
	l.Count(BatchExported, 12)
	l.Error(StoreUnavailable, "form")
	z := l.Zerolog()
	z.Info().Str("event", string(TorBootstrap)).Int("progress", 50).Send()
	allowed := map[string]bool{"level": true, "event": true, "day": true, "addr": true, "path": true, "reason": true, "count": true, "code": true, "progress": true}
	day := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines, want 7:\n%s", len(lines), b.String())
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		for k := range m {
			if !allowed[k] {
				t.Errorf("field %q is not in the vocabulary: %s", k, line)
			}
		}
		if d, _ := m["day"].(string); !day.MatchString(d) {
			t.Errorf("day %q is not a UTC date: %s", d, line)
		}
		if _, ok := m["time"]; ok {
			t.Errorf("line carries a precise time: %s", line)
		}
	}
}

func TestNilWriterDiscards(t *testing.T) {
	New(nil).Event(ServerStarted) // must not panic
}
