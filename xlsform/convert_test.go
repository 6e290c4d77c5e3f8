package xlsform

import (
	"errors"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/examples"
)

// TestOptions checks what the options add to a form: the id of the study
// it revises when the form has no form_id, limits and the browser
// encryption switch, and the revision check against earlier versions.
func TestOptions(t *testing.T) {
	sheets := minimalSheets()
	sheets[1].rows = [][]string{{"form_title::English (en)", "introduction::English (en)"}, {"Title", "Intro"}}
	data := buildXLSX(t, sheets)
	if got := convertErr(t, data); !strings.Contains(got, "settings: no form_id; add a form_id column") {
		t.Errorf("without form_id: %s", got)
	}
	res, err := ConvertBytes(data, Options{Name: "f.xlsx", Recipients: testRecipients(t), ID: "kept-id",
		Limits: config.Limits{MaxTextLength: 8000}, RequireBrowserEncryption: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nid: kept-id\n", "\nlimits:\n  max_text_length: 8000\n", "\nrequire_browser_encryption: true\n"} {
		if !strings.Contains(string(res.YAML), want) {
			t.Errorf("the study file lacks %q:\n%s", want, res.YAML)
		}
	}
	if res.Study.ID != "kept-id" || res.Study.Limits.MaxTextLength != 8000 || !res.Study.RequireBrowserEncryption {
		t.Errorf("the study read back: %+v", res.Study)
	}

	// A revision of the earlier version, whose question q was a year.
	earlier, err := config.Parse("v1.yaml", []byte(strings.Replace(string(res.YAML), "type: short_text", "type: year", 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ConvertBytes(data, Options{Name: "f.xlsx", Recipients: testRecipients(t), ID: "kept-id", Earlier: []*config.Study{earlier}})
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "f.xlsx: survey!A2 (type): version ") || !strings.Contains(errs[0].Error(), "(v1.yaml) asks this question as year") {
		t.Errorf("a changed type: %v", err)
	}

	// A bad key from the options is named with where it came from.
	_, err = ConvertBytes(data, Options{Name: "f.xlsx", ID: "kept-id", Recipients: []config.Recipient{{Name: "X", PublicKey: "testimony-pub-x"}}, RecipientsFrom: "--recipients team.yaml"})
	if err == nil || !strings.Contains(err.Error(), "f.xlsx: recipients[0].public_key (from --recipients team.yaml): ") {
		t.Errorf("a bad key: %v", err)
	}
}

// TestExampleRevision converts the example XLSForm as a revision of the
// example study: a form that asks the same questions is one.
func TestExampleRevision(t *testing.T) {
	ex, err := config.Parse("nk-internet-access.yaml", examples.NKInternetAccess)
	if err != nil {
		t.Fatal(err)
	}
	data := buildXLSX(t, exampleSheets(t, examples.NKInternetAccess))
	if _, err := ConvertBytes(data, Options{Name: "f.xlsx", Recipients: ex.Recipients, Earlier: []*config.Study{ex}}); err != nil {
		t.Fatal(err)
	}
}
