package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/internal/clitest"
	"github.com/xuri/excelize/v2"
)

const exampleForm = "../../examples/nk-internet-access.xlsx"
const exampleStudy = "../../examples/nk-internet-access.yaml"

// TestXLSForm converts the example XLSForm as a revision of the example
// study, then a copy of it edited in a spreadsheet to ask a question as
// another type, which is refused at the type's cell.
func TestXLSForm(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "study.yaml")
	stdout, stderr, err := clitest.Run(t, newRoot, "xlsform", "--in", exampleForm, "--out", out, "--from", exampleStudy, "--limits", "max_text_length=8000")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out+": study nk-internet-2026, version ") || !strings.Contains(stdout, "23 questions (1 note), 1 section; languages ko (default), en, zh; 2 recipients") || !strings.Contains(stdout, "a revision of "+exampleStudy) {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, `warning: nk-internet-access.xlsx: recipient "Researcher 1 (internet freedom team)" has a placeholder key`) {
		t.Errorf("stderr:\n%s", stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "max_text_length: 8000") || !strings.Contains(string(data), "public_key: testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3") {
		t.Errorf("the study file keeps neither limits nor recipients:\n%s", data)
	}

	// A revision made in the spreadsheet: phone_hours asked as a whole
	// number. Earlier answers (1.5 hours) would change meaning.
	f, err := excelize.OpenFile(exampleForm)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("survey")
	if err != nil {
		t.Fatal(err)
	}
	cell := ""
	for i, r := range rows {
		if len(r) > 1 && r[1] == "phone_hours" {
			cell = "A" + strconv.Itoa(i+1)
		}
	}
	if cell == "" {
		t.Fatal("no phone_hours row")
	}
	f.SetCellStr("survey", cell, "integer")
	for j, h := range rows[0] {
		if h == "decimals" { // a whole number has none
			name, _ := excelize.CoordinatesToCellName(j+1, 1)
			f.SetCellStr("survey", strings.TrimSuffix(name, "1")+cell[1:], "")
		}
	}
	edited := filepath.Join(dir, "edited.xlsx")
	if err := f.SaveAs(edited); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before, _ := os.ReadFile(out)
	_, stderr, err = clitest.Run(t, newRoot, "xlsform", "--in", edited, "--out", out, "--from", exampleStudy)
	if err == nil || !strings.Contains(err.Error(), "has 1 problem") {
		t.Fatalf("a changed type was accepted: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "edited.xlsx: survey!"+cell+" (type): version ") || !strings.Contains(stderr, "asks this question as decimal") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Error("the study file was written despite the problems")
	}
}

// TestXLSFormRecipients reads the researchers from a list, or from a
// study file, and refuses a conversion without any.
func TestXLSFormRecipients(t *testing.T) {
	dir := t.TempDir()
	ex, err := config.Load(exampleStudy)
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(dir, "team.yaml")
	os.WriteFile(list, []byte("- name: Kim\n  public_key: "+ex.Recipients[0].PublicKey+"\n"), 0o644)
	out := filepath.Join(dir, "s.yaml")
	for _, file := range []string{list, exampleStudy} {
		if _, stderr, err := clitest.Run(t, newRoot, "xlsform", "--in", exampleForm, "--out", out, "--recipients", file); err != nil {
			t.Fatalf("--recipients %s: %v\n%s", file, err, stderr)
		}
	}
	if _, _, err := clitest.Run(t, newRoot, "xlsform", "--in", exampleForm, "--out", out); err == nil || !strings.Contains(err.Error(), "give --from with the current study file, or --recipients") {
		t.Errorf("without recipients: %v", err)
	}
	os.WriteFile(list, []byte("nobody: here\n"), 0o644)
	if _, _, err := clitest.Run(t, newRoot, "xlsform", "--in", exampleForm, "--out", out, "--recipients", list); err == nil || !strings.Contains(err.Error(), "lists no researchers") {
		t.Errorf("an empty list: %v", err)
	}
	os.WriteFile(list, []byte("- name: Kim\n  public_key: testimony-pub-nonsense\n"), 0o644)
	_, stderr, err := clitest.Run(t, newRoot, "xlsform", "--in", exampleForm, "--out", out, "--recipients", list)
	if err == nil || !strings.Contains(stderr, "recipients[0].public_key (from --recipients "+list+"): ") {
		t.Errorf("a bad key: %v\n%s", err, stderr)
	}
	if _, _, err := clitest.Run(t, newRoot, "xlsform", "--in", exampleForm, "--out", out, "--from", exampleStudy, "--limits", "max_lines=3"); err == nil || !strings.Contains(err.Error(), "unknown limit") {
		t.Errorf("an unknown limit: %v", err)
	}
}
