package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/examples"
	"github.com/testimony-project/testimony/response"
	"github.com/xuri/excelize/v2"
)

// TestTwoResearchersAcrossVersions runs the real intake and researcher
// commands through a revision of the example study, as a team meets it:
//
//   - version 1 is served; a person without JavaScript answers step 1
//     (where departure_province is asked);
//   - the study is revised while they answer (departure_province
//     removed, phone_first_year added, a label changed) and served again:
//     the person finishes without retyping; more people answer version 2,
//     with and without JavaScript;
//   - the server exports; two researchers decrypt the same batches in
//     their own workspaces.
//
// Both get identical files, pseudonyms included; the tables hold the
// questions of both versions, and say of each empty cell why it is
// empty: not in this version, not asked, or skipped.
func TestTwoResearchersAcrossVersions(t *testing.T) {
	bin := buildCommands(t)
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("one passphrase for both test keys"), 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var ids []*envelope.Recipient
	for _, name := range []string{"a", "b"} {
		key := filepath.Join(dir, name+".key")
		out, code := command(t, bin, "researcher", "keygen", "--out", key, "--passphrase-file", pass, "--weak-kdf-for-tests")
		if code != 0 {
			t.Fatalf("keygen: %s", out)
		}
		pub := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "public key:"))
		r, err := envelope.ParseRecipient(pub)
		if err != nil {
			t.Fatalf("keygen printed %q: %v", pub, err)
		}
		keys, ids = append(keys, key), append(ids, r)
	}

	// Version 1 is the example with the team's keys; version 2 revises it.
	i := 0
	v1y := regexp.MustCompile(`public_key: testimony-pub-[a-z2-7]+`).ReplaceAllStringFunc(string(examples.NKInternetAccess), func(string) string {
		i++
		return "public_key: " + ids[i-1].String()
	})
	v2y := regexp.MustCompile(`(?s)\n  - id: departure_province\n.*?\n\n`).ReplaceAllString(v1y, "\n")
	v2y = strings.Replace(v2y, "      en: In what year did you leave North Korea?", "      en: Which year did you leave North Korea?", 1)
	v2y = strings.Replace(v2y, "  - id: phone_activities\n", `  - id: phone_first_year
    type: year
    relevant: "${phone_use} = 'own' or ${phone_use} = 'borrowed'"
    label:
      ko: 손전화를 처음 쓴 해는 언제입니까?
      en: In what year did you first use a mobile phone?
      zh: 您第一次用手机是哪一年？

  - id: phone_activities
`, 1)
	paths := []string{filepath.Join(dir, "study-v1.yaml"), filepath.Join(dir, "study-v2.yaml")}
	var studies []*config.Study
	for n, y := range []string{v1y, v2y} {
		if err := os.WriteFile(paths[n], []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := config.Load(paths[n])
		if err != nil {
			t.Fatal(err)
		}
		studies = append(studies, st)
	}
	v2 := studies[1]
	if v2.Question("departure_province") != nil || v2.Question("phone_first_year") == nil {
		t.Fatal("version 2 is not the revision this test needs")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	data := filepath.Join(dir, "data")
	intakeBin := filepath.Join(bin, "intake")
	newPerson := func(answers url.Values) *person {
		t.Helper()
		resp, err := client.Get(base + "/form?lang=ko")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return &person{page: string(page), answers: answers}
	}

	// Version 1: the first person answers step 1.
	srv := serveStudy(t, intakeBin, paths[0], data, addr)
	first := newPerson(url.Values{"q.departure_year": {"2016"}, "q.departure_province": {"ryanggang"}, "q.phone_use": {"own"}})
	first.step(t, base)
	first.answers = url.Values{"q.phone_activities": {"calls", "photos_videos"}, "q.intranet_use": {"never"}, "q.internet_use": {"never"},
		"q.foreign_media": {"never"}, "q.testimony": {"=HYPERLINK(\"http://example.invalid\")\n+82 10 1234"}, "q.consent": {"yes"}}
	srv.stop(t)

	// Version 2: the first person finishes on version 1; two more answer
	// version 2 without JavaScript, one with it.
	srv = serveStudy(t, intakeBin, paths[1], data, addr)
	first.finish(t, base)
	for _, a := range []url.Values{
		{"q.departure_year": {"2019"}, "q.phone_use": {"borrowed"}, "q.phone_first_year": {"2014"}, "q.phone_activities": {"messages"},
			"q.intranet_use": {"never"}, "q.internet_use": {"never"}, "q.foreign_media": {"never"}, "q.consent": {"yes"}},
		// phone_use "no": phone_first_year is not asked; departure_year is skipped.
		{"q.phone_use": {"no"}, "q.intranet_use": {"never"}, "q.internet_use": {"never"}, "q.foreign_media": {"never"}, "q.consent": {"yes"}},
	} {
		p := newPerson(a)
		p.finish(t, base)
	}
	pt, err := response.Marshal(v2, &response.Response{Study: v2.ID, Version: v2.Version(), Language: "en",
		Answers: map[string][]string{"departure_year": {"2021"}, "phone_use": {"no"}, "intranet_use": {"never"}, "internet_use": {"never"},
			"foreign_media": {"never"}, "consent": {"yes"}}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(v2.ID, pt, ids)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := postPage(t, base, "/sealed", url.Values{"lang": {"en"}, "envelope": {base64.StdEncoding.EncodeToString(env)}}); status != http.StatusOK {
		t.Fatalf("sealed in the browser: status %d\n%s", status, body)
	}
	srv.stop(t)

	// Export, and two researchers decrypt the same batches.
	usb := filepath.Join(dir, "usb")
	os.Mkdir(usb, 0o700)
	if out, code := command(t, bin, "intake", "export", "--data", data, "--out", usb); code != 0 {
		t.Fatalf("export: %s", out)
	}
	serverKey, code := command(t, bin, "intake", "server-key", "--data", data)
	if code != 0 {
		t.Fatalf("server-key: %s", serverKey)
	}
	batches, _ := filepath.Glob(filepath.Join(usb, "*.tar"))
	var workspaces []string
	for n, key := range keys {
		ws := filepath.Join(dir, "workspace-"+string(rune('a'+n)))
		args := append([]string{"decrypt", "--key", key, "--passphrase-file", pass, "--study", paths[1],
			"--server-key", strings.TrimSpace(serverKey), "--labels", "ko", "--out", ws}, batches...)
		if out, code := command(t, bin, "researcher", args...); code != 0 {
			t.Fatalf("researcher %d decrypt: exit %d\n%s", n+1, code, out)
		}
		workspaces = append(workspaces, ws)
	}
	for _, f := range []string{"testimonies.csv", "testimonies-labels-ko.csv", "testimonies.jsonl", "codebook.csv"} {
		a, errA := os.ReadFile(filepath.Join(workspaces[0], f))
		b, errB := os.ReadFile(filepath.Join(workspaces[1], f))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", f, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("the two researchers' %s differ:\n%s\n---\n%s", f, a, b)
		}
	}

	// The table: both versions' questions, and why each empty cell is empty.
	rows := readCSV(t, filepath.Join(workspaces[0], "testimonies.csv"))
	if len(rows) != 5 {
		t.Fatalf("testimonies.csv has %d rows, want a header and 4 testimonies", len(rows))
	}
	head := rows[0]
	col := func(name string) int {
		i := slices.Index(head, name)
		if i < 0 {
			t.Fatalf("testimonies.csv has no column %q: %v", name, head)
		}
		return i
	}
	byYear := map[string][]string{}
	for _, r := range rows[1:] {
		byYear[r[col("departure_year")]] = r
	}
	v1Row, v2Own, v2No, v2Skipped := byYear["2016"], byYear["2019"], byYear["2021"], byYear[".s"]
	if v1Row == nil || v2Own == nil || v2No == nil || v2Skipped == nil {
		t.Fatalf("rows by departure_year: %v", byYear)
	}
	for _, c := range []struct {
		row  []string
		col  string
		want string
	}{
		{v1Row, "version", studies[0].ShortVersion()},
		{v1Row, "departure_province", "ryanggang"},
		{v1Row, "phone_first_year", ".v"}, // not in version 1
		{v2Own, "version", v2.ShortVersion()},
		{v2Own, "departure_province", ".v"}, // not in version 2
		{v2Own, "phone_first_year", "2014"},
		{v2No, "phone_first_year", ".n"}, // not asked: no phone
		{v2No, "lang", "en"},
		{v2Skipped, "phone_first_year", ".n"},
		{v2Skipped, "testimony", ".s"}, // shown, left blank
	} {
		if got := c.row[col(c.col)]; got != c.want {
			t.Errorf("%s of the testimony from %s (version %s) = %q, want %q", c.col, c.row[col("departure_year")], c.row[col("version")], got, c.want)
		}
	}
	// The answer a spreadsheet would run is defused in the CSV file, and
	// the telephone number is written as it is.
	if got := v1Row[col("testimony")]; got != "'=HYPERLINK(\"http://example.invalid\")\n+82 10 1234" {
		t.Errorf("testimony cell in the CSV = %q", got)
	}
	labels := readCSV(t, filepath.Join(workspaces[0], "testimonies-labels-ko.csv"))
	if slices.Index(labels[0], "departure_province") < 0 || !slices.ContainsFunc(labels[1:], func(r []string) bool {
		return slices.Contains(r, "량강도")
	}) {
		t.Errorf("the Korean labels CSV does not name the province 량강도:\n%v", labels)
	}

	// The workbook: the same values, typed, never a formula.
	checkWorkbook(t, filepath.Join(workspaces[0], "testimonies.xlsx"), rows)
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF"))))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// checkWorkbook checks the values sheet of an XLSX export against the CSV
// rows, as excelize reads it and, where LibreOffice is installed, as
// LibreOffice reads it: the same text and numbers, no formula anywhere.
func checkWorkbook(t *testing.T, path string, rows [][]string) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) < 3 || sheets[0] != "values" {
		t.Fatalf("workbook sheets %v: want values, labels and the codebook", sheets)
	}
	for _, sh := range sheets {
		cells, err := f.GetRows(sh)
		if err != nil {
			t.Fatal(err)
		}
		for r, row := range cells {
			for c := range row {
				name, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if formula, _ := f.GetCellFormula(sh, name); formula != "" {
					t.Errorf("%s!%s is a formula: %q", sh, name, formula)
				}
			}
		}
	}
	values, err := f.GetRows("values")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range rows[1:] {
		want[strings.Join(undefused(r), "\x1f")] = true
	}
	for _, r := range values[1:] {
		for len(r) < len(rows[0]) {
			r = append(r, "")
		}
		if !want[strings.Join(r, "\x1f")] {
			t.Errorf("values sheet row %q is not a row of the CSV", r)
		}
	}
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		t.Log("LibreOffice (soffice) not installed: the workbook was read with excelize only; `make test` installs libreoffice-calc")
		return
	}
	out := t.TempDir()
	cmd := exec.Command(soffice, "--headless", "-env:UserInstallation=file://"+filepath.Join(out, "profile"),
		"--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,1", "--outdir", out, path)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice --convert-to csv: %v\n%s", err, b)
	}
	converted, _ := filepath.Glob(filepath.Join(out, "*.csv"))
	if len(converted) == 0 {
		t.Fatal("LibreOffice wrote no CSV")
	}
	got := readCSV(t, converted[0])
	if len(got) != len(rows) {
		t.Fatalf("LibreOffice reads %d rows of the values sheet, want %d", len(got), len(rows))
	}
	for _, r := range got[1:] {
		for len(r) < len(rows[0]) {
			r = append(r, "")
		}
		if !want[strings.Join(r, "\x1f")] {
			t.Errorf("LibreOffice reads the row %q, which is not a row of the CSV", r)
		}
	}
}

// undefused returns a CSV row as its values are: without the ' the CSV
// puts before text a spreadsheet would run.
func undefused(r []string) []string {
	out := make([]string, len(r))
	for i, v := range r {
		out[i] = strings.TrimPrefix(v, "'")
	}
	return out
}
