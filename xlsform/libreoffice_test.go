package xlsform

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/examples"
)

// soffice runs LibreOffice headless with a profile of its own, converting
// file into dir with the given filter.
func soffice(t *testing.T, bin, profile, filter, dir, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-env:UserInstallation=file://"+profile, "--headless", "--norestore", "--nolockcheck",
		"--convert-to", filter, "--outdir", dir, file)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice --convert-to %s: %v\n%s", filter, err, out)
	}
}

// TestExampleOpensInLibreOffice opens examples/nk-internet-access.xlsx in
// LibreOffice Calc, headless: every sheet, converted to CSV, holds the
// cells the example was written with (Korean, English and Chinese
// exactly); and the workbook as Calc saves it again converts to the same
// study, so the converter reads what a spreadsheet program writes, not
// only what excelize writes.
func TestExampleOpensInLibreOffice(t *testing.T) {
	bin, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("soffice not found: install libreoffice-calc (scripts/deps) to check that the example XLSForm opens in a spreadsheet program")
	}
	if testing.Short() {
		t.Skip("LibreOffice takes seconds to start; run without -short")
	}
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile")
	src := filepath.Join(dir, "nk-internet-access.xlsx")
	data, err := os.ReadFile(exampleXLSX)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}

	// Every sheet as CSV (UTF-8, comma, double quotes; -1: all sheets).
	csvDir := filepath.Join(dir, "csv")
	soffice(t, bin, profile, "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1", csvDir, src)
	for _, s := range exampleSheets(t, examples.NKInternetAccess) {
		f, err := os.Open(filepath.Join(csvDir, "nk-internet-access-"+s.name+".csv"))
		if err != nil {
			t.Fatalf("LibreOffice wrote no sheet %s: %v", s.name, err)
		}
		r := csv.NewReader(f)
		r.FieldsPerRecord = -1
		got, err := r.ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		trim := func(rows [][]string) [][]string {
			var out [][]string
			for _, row := range rows {
				for len(row) > 0 && row[len(row)-1] == "" {
					row = row[:len(row)-1]
				}
				out = append(out, row)
			}
			return out
		}
		want := trim(s.rows)
		got = trim(got)
		if len(got) != len(want) {
			t.Fatalf("sheet %s: LibreOffice reads %d rows, want %d", s.name, len(got), len(want))
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("sheet %s row %d: LibreOffice reads\n%q\nwant\n%q", s.name, i+1, got[i], want[i])
			}
		}
	}

	// The workbook as Calc saves it.
	xlsxDir := filepath.Join(dir, "xlsx")
	soffice(t, bin, profile, "xlsx:Calc MS Excel 2007 XML", xlsxDir, src)
	saved, err := os.ReadFile(filepath.Join(xlsxDir, "nk-internet-access.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := config.Parse("examples/nk-internet-access.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ConvertBytes(saved, Options{Name: "saved-by-libreoffice.xlsx", Recipients: want.Recipients, Limits: want.Limits})
	if err != nil {
		t.Fatalf("the example as LibreOffice saves it does not convert:\n%v", err)
	}
	if diff := diffStudies(want, res.Study, res.Conditions); diff != "" {
		t.Errorf("the example as LibreOffice saves it converts to another study (- yaml, + xlsx):\n%s", diff)
	}
	if !strings.Contains(string(res.YAML), "id: nk-internet-2026") {
		t.Errorf("study file:\n%s", res.YAML)
	}
}
