package researcher

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunSavedWhenExportsFail: a Close that saved the run (its registry
// sealed) and then failed to write the exports reports the run saved, and
// the run's audit record reaches the log when the workspace is next
// opened; a Close that failed before saving does not.
func TestRunSavedWhenExportsFail(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	if err := decryptRun(dir, f.study, f.ids[0], f.verifier, f.batch(t, f.envelope(t, "a"))); err != nil {
		t.Fatal(err)
	}
	ws := f.open(t, dir, f.ids[0])
	if _, _, err := ws.Receipt(); err != nil {
		t.Fatal(err)
	}
	// The exports cannot be written: folders stand where they go.
	for _, name := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv", "testimonies.xlsx"} {
		os.Remove(filepath.Join(dir, name))
		os.Mkdir(filepath.Join(dir, name), 0o700)
	}
	if err := ws.Close(); err == nil || !ws.RunSaved() {
		t.Fatalf("Close with exports that cannot be written: %v, run saved %v; want an error after the run was saved", err, ws.RunSaved())
	}
	for _, name := range []string{"testimonies.csv", "testimonies.jsonl", "codebook.csv", "testimonies.xlsx"} {
		os.Remove(filepath.Join(dir, name))
	}
	ws = f.open(t, dir, f.ids[0])
	if ws.RunSaved() {
		t.Error("a run not closed yet reports itself saved")
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if l := auditLines(t, dir); !slices.ContainsFunc(l, func(s string) bool { return strings.Contains(s, "receipt-issued") }) {
		t.Errorf("the receipt of the saved run is not in the audit log:\n%s", strings.Join(l, "\n"))
	}
}
