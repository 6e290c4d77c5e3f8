package xlsform

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// testRecipients are two researchers with keys made from fixed secrets,
// which are not the example's placeholders.
func testRecipients(t testing.TB) []config.Recipient {
	t.Helper()
	var out []config.Recipient
	for i, name := range []string{"Researcher A", "Researcher B"} {
		id, err := envelope.NewIdentity(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, config.Recipient{Name: name, PublicKey: id.Recipient().String()})
	}
	return out
}

// caseSheets returns the sheets of a test case: its sections named
// "sheet NAME", in order.
func caseSheets(a archive) []sheetSpec {
	var sheets []sheetSpec
	for _, s := range a.sections {
		if name, ok := strings.CutPrefix(s.name, "sheet "); ok {
			sheets = append(sheets, sheetSpec{name: name, rows: parseTSV(s.body)})
		}
	}
	return sheets
}

func lines(errs []*Error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestForms converts each form of testdata/cases (written in the patterns
// of ODK's and KoboToolbox's documentation: basic forms, groups, several
// languages, skip logic, constraints, and each feature testimony refuses)
// and compares the study file, or the error lines, and the warnings with
// those the case expects. The .xlsx files in testdata/forms are generated
// from the cases; -update rewrites them and the expected results.
func TestForms(t *testing.T) {
	files, err := filepath.Glob("testdata/cases/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(string(src))
			data := buildXLSX(t, caseSheets(a))
			xlsxPath := filepath.Join("testdata", "forms", name+".xlsx")
			if *update {
				if err := os.WriteFile(xlsxPath, data, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				committed, err := os.ReadFile(xlsxPath)
				if err != nil {
					t.Fatalf("%v; run go test ./xlsform -run TestForms -update", err)
				}
				if !bytes.Equal(committed, data) {
					t.Fatalf("%s does not match %s; run go test ./xlsform -run TestForms -update", xlsxPath, file)
				}
			}

			res, err := ConvertBytes(data, Options{Name: name + ".xlsx", Recipients: testRecipients(t)})
			var gotYAML, gotErrs, gotWarns string
			if err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("error is not an Errors: %v", err)
				}
				gotErrs = lines(errs)
			} else {
				gotYAML = string(res.YAML)
				gotWarns = lines(res.Warnings)
			}
			if *update {
				a.remove("want.yaml")
				a.remove("want.errors")
				a.remove("want.warnings")
				if gotErrs != "" {
					a.set("want.errors", gotErrs)
				} else {
					a.set("want.yaml", gotYAML)
					if gotWarns != "" {
						a.set("want.warnings", gotWarns)
					}
				}
				if err := os.WriteFile(file, []byte(a.format()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantYAML, _ := a.get("want.yaml")
			wantErrs, _ := a.get("want.errors")
			wantWarns, _ := a.get("want.warnings")
			if gotErrs != wantErrs {
				t.Errorf("errors:\n%s\nwant:\n%s", gotErrs, wantErrs)
			}
			if gotYAML != wantYAML {
				t.Errorf("study file:\n%s\nwant:\n%s", gotYAML, wantYAML)
			}
			if gotWarns != wantWarns {
				t.Errorf("warnings:\n%s\nwant:\n%s", gotWarns, wantWarns)
			}
			if res != nil && !res.Conditions && (strings.Contains(gotYAML, "\n    relevant:") || strings.Contains(gotYAML, "\n    constraint:")) {
				t.Log("conditions checked by package expr only: config.Parse does not read expressions yet (branch conditions), so the study was parsed without them")
			}
		})
	}
}
