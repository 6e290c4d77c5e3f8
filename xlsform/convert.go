package xlsform

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/expr"
)

// Options are what a study file holds that an XLSForm does not.
type Options struct {
	// Name names the form in errors, such as "form.xlsx".
	Name string
	// Recipients are the researchers who can read the answers. Required:
	// the study file needs 1 to 16.
	Recipients []config.Recipient
	// RecipientsFrom says where Recipients come from, in errors about
	// them, such as "--recipients team.yaml".
	RecipientsFrom string
	// Limits and RequireBrowserEncryption are written to the study file
	// as they are; the zero values mean the defaults.
	Limits                   config.Limits
	LimitsFrom               string
	RequireBrowserEncryption bool
	// ID is the study id used when the settings sheet has no form_id,
	// such as the id of the study the form revises; "" requires form_id.
	ID string
	// Earlier are earlier versions of the study: the result must be a
	// revision of them ([config.CheckRevision]), or Convert fails with
	// the cells that would change the meaning of earlier answers.
	Earlier []*config.Study
}

// Result is a converted form.
type Result struct {
	// YAML is the study file.
	YAML []byte
	// Study is the study file as [config.Parse] reads it. Until package
	// config reads conditions (relevant, constraint and
	// constraint_message as expressions of package expr), it is parsed
	// from YAML without them, and Conditions is false.
	Study      *config.Study
	Conditions bool
	// Warnings are what the conversion left out or changed, one a cell.
	Warnings []*Error
}

// configReadsExpressions reports whether package config reads relevant,
// constraint and constraint_message as expressions (DESIGN.md §11).
var configReadsExpressions = func() bool {
	_, ok := reflect.TypeFor[config.Question]().FieldByName("Constraint")
	return ok
}()

// ConfigReadsExpressions reports whether [config.Parse] reads the
// conditions the conversion writes; until it does, [Result.Study] is
// parsed without them.
func ConfigReadsExpressions() bool { return configReadsExpressions }

// Convert reads an XLSForm from r (at most [MaxFileSize] bytes) and
// converts it; see [ConvertBytes].
func Convert(r io.Reader, opt Options) (*Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read the form: %w", err)
	}
	return ConvertBytes(data, opt)
}

// ConvertBytes converts the XLSForm in data (an .xlsx file) to a study
// file, as the package documentation describes. It returns the study
// file, checked by [config.Parse] (and [config.CheckRevision] against
// opt.Earlier), or an [Errors] naming the sheet and cell of every
// problem found.
func ConvertBytes(data []byte, opt Options) (*Result, error) {
	p := &problems{}
	wb := readWorkbook(data, p)
	if wb == nil || len(p.errs) > 0 {
		return nil, sortProblems(p.errs, opt.Name)
	}
	c := &converter{opt: opt, p: p, wb: wb, cells: make(map[string]loc), tcols: make(map[string]map[string]map[string]*column)}
	c.convert()
	if len(p.errs) > 0 {
		return nil, sortProblems(p.errs, opt.Name)
	}
	res := &Result{YAML: c.doc.marshal(true), Conditions: configReadsExpressions}
	check := res.YAML
	if !configReadsExpressions {
		check = c.doc.marshal(false)
	}
	study, err := config.Parse(opt.Name, check)
	if err != nil {
		c.fromConfig(err)
		return nil, sortProblems(p.errs, opt.Name)
	}
	if len(opt.Earlier) > 0 {
		if err := config.CheckRevision(opt.Earlier, study); err != nil {
			c.fromConfig(err)
			return nil, sortProblems(p.errs, opt.Name)
		}
	}
	if study.CheckServable() != nil {
		for _, r := range study.PlaceholderRecipients() {
			p.warnf("", 0, 0, "", "recipient %q has a placeholder key from the example study, which nobody can decrypt with: intake serve refuses the study until it lists your researchers' keys", r.Name)
		}
	}
	res.Study = study
	res.Warnings = sortProblems(p.warns, opt.Name)
	return res, nil
}

// loc is a cell, where a field of the study file comes from.
type loc struct {
	sheet    string
	row, col int // from 1; 0 for none
	column   string
}

type converter struct {
	opt   Options
	p     *problems
	wb    *workbook
	cols  map[string][]*column
	tcols map[string]map[string]map[string]*column // sheet → base → language → column
	langs []string
	def   string
	doc   studyDoc
	// cells maps paths of the study file ("questions[3].choices[1].value")
	// to the cells they come from.
	cells map[string]loc
	lists map[string]*choiceList
	// ids maps question and section ids to the cell of their name.
	ids map[string]loc
}

func (c *converter) convert() {
	if c.wb.sheets[sheetSurvey] == nil {
		c.p.errorf("", 0, 0, "", "the workbook has no survey sheet; an XLSForm has a sheet named survey with a row per question (see examples/nk-internet-access.xlsx)")
		return
	}
	c.cols = make(map[string][]*column)
	for _, name := range []string{sheetSurvey, sheetChoices, sheetSettings} {
		if s := c.wb.sheets[name]; s != nil {
			c.cols[name] = parseHeader(s, c.p)
		}
	}
	settings := c.settingsRow()
	// Without the languages, texts are not checked, but everything else
	// is, so that every problem is reported at once.
	c.languages(settings)
	c.settings(settings)
	c.choices()
	if !c.survey() {
		return
	}
	c.conditions()
	c.doc.source = c.opt.Name
	c.doc.recipients = c.opt.Recipients
	c.doc.limits = c.opt.Limits
	c.doc.browserEnc = c.opt.RequireBrowserEncryption
}

// col returns the column of sheet with the given base name and no
// language, or nil.
func (c *converter) col(sheet, base string) *column {
	for _, col := range c.cols[sheet] {
		if col.base == base && col.lang == "" {
			return col
		}
	}
	return nil
}

// value returns the value of the column base in row r, trimmed, and
// where it is.
func (c *converter) value(sheet string, r row, base string) (string, loc) {
	col := c.col(sheet, base)
	if col == nil {
		return "", loc{sheet: sheet, row: r.num}
	}
	return strings.TrimSpace(r.cell(col.index)), loc{sheet: sheet, row: r.num, col: col.index + 1, column: col.header}
}

func (c *converter) errAt(l loc, format string, args ...any) {
	c.p.errorf(c.title(l.sheet), l.row, l.col, l.column, format, args...)
}

func (c *converter) warnAt(l loc, format string, args ...any) {
	c.p.warnf(c.title(l.sheet), l.row, l.col, l.column, format, args...)
}

// title is the sheet's name as the workbook spells it.
func (c *converter) title(name string) string {
	if s := c.wb.sheets[name]; s != nil {
		return s.title
	}
	return name
}

// typeCell is where a row's type is.
func (c *converter) typeCell(r row) loc {
	_, l := c.value(sheetSurvey, r, "type")
	return l
}

// ---- Languages ----

// settingsRow returns the row of values of the settings sheet, or an
// empty row.
func (c *converter) settingsRow() row {
	s := c.wb.sheets[sheetSettings]
	if s == nil || len(s.rows) == 0 {
		return row{num: 2}
	}
	for _, r := range s.rows[1:] {
		c.p.errorf(s.title, r.num, 0, "", "the settings sheet has one row of values, under its headers; remove row %d", r.num)
	}
	return s.rows[0]
}

// languages finds the study's languages in the headers of the
// translatable columns, the default first: default_language if the
// settings sheet names it, else the first language of the survey sheet.
// It reports false, and sets none, if they cannot be known.
func (c *converter) languages(settings row) bool {
	for sheet := range c.cols {
		c.tcols[sheet] = make(map[string]map[string]*column)
	}
	var order []string
	firstAt := map[string]loc{}
	type plainCol struct {
		sheet string
		col   *column
	}
	var plain []plainCol
	var unused []plainCol
	for _, sheet := range []string{sheetSurvey, sheetChoices, sheetSettings} {
		for _, col := range c.cols[sheet] {
			if !slices.Contains(translatable[sheet], col.base) {
				continue
			}
			if !col.used {
				if col.lang != "" {
					unused = append(unused, plainCol{sheet, col})
				}
				continue
			}
			if col.lang == "" {
				plain = append(plain, plainCol{sheet, col})
				continue
			}
			if _, ok := firstAt[col.lang]; !ok {
				order = append(order, col.lang)
				firstAt[col.lang] = loc{sheet: sheet, row: 1, col: col.index + 1, column: col.header}
			}
		}
	}
	def := ""
	if v, l := c.value(sheetSettings, settings, "default_language"); v != "" {
		tag, problem := parseLanguage(v)
		if problem != "" {
			c.errAt(l, "%s", problem)
			return false
		}
		def = tag
		if len(plain) == 0 && len(order) > 0 && !slices.Contains(order, def) {
			c.errAt(l, "no label column is in %s; write default_language as one of the form's languages (%s), or add its columns", describeLanguage(def), describeLanguages(order))
			return false
		}
	}
	hdr := func(pc plainCol) loc {
		return loc{sheet: pc.sheet, row: 1, col: pc.col.index + 1, column: pc.col.header}
	}
	switch {
	case def == "" && len(plain) > 0 && len(order) == 0:
		c.errAt(hdr(plain[0]), "the column names no language; write it as %s::Korean (ko) with the language of its texts, or name that language in the default_language column of the settings sheet", plain[0].col.base)
		return false
	case def == "" && len(plain) > 0:
		for _, pc := range plain {
			c.errAt(hdr(pc), "the column names no language, though others do (%s); write it as %s::%s, or name its language in the default_language column of the settings sheet", describeLanguages(order), pc.col.base, describeLanguage(order[0]))
		}
		return false
	case len(plain) == 0 && len(order) == 0:
		c.p.errorf(c.title(sheetSurvey), 1, 0, "", "no label column; add label::Korean (ko) (one label column per language) with the text of every question")
		return false
	case def == "":
		def = order[0]
	}
	c.def = def
	c.langs = append([]string{def}, slices.DeleteFunc(slices.Clone(order), func(l string) bool { return l == def })...)
	for i, l := range c.langs {
		if at, ok := firstAt[l]; ok {
			c.cells[fmt.Sprintf("languages[%d]", i)] = at
		}
	}
	for _, u := range unused {
		if !slices.Contains(c.langs, u.col.lang) {
			c.warnAt(hdr(u), "the column is empty, and %s is not one of the form's languages (%s); ignored", describeLanguage(u.col.lang), describeLanguages(c.langs))
		}
	}
	// Index the translatable columns by language.
	ok := true
	for sheet, cols := range c.cols {
		for _, col := range cols {
			if !slices.Contains(translatable[sheet], col.base) {
				continue
			}
			lang := col.lang
			if lang == "" {
				lang = def
			}
			m := c.tcols[sheet][col.base]
			if m == nil {
				m = make(map[string]*column)
				c.tcols[sheet][col.base] = m
			}
			if prev, dup := m[lang]; dup {
				c.errAt(loc{sheet: sheet, row: 1, col: col.index + 1, column: col.header}, "holds %s texts, as %s (%s) does, %s being the default language; keep one", describeLanguage(lang), cellName(1, prev.index+1), prev.header, describeLanguage(def))
				ok = false
				continue
			}
			m[lang] = col
		}
	}
	if !ok {
		c.langs = nil
	}
	c.doc.langs = c.langs
	return ok
}

func describeLanguages(tags []string) string {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = describeLanguage(t)
	}
	return strings.Join(names, ", ")
}

// missingColumns records, per sheet, base and language, that a column is
// missing, so that it is reported once.
type missingKey struct{ sheet, base, lang string }

// text reads the translations of the column base in row r into a text,
// recording their cells under path. A required text must be set in every
// language; an optional one in every language or none.
func (c *converter) text(sheet string, r row, base, path string, required bool, missing map[missingKey]bool) text {
	cols := c.tcols[sheet][base]
	t := text{}
	var empty []string
	for _, lang := range c.langs {
		col := cols[lang]
		if col == nil {
			empty = append(empty, lang)
			continue
		}
		v := r.cell(col.index)
		l := loc{sheet: sheet, row: r.num, col: col.index + 1, column: col.header}
		c.cells[path+"."+lang] = l
		if strings.TrimSpace(v) == "" {
			empty = append(empty, lang)
			continue
		}
		if strings.Contains(v, "${") {
			c.errAt(l, "a text cannot show answers (${…}): testimony shows everyone the same words; write the text in full")
		}
		t[lang] = v
	}
	if len(empty) == 0 || len(t) == 0 && !required {
		if len(t) == 0 {
			return nil
		}
		return t
	}
	for _, lang := range empty {
		col := cols[lang]
		if col == nil {
			k := missingKey{sheet, base, lang}
			if !missing[k] {
				missing[k] = true
				at := loc{sheet: sheet, row: r.num}
				if len(t) > 0 {
					for _, l := range c.langs {
						if cl := cols[l]; cl != nil && t[l] != "" {
							at = loc{sheet: sheet, row: r.num, col: cl.index + 1, column: cl.header}
							break
						}
					}
				} else if tc := c.col(sheet, "name"); tc != nil {
					at = loc{sheet: sheet, row: r.num, col: tc.index + 1, column: tc.header}
				}
				c.errAt(at, "no %s::%s column; every %s is written in each of the form's languages (%s): add the column", base, describeLanguage(lang), base, describeLanguages(c.langs))
			}
			continue
		}
		l := loc{sheet: sheet, row: r.num, col: col.index + 1, column: col.header}
		if len(t) == 0 {
			c.errAt(l, "empty; write the %s in %s", strings.ReplaceAll(base, "_", " "), describeLanguage(lang))
		} else {
			c.errAt(l, "empty; write the %s text, as the other languages have one", describeLanguage(lang))
		}
	}
	return t
}

// ---- Settings ----

var studyIDRE = regexp.MustCompile(`^[a-z0-9-]{3,64}$`)

func (c *converter) settings(r row) {
	s := c.wb.sheets[sheetSettings]
	c.columns(sheetSettings, []rule{
		{"form_id", ""}, {"form_title", ""}, {"introduction", ""}, {"default_language", ""}, {"version", ""},
		{"instance_name", "refuse:instance_name names each submission from its answers; testimony never names a testimony by what it says: remove it"},
		{"public_key", "warn:testimony seals every answer to the recipients' keys itself; ignored"},
		{"submission_url", "warn:answers go to your intake server's onion address; ignored"},
		{"style", "warn:testimony lays out every page itself, for every browser; ignored"},
		{"name", "ignore"}, {"namespaces", "ignore"}, {"auto_send", "ignore"}, {"auto_delete", "ignore"}, {"clean_text_values", "ignore"},
		{"allow_choice_duplicates", "refuse-yes:every choice of a question has its own name in testimony: remove it"},
	})
	missing := map[missingKey]bool{}
	id, idAt := c.value(sheetSettings, r, "form_id")
	switch {
	case id == "" && c.opt.ID != "":
		id = c.opt.ID
	case id == "":
		at := idAt
		if s == nil {
			c.p.errorf("", 0, 0, "", "the workbook has no settings sheet; add one with the columns form_id (the study id, such as nk-internet-2026), form_title::… and introduction::… in each language")
		} else {
			c.errAt(at, "no form_id; add a form_id column with the study id, such as nk-internet-2026 (it is bound into every envelope, so it never changes once answers arrive)")
		}
	case envelope.CheckStudyID(id) != nil:
		fix := suggestStudyID(id)
		if fix != "" && fix != id {
			c.errAt(idAt, "a study id is 3 to 64 characters of lowercase letters a-z, digits 0-9 and '-': write %s", fix)
		} else {
			c.errAt(idAt, "a study id is 3 to 64 characters of lowercase letters a-z, digits 0-9 and '-', such as nk-internet-2026")
		}
	}
	c.doc.id = id
	c.cells["id"] = idAt
	if s == nil {
		if c.opt.ID != "" {
			c.p.errorf("", 0, 0, "", "the workbook has no settings sheet; add one with the columns form_title::… and introduction::…, in each language")
		}
		return
	}
	if v, l := c.value(sheetSettings, r, "version"); v != "" {
		c.warnAt(l, "not used: testimony names each version of a study by the SHA-256 of its study file (the version id every answer carries), so every change to the form is a new version")
	}
	c.doc.title = c.text(sheetSettings, r, "form_title", "title", true, missing)
	c.doc.intro = c.text(sheetSettings, r, "introduction", "introduction", true, missing)
	for _, f := range []string{"title", "introduction"} {
		if _, ok := c.cells[f+"."+c.def]; !ok {
			c.cells[f] = loc{sheet: sheetSettings, row: 1}
		}
	}
}

// suggestStudyID turns a form_id into a study id, if it can.
func suggestStudyID(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == '_' || r == ' ' || r == '.':
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if !studyIDRE.MatchString(s) {
		return ""
	}
	return s
}

// rule says how a column is read: "" (read), "ignore", "warn:why"
// (ignored, with a warning per cell), "refuse:why" (an error per cell) or
// "refuse-yes:why" (an error per cell saying yes).
type rule struct {
	name, how string
}

// columns reports the columns of sheet that are neither read nor empty,
// by the rules given (those read, in the order messages list them).
// Translatable and media columns, and Kobo's own ($…), are handled here
// too.
func (c *converter) columns(sheet string, rules []rule) {
	s := c.wb.sheets[sheet]
	if s == nil {
		return
	}
	var names []string
	known := make(map[string]string, len(rules))
	for _, r := range rules {
		known[r.name] = r.how
		if r.how == "" {
			if slices.Contains(translatable[sheet], r.name) {
				names = append(names, r.name+"::…")
			} else {
				names = append(names, r.name)
			}
		}
	}
	for _, col := range c.cols[sheet] {
		if !col.used || strings.HasPrefix(col.header, "$") {
			continue
		}
		if col.base == "media" {
			c.eachValue(s, col, func(l loc, _ string) {
				c.errAt(l, "%s", "images, audio and video are not shown: testimony's pages load nothing but the questionnaire, to stay small and safe over Tor; remove the column")
			})
			continue
		}
		if b, _, ok := strings.Cut(col.base, "::"); ok && (b == "bind" || b == "body" || b == "control" || b == "instance") {
			c.eachValue(s, col, func(l loc, _ string) {
				c.errAt(l, "custom XForm attributes (%s::…) are not supported: testimony's forms are not XForms; remove the column", b)
			})
			continue
		}
		how, ok := known[col.base]
		if !ok {
			how = "unknown"
		}
		switch {
		case how == "" || how == "ignore":
		case strings.HasPrefix(how, "warn:"):
			c.eachValue(s, col, func(l loc, _ string) { c.warnAt(l, "%s", how[len("warn:"):]) })
		case strings.HasPrefix(how, "refuse:"):
			c.eachValue(s, col, func(l loc, _ string) { c.errAt(l, "%s", how[len("refuse:"):]) })
		case strings.HasPrefix(how, "refuse-yes:"):
			c.eachValue(s, col, func(l loc, v string) {
				if yes, ok := parseYesNo(v); yes || !ok {
					c.errAt(l, "%s", how[len("refuse-yes:"):])
				}
			})
		default:
			var rows []string
			for _, r := range s.rows {
				if strings.TrimSpace(r.cell(col.index)) != "" {
					rows = append(rows, strconv.Itoa(r.num))
				}
			}
			var bare []string
			for _, n := range names {
				bare = append(bare, strings.TrimSuffix(n, "::…"))
			}
			msg := fmt.Sprintf("unknown column, with values in rows %s; testimony reads %s: remove the column, or move your notes to another sheet", shortList(rows), strings.Join(names, ", "))
			if alt := suggest(col.base, bare); alt != "" {
				msg = fmt.Sprintf("unknown column (did you mean %s?), with values in rows %s", alt, shortList(rows))
			}
			c.errAt(loc{sheet: sheet, row: 1, col: col.index + 1, column: col.header}, "%s", msg)
		}
	}
}

func shortList(items []string) string {
	if len(items) > 5 {
		return strings.Join(items[:5], ", ") + fmt.Sprintf(" and %d more", len(items)-5)
	}
	return strings.Join(items, ", ")
}

// eachValue calls f with each cell of col that holds a value.
func (c *converter) eachValue(s *sheet, col *column, f func(loc, string)) {
	for _, r := range s.rows {
		if v := strings.TrimSpace(r.cell(col.index)); v != "" {
			f(loc{sheet: s.name, row: r.num, col: col.index + 1, column: col.header}, v)
		}
	}
}

// parseYesNo reads a yes/no cell as pyxform does: yes, true, 1 and
// TRUE() in any case are yes; no, false, 0 and "" are no.
func parseYesNo(v string) (yes, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "true()", "1", "y":
		return true, true
	case "no", "false", "false()", "0", "n", "":
		return false, true
	}
	return false, false
}

// ---- Choices ----

type choiceList struct {
	name    string
	at      loc // the first row's list_name cell
	choices []choiceDoc
	// rows are the rows of the choices, for the cells of their fields.
	rows []row
	used bool
}

// maxChoices bounds the choices of a question, as package config does.
const maxChoices = 100

var (
	questionIDRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	choiceValueRE = regexp.MustCompile(`^[a-z0-9_]{1,48}$`)
)

// suggestName turns an XLSForm name into a question id or choice value,
// if it can.
func suggestName(name string, id bool) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			b.WriteRune(r)
		case r == '-' || r == '.' || r == ' ':
			b.WriteByte('_')
		}
	}
	s := b.String()
	if id && s != "" && (s[0] < 'a' || s[0] > 'z') {
		s = "q_" + s
	}
	if len(s) > 48 {
		s = s[:48]
	}
	if id && !questionIDRE.MatchString(s) || !id && !choiceValueRE.MatchString(s) {
		return ""
	}
	return s
}

func (c *converter) choices() {
	c.lists = make(map[string]*choiceList)
	s := c.wb.sheets[sheetChoices]
	if s == nil {
		return
	}
	c.columns(sheetChoices, []rule{{"list_name", ""}, {"name", ""}, {"label", ""}, {"exclusive", ""}})
	if c.col(sheetChoices, "list_name") == nil && len(s.rows) > 0 {
		c.p.errorf(s.title, 1, 0, "", "no list_name column; the choices sheet has the columns list_name, name and label::… (one per language)")
		return
	}
	if c.col(sheetChoices, "name") == nil && len(s.rows) > 0 {
		c.p.errorf(s.title, 1, 0, "", "no name column; the choices sheet has the columns list_name, name and label::… (one per language)")
		return
	}
	missing := map[missingKey]bool{}
	for _, r := range s.rows {
		list, listAt := c.value(sheetChoices, r, "list_name")
		name, nameAt := c.value(sheetChoices, r, "name")
		if list == "" {
			c.errAt(listAt, "empty; write the name of the list this choice belongs to, as select_one and select_multiple name it")
			continue
		}
		l := c.lists[list]
		if l == nil {
			l = &choiceList{name: list, at: listAt}
			c.lists[list] = l
		}
		ch := choiceDoc{value: name}
		switch {
		case name == "":
			c.errAt(nameAt, "empty; give the choice a name, the value stored for it, such as daily")
		case !choiceValueRE.MatchString(name):
			if fix := suggestName(name, false); fix != "" {
				c.errAt(nameAt, "a choice name is 1 to 48 lowercase letters a-z, digits 0-9 and '_': write %s", fix)
			} else {
				c.errAt(nameAt, "a choice name is 1 to 48 lowercase letters a-z, digits 0-9 and '_', such as daily")
			}
		default:
			for i, other := range l.choices {
				if other.value == name {
					_, prev := c.value(sheetChoices, l.rows[i], "name")
					c.errAt(nameAt, "list %s already has a choice %s, in %s; give every choice of a list its own name", shown(list), name, prev.cellName())
				}
			}
		}
		if v, at := c.value(sheetChoices, r, "exclusive"); v != "" {
			yes, ok := parseYesNo(v)
			if !ok {
				c.errAt(at, "write yes (the choice is ticked alone, as \"none of these\") or leave it empty")
			}
			ch.exclusive = yes
		}
		ch.label = c.text(sheetChoices, r, "label", "choices."+list+"."+strconv.Itoa(len(l.choices))+".label", true, missing)
		l.choices = append(l.choices, ch)
		l.rows = append(l.rows, r)
	}
}

func (l loc) cellName() string {
	if l.col == 0 {
		return fmt.Sprintf("row %d", l.row)
	}
	return cellName(l.row, l.col)
}

// ---- Survey ----

// surveyColumns are the columns of the survey sheet (see rule).
var surveyColumns = []rule{
	{"type", ""}, {"name", ""}, {"label", ""}, {"hint", ""}, {"required", ""}, {"relevant", ""},
	{"constraint", ""}, {"constraint_message", ""}, {"appearance", ""}, {"choice_filter", ""}, {"decimals", ""},
	{"required_message", "warn:not used: testimony says, in every language, that an answer is needed"},
	{"guidance_hint", "warn:not used: testimony shows the hint (help) only"},
	{"calculation", "refuse:" + whyCompute},
	{"default", "refuse:testimony never fills in an answer for a person: every answer is their own; remove the default"},
	{"read_only", "refuse-yes:testimony has no read-only questions: use a note for text to read"},
	{"repeat_count", "refuse:repeats are not supported: a testimony has one answer per question"},
	{"parameters", "refuse:parameters are not supported (they belong to range, rank, files and locations, which testimony does not ask)"},
	{"trigger", "refuse:triggers recompute values when an answer changes; " + whyCompute},
	{"save_to", "refuse:entities are not supported: testimony never keeps records about people between testimonies"},
	{"autoplay", "refuse:audio and video are not played: testimony's pages load nothing but the questionnaire"},
}

// openGroup is a begin group whose end group is not read yet.
type openGroup struct {
	r       row
	section sectionDoc
	nested  int // groups begun inside it, refused
}

// survey reads the survey sheet, and reports whether it has questions
// whose conditions can be checked.
func (c *converter) survey() bool {
	s := c.wb.sheets[sheetSurvey]
	c.columns(sheetSurvey, surveyColumns)
	if c.col(sheetSurvey, "type") == nil {
		c.p.errorf(s.title, 1, 0, "", "no type column; the survey sheet has the columns type, name and label::… (one per language)")
		return false
	}
	c.ids = make(map[string]loc)
	missing := map[missingKey]bool{}
	var open *openGroup
	repeats := 0
	for _, r := range s.rows {
		typeValue, typeAt := c.value(sheetSurvey, r, "type")
		if typeValue == "" {
			c.errAt(typeAt, "empty, though the row has values; write the question's type (%s), or clear the row", supportedTypes)
			continue
		}
		t := parseType(typeValue)
		switch t.kind {
		case kindRefused:
			c.errAt(typeAt, "%s: %s", shown(typeValue), t.why)
			continue
		case kindBeginRepeat:
			c.errAt(typeAt, "%s", t.why)
			repeats++
			continue
		case kindEndRepeat:
			if repeats == 0 {
				c.errAt(typeAt, "end repeat without a begin repeat above it; remove it")
			} else {
				repeats--
			}
			continue
		case kindBeginGroup:
			if open != nil {
				c.errAt(typeAt, "a group inside the group that begins in row %d: testimony's sections do not nest (each is one page); end that group before this one begins, or remove this group's begin and end rows", open.r.num)
				open.nested++
				continue
			}
			open = &openGroup{r: r}
			open.section = c.group(r, len(c.doc.sections), missing)
			continue
		case kindEndGroup:
			switch {
			case open == nil:
				c.errAt(typeAt, "end group without a begin group above it; remove it, or add the begin group")
			case open.nested > 0:
				open.nested--
			default:
				if name, at := c.value(sheetSurvey, r, "name"); name != "" && name != open.section.id {
					c.errAt(at, "ends group %s, which begins in row %d as %s; correct the name or leave it empty", shown(name), open.r.num, open.section.id)
				}
				if len(open.section.questions) == 0 {
					c.errAt(c.typeCell(open.r), "the group has no questions; add them between its begin group and end group rows, or remove the group")
				} else {
					c.doc.sections = append(c.doc.sections, open.section)
				}
				open = nil
			}
			continue
		}
		q := c.question(r, t, len(c.doc.questions), missing)
		if open != nil {
			open.section.questions = append(open.section.questions, q.id)
		}
		c.doc.questions = append(c.doc.questions, q)
	}
	if open != nil {
		c.errAt(c.typeCell(open.r), "the group never ends; add an end group row after its last question")
	}
	if len(c.doc.questions) == 0 && len(c.p.errs) == 0 {
		c.p.errorf(s.title, 0, 0, "", "no questions; add a row per question under the headers (type, name, label::…)")
	}
	for _, l := range c.lists {
		if !l.used {
			c.warnAt(l.at, "list %s is used by no question; ignored", shown(l.name))
		}
	}
	c.consentWarning()
	return len(c.doc.questions) > 0
}

// name reads and checks the name of a question or section row.
func (c *converter) name(r row, what string) (string, loc, bool) {
	name, at := c.value(sheetSurvey, r, "name")
	switch {
	case at.col == 0:
		c.errAt(c.typeCell(r), "no name column; every question needs a name, such as phone_use")
		return "", at, false
	case name == "":
		c.errAt(at, "empty; give the %s a name, such as %s", what, map[bool]string{true: "phones", false: "phone_use"}[what == "group"])
		return "", at, false
	case !questionIDRE.MatchString(name):
		if fix := suggestName(name, true); fix != "" {
			c.errAt(at, "a name is 1 to 48 lowercase letters a-z, digits 0-9 and '_', starting with a letter: write %s (and ${%s} where conditions refer to it)", fix, fix)
		} else {
			c.errAt(at, "a name is 1 to 48 lowercase letters a-z, digits 0-9 and '_', starting with a letter, such as phone_use")
		}
		return name, at, false
	}
	if prev, dup := c.ids[name]; dup {
		c.errAt(at, "%s is already the name of the row in %s; give every question and group its own name", name, prev.cellName())
		return name, at, false
	}
	c.ids[name] = at
	return name, at, true
}

// group reads a begin group row into section i.
func (c *converter) group(r row, i int, missing map[missingKey]bool) sectionDoc {
	path := fmt.Sprintf("sections[%d]", i)
	id, at, _ := c.name(r, "group")
	c.cells[path+".id"] = at
	c.cells[path] = c.typeCell(r)
	sec := sectionDoc{id: id}
	sec.label = c.text(sheetSurvey, r, "label", path+".label", true, missing)
	sec.help = c.text(sheetSurvey, r, "hint", path+".help", false, missing)
	sec.relevant, at = c.value(sheetSurvey, r, "relevant")
	c.cells[path+".relevant"] = at
	for _, f := range []string{"required", "constraint", "choice_filter", "decimals"} {
		if v, at := c.value(sheetSurvey, r, f); v != "" {
			if yes, _ := parseYesNo(v); f == "required" && !yes {
				continue
			}
			c.errAt(at, "a group has no %s; set it on its questions", f)
		}
	}
	c.noText(sheetSurvey, r, "constraint_message", "a group has no constraint_message; set it on its questions")
	if v, at := c.value(sheetSurvey, r, "appearance"); v != "" && v != "field-list" {
		c.warnAt(at, "appearance %s is ignored: each section is one page already", shown(v))
	}
	return sec
}

// noText reports an error at each cell of the translatable column base in
// row r that holds a value.
func (c *converter) noText(sheet string, r row, base, problem string) {
	for _, lang := range c.langs {
		if col := c.tcols[sheet][base][lang]; col != nil && strings.TrimSpace(r.cell(col.index)) != "" {
			c.errAt(loc{sheet: sheet, row: r.num, col: col.index + 1, column: col.header}, "%s", problem)
		}
	}
}

// question reads a question row into question i.
func (c *converter) question(r row, t rowType, i int, missing map[missingKey]bool) questionDoc {
	path := fmt.Sprintf("questions[%d]", i)
	id, at, _ := c.name(r, "question")
	c.cells[path+".id"] = at
	c.cells[path] = c.typeCell(r)
	c.cells[path+".type"] = c.typeCell(r)
	q := questionDoc{id: id, typ: t.typ}

	// Appearance: the few that change what is asked, and warnings for
	// those that only lay it out.
	appearance, appAt := c.value(sheetSurvey, r, "appearance")
	for _, a := range strings.Fields(appearance) {
		switch {
		case strings.HasPrefix(a, "search("):
			c.errAt(appAt, "choices from an external file (search()) are not supported: %s", whyExternal)
		case t.typ == config.ShortText && a == "multiline":
			q.typ = config.LongText
		case t.typ == config.DateApprox && a == "year":
			q.typ = config.Year
		case t.typ == config.DateApprox && a == "month-year":
		default:
			c.warnAt(appAt, "appearance %s is ignored: testimony lays out every question the same way, for every browser, with or without JavaScript", shown(a))
		}
	}
	if t.typ == config.DateApprox && q.typ == config.DateApprox && !slices.Contains(strings.Fields(appearance), "month-year") {
		c.warnAt(c.typeCell(r), "asks for a year and, if remembered, a season or month (date_approx), never an exact day: an exact date can identify a person and is rarely remembered; write appearance year to ask for the year only, or month-year to say so and silence this warning")
	}

	q.label = c.text(sheetSurvey, r, "label", path+".label", true, missing)
	q.help = c.text(sheetSurvey, r, "hint", path+".help", false, missing)

	req, reqAt := c.value(sheetSurvey, r, "required")
	c.cells[path+".required"] = reqAt
	yes, okYes := parseYesNo(req)
	switch {
	case !okYes:
		c.errAt(reqAt, "write yes or no (or leave it empty for no); testimony has no question required only under a condition: give that question a relevant instead")
	case t.typ == config.Note && yes:
		c.errAt(reqAt, "a note is text to read and is never answered; remove required")
	case t.typ == config.Consent:
		// A consent question is required unless the file says otherwise;
		// an XLSForm acknowledge is optional unless required says yes.
		q.required = &yes
	case yes:
		q.required = &yes
	}

	q.relevant, at = c.value(sheetSurvey, r, "relevant")
	c.cells[path+".relevant"] = at
	q.constraint, at = c.value(sheetSurvey, r, "constraint")
	c.cells[path+".constraint"] = at
	for _, f := range []string{"min", "max", "max_length"} {
		c.cells[path+"."+f] = at
	}
	q.constraintMsg = c.text(sheetSurvey, r, "constraint_message", path+".constraint_message", false, missing)
	switch {
	case q.constraint != "" && (t.typ == config.Note || t.typ == config.Consent):
		c.errAt(at, "%s has no answer to check; remove the constraint", map[bool]string{true: "a note", false: "an acknowledge is ticked or not, and"}[t.typ == config.Note])
	case q.constraint == "" && q.constraintMsg != nil:
		c.noText(sheetSurvey, r, "constraint_message", "a constraint_message without a constraint; write the constraint, or remove the message")
		q.constraintMsg = nil
	}

	if v, at := c.value(sheetSurvey, r, "choice_filter"); v != "" {
		c.errAt(at, "choice_filter (cascading selects) is not supported: testimony shows every choice of a question to everyone; ask one question per parent choice, each with a relevant, or list all choices")
	}
	if v, at := c.value(sheetSurvey, r, "decimals"); v != "" {
		c.cells[path+".decimals"] = at
		n, err := strconv.Atoi(v)
		switch {
		case q.typ != config.Decimal:
			c.errAt(at, "only decimal questions have decimals (the most digits after the point); remove it")
		case err != nil || n < 1 || n > config.MaxDecimalDigits:
			c.errAt(at, "write the most digits after the point, 1 to %d", config.MaxDecimalDigits)
		default:
			q.decimals = n
		}
	}

	if t.list != "" {
		l := c.lists[t.list]
		switch {
		case l == nil && c.wb.sheets[sheetChoices] == nil:
			c.errAt(c.typeCell(r), "list %s: the workbook has no choices sheet; add one with the columns list_name, name and label::…", shown(t.list))
		case l == nil:
			msg := fmt.Sprintf("no list %s in the choices sheet", shown(t.list))
			names := make([]string, 0, len(c.lists))
			for n := range c.lists {
				names = append(names, n)
			}
			if alt := suggest(t.list, names); alt != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", alt)
			}
			c.errAt(c.typeCell(r), "%s; add its choices there, with list_name %s", msg, shown(t.list))
		case len(l.choices) < 2:
			c.errAt(c.typeCell(r), "list %s has %d choice; a choice question has at least two: add choices to the list, or ask another type of question", shown(t.list), len(l.choices))
		case len(l.choices) > maxChoices:
			c.errAt(c.typeCell(r), "list %s has %d choices; a choice question has at most %d: split the question, or ask a text question", shown(t.list), len(l.choices), maxChoices)
		default:
			l.used = true
			for j, ch := range l.choices {
				ch.label = maps(ch.label)
				if q.typ != config.MultiChoice {
					ch.exclusive = false
				}
				q.choices = append(q.choices, ch)
				cp := fmt.Sprintf("%s.choices[%d]", path, j)
				_, vat := c.value(sheetChoices, l.rows[j], "name")
				c.cells[cp] = vat
				c.cells[cp+".value"] = vat
				_, eat := c.value(sheetChoices, l.rows[j], "exclusive")
				c.cells[cp+".exclusive"] = eat
				for _, lang := range c.langs {
					if at, ok := c.cells[fmt.Sprintf("choices.%s.%d.label.%s", t.list, j, lang)]; ok {
						c.cells[cp+".label."+lang] = at
					}
				}
			}
			c.cells[path+".choices"] = l.at
		}
	}
	return q
}

func maps(t text) text {
	if t == nil {
		return nil
	}
	out := make(text, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// consentWarning warns when no acknowledge question is required.
func (c *converter) consentWarning() {
	for _, q := range c.doc.questions {
		if q.typ == config.Consent && q.required != nil && *q.required {
			return
		}
	}
	c.p.warnf(c.title(sheetSurvey), 0, 0, "", "no acknowledge question has required yes: answers can be sent without agreeing to their use; add one, such as \"I agree that my answers may be used for research\" (see examples/nk-internet-access.xlsx)")
}

// ---- Conditions ----

// conditions parses and checks every relevant and constraint, and turns
// constraints that are only bounds into min, max, max_length and
// exclusive choices.
func (c *converter) conditions() {
	schema := expr.Schema{}
	notes := map[string]bool{}
	index := map[string]int{}
	for i, q := range c.doc.questions {
		index[q.id] = i
		var k expr.Question
		switch q.typ {
		case config.Note:
			notes[q.id] = true
			continue
		case config.SingleChoice, config.MultiChoice:
			k.Kind = expr.Choice
			if q.typ == config.MultiChoice {
				k.Kind = expr.Multi
			}
			for _, ch := range q.choices {
				k.Values = append(k.Values, ch.value)
			}
		case config.Consent:
			k = expr.Question{Kind: expr.Choice, Values: []string{config.ConsentValue}}
		case config.Year, config.Integer, config.Decimal:
			k.Kind = expr.Number
		default:
			k.Kind = expr.Text
		}
		schema[q.id] = k
	}
	// before reports a problem with a reference of e to a question that is
	// not asked before question first.
	before := func(e *expr.Expr, first int, self string) string {
		for _, ref := range e.Refs() {
			j, ok := index[ref]
			switch {
			case !ok:
			case notes[ref]:
				return "${" + ref + "} is a note, which has no answer"
			case ref == self:
				return "${" + ref + "} is this question: write . for its own answer"
			case j >= first:
				return "${" + ref + "} is asked after this; a condition can only read answers given before it"
			}
		}
		return ""
	}
	check := func(src string, at loc, first int, self string, hint string) *expr.Expr {
		e, err := expr.Parse(src)
		if err == nil {
			if p := before(e, first, self); p != "" {
				err = errors.New(p)
			}
		}
		if err == nil {
			err = e.Check(schema, self)
		}
		if err != nil {
			c.errAt(at, "%v%s", err, hint)
			return nil
		}
		return e
	}
	for i := range c.doc.sections {
		sec := &c.doc.sections[i]
		if sec.relevant == "" {
			continue
		}
		first := index[sec.questions[0]]
		check(sec.relevant, c.cells[fmt.Sprintf("sections[%d].relevant", i)], first, "", "")
	}
	for i := range c.doc.questions {
		q := &c.doc.questions[i]
		path := fmt.Sprintf("questions[%d]", i)
		if q.relevant != "" {
			hint := ""
			if strings.Contains(q.relevant, "'OK'") {
				hint = " (a ticked acknowledge is 'yes' in testimony, not 'OK')"
			}
			check(q.relevant, c.cells[path+".relevant"], i, "", hint)
		}
		if q.constraint == "" || q.typ == config.Note || q.typ == config.Consent {
			continue // the latter reported by question
		}
		at := c.cells[path+".constraint"]
		hint := ""
		if q.typ == config.DateApprox || q.typ == config.Year {
			hint = " (bound a date by years, as . >= 1990 and . <= 2024)"
		}
		e, err := expr.Parse(q.constraint)
		if err != nil {
			c.errAt(at, "%v%s", err, hint)
			continue
		}
		if q.constraintMsg == nil {
			if b, ok := asBounds(e.String(), q.typ); ok {
				c.applyBounds(q, b, at)
				continue
			}
		}
		check(q.constraint, at, i, q.id, hint)
	}
}

// applyBounds sets the bounds a constraint was read as.
func (c *converter) applyBounds(q *questionDoc, b bounds, at loc) {
	q.constraint = ""
	q.min, q.max, q.maxLength = b.min, b.max, b.maxLength
	for _, v := range b.exclusive {
		found := false
		for j := range q.choices {
			if q.choices[j].value == v {
				q.choices[j].exclusive, found = true, true
			}
		}
		if !found {
			c.errAt(at, "'%s' is not a choice of this question", v)
		}
	}
}

// ---- Errors of package config ----

// fromConfig turns the problems config found in the study file into
// problems in the cells they come from.
func (c *converter) fromConfig(err error) {
	var ces config.Errors
	if !errors.As(err, &ces) {
		c.p.errorf("", 0, 0, "", "%v", err)
		return
	}
	for _, e := range ces {
		path := e.Field
		if e.Question != "" {
			for i, q := range c.doc.questions {
				if q.id == e.Question {
					path = fmt.Sprintf("questions[%d].%s", i, e.Field)
					break
				}
			}
		}
		if strings.HasPrefix(path, "recipients") || strings.HasPrefix(path, "limits") || path == "require_browser_encryption" {
			from := c.opt.RecipientsFrom
			if !strings.HasPrefix(path, "recipients") {
				from = c.opt.LimitsFrom
			}
			if from != "" {
				path += " (from " + from + ")"
			}
			c.p.errorf("", 0, 0, "", "%s: %s", path, e.Problem)
			continue
		}
		if l, ok := c.locate(path); ok {
			// Name the field when the cell holds more than it (a
			// constraint read as min and max, a list's choices).
			field := path[strings.LastIndexAny(path, ".[")+1:]
			if strings.HasSuffix(field, "]") || c.isLanguage(field) {
				field = ""
			}
			if field != "" && !strings.HasPrefix(normalizeName(l.column), field) {
				if e.Value != "" {
					field += " " + e.Value
				}
				c.errAt(l, "%s: %s", field, e.Problem)
			} else {
				c.errAt(l, "%s", e.Problem)
			}
			continue
		}
		if path != "" {
			c.p.errorf("", 0, 0, "", "%s: %s", path, e.Problem)
		} else {
			c.p.errorf("", 0, 0, "", "%s", e.Problem)
		}
	}
}

func (c *converter) isLanguage(s string) bool { return slices.Contains(c.langs, s) }

// locate returns the cell a path of the study file comes from, or that
// of its closest enclosing field.
func (c *converter) locate(path string) (loc, bool) {
	for path != "" {
		if l, ok := c.cells[path]; ok {
			return l, true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return loc{}, false
}
