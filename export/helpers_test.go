package export

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"os"
	"testing"

	"github.com/testimony-project/testimony/config"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sofficeProfile.dir != "" {
		os.RemoveAll(sofficeProfile.dir)
	}
	os.Exit(code)
}

// versions loads the test study's two versions, oldest first.
func versions(t testing.TB) []*config.Study {
	t.Helper()
	var out []*config.Study
	for _, name := range []string{"testdata/v1.yaml", "testdata/v2.yaml"} {
		s, err := config.Load(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func schema(t testing.TB) *Schema {
	t.Helper()
	s, err := NewSchema(versions(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func versionID(s *config.Study) string { return hex.EncodeToString(s.SHA256[:]) }

// current returns the id of the test study's current version.
func current(t testing.TB) string { return versionID(versions(t)[1]) }

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readCSV reads a CSV file as written, with Go's RFC 4180 reader.
func readCSV(t testing.TB, data []byte) [][]string {
	t.Helper()
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
