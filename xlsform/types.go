package xlsform

import (
	"strings"

	"github.com/testimony-project/testimony/config"
)

// rowKind is what a row of the survey sheet is.
type rowKind int

const (
	kindQuestion rowKind = iota + 1
	kindBeginGroup
	kindEndGroup
	kindBeginRepeat
	kindEndRepeat
	kindRefused
)

// rowType is the type cell of a survey row, read.
type rowType struct {
	kind rowKind
	// typ is the question type, for a question; for a date, the type
	// before its appearance is read (date_approx).
	typ  config.QuestionType
	list string // the choice list of select_one and select_multiple
	// why says why a refused type is refused, and what to do instead.
	why string
}

// Reasons shared by several refused types.
const (
	whyMetadata = "testimony never records device ids, phone numbers, SIM numbers, user names, e-mail addresses or the times of people at risk: such metadata can identify a person; remove this row"
	whyLocation = "testimony never asks for a location: coordinates identify a person and the places they live and hide; ask a choice question (such as a province) instead"
	whyMedia    = "testimony accepts no files, photos, audio or video: faces, voices and hidden metadata (such as the GPS position in a photo) identify a person, and files are too large for Tor; ask a text question instead"
	whyTime     = "testimony never asks for a time of day: an exact time can identify a person, and testimony records nothing finer than the day; use date for a year and a season or month"
	whyCompute  = "testimony stores only what a person answers, never a value computed from it; compute it in your analysis instead"
	whyExternal = "a study is one file, with every choice in it: testimony reads no external data; move the choices to the choices sheet"
)

// refusedTypes maps the XLSForm types testimony does not support to why.
var refusedTypes = map[string]string{
	"start":                     whyMetadata,
	"end":                       whyMetadata,
	"today":                     whyMetadata,
	"deviceid":                  whyMetadata,
	"imei":                      whyMetadata,
	"subscriberid":              whyMetadata,
	"simserial":                 whyMetadata,
	"phonenumber":               whyMetadata,
	"username":                  whyMetadata,
	"email":                     whyMetadata,
	"audit":                     "testimony never records how long a person took or what they changed: such an audit trail can identify a person; remove this row",
	"start-geopoint":            whyLocation,
	"geopoint":                  whyLocation,
	"geotrace":                  whyLocation,
	"geoshape":                  whyLocation,
	"osm":                       whyLocation,
	"image":                     whyMedia,
	"photo":                     whyMedia,
	"audio":                     whyMedia,
	"background-audio":          whyMedia,
	"video":                     whyMedia,
	"file":                      whyMedia,
	"barcode":                   "barcodes are not supported: scanning needs a camera; ask a text question instead",
	"time":                      whyTime,
	"datetime":                  whyTime,
	"calculate":                 whyCompute,
	"hidden":                    whyCompute,
	"xml-external":              whyExternal,
	"csv-external":              whyExternal,
	"range":                     "range (a slider) is not supported: use integer or decimal, with a constraint such as . >= 1 and . <= 10",
	"rank":                      "ranking is not supported: ask a select_multiple question, or one select_one question per rank",
	"trigger":                   "trigger is not supported: for a box a person ticks to agree, use acknowledge",
	"select_one_from_file":      whyExternal,
	"select_multiple_from_file": whyExternal,
	"select_one_external":       whyExternal,
}

// supportedTypes lists the types testimony reads, for messages.
const supportedTypes = "text, integer, decimal, date, select_one, select_multiple, note, acknowledge, begin group, end group"

// parseType reads the type cell of a survey row.
func parseType(cell string) rowType {
	f := strings.Fields(cell)
	if len(f) == 0 {
		return rowType{}
	}
	// Keywords are read in any case; list names are kept as written.
	kw := strings.ToLower(f[0])
	rest := f[1:]
	// Spellings with spaces: "select one", "select all that apply",
	// "begin group", "end repeat".
	lower := make([]string, len(f))
	for i, w := range f {
		lower[i] = strings.ToLower(w)
	}
	join := func(n int) string { return strings.Join(lower[:min(n, len(lower))], " ") }
	switch {
	case join(2) == "select one" || join(2) == "select multiple":
		kw, rest = "select_"+lower[1], f[2:]
	case join(4) == "select all that apply":
		kw, rest = "select_multiple", f[4:]
	case join(2) == "begin group" || join(2) == "end group" || join(2) == "begin repeat" || join(2) == "end repeat":
		kw, rest = lower[0]+"_"+lower[1], f[2:]
	}
	var t rowType
	switch kw {
	case "begin_group":
		t.kind = kindBeginGroup
	case "end_group":
		t.kind = kindEndGroup
	case "begin_repeat", "begin_loop", "begin_looped_group":
		t.kind, t.why = kindBeginRepeat, "repeats are not supported: a testimony has one answer per question; ask a fixed number of questions, or a long text (appearance multiline)"
	case "end_repeat", "end_loop", "end_looped_group":
		t.kind = kindEndRepeat
	case "select_one", "select_multiple", "select1":
		t.kind, t.typ = kindQuestion, config.SingleChoice
		if kw == "select_multiple" {
			t.typ = config.MultiChoice
		}
		switch {
		case len(rest) == 0:
			t.kind, t.why = kindRefused, kw+" needs the name of a list of the choices sheet, as "+kw+" yes_no"
		case len(rest) > 1 && strings.EqualFold(rest[1], "or_other") && len(rest) == 2:
			t.kind, t.why = kindRefused, "or_other is not supported: every answer is one of the choices you list or a question you ask; add a choice other, and a text question with relevant selected(${name}, 'other')"
		case len(rest) > 1:
			t.kind, t.why = kindRefused, "write "+kw+" and the name of one list, as "+kw+" "+rest[0]
		default:
			t.list = rest[0]
		}
	case "text", "string":
		t.kind, t.typ = kindQuestion, config.ShortText
	case "integer", "int":
		t.kind, t.typ = kindQuestion, config.Integer
	case "decimal":
		t.kind, t.typ = kindQuestion, config.Decimal
	case "date":
		t.kind, t.typ = kindQuestion, config.DateApprox
	case "note":
		t.kind, t.typ = kindQuestion, config.Note
	case "acknowledge":
		t.kind, t.typ = kindQuestion, config.Consent
	default:
		if why, ok := refusedTypes[kw]; ok {
			t.kind, t.why = kindRefused, why
		} else if strings.HasPrefix(kw, "uri:") {
			t.kind, t.why = kindRefused, whyMetadata
		} else if strings.HasPrefix(kw, "begin") || strings.HasPrefix(kw, "end") {
			t.kind, t.why = kindRefused, "unknown type (KoboToolbox's matrix, score and rank blocks are not supported); groups are written begin group and end group"
		} else {
			t.kind, t.why = kindRefused, "unknown type; testimony reads "+supportedTypes
		}
	}
	if t.kind != kindRefused && t.kind != kindQuestion && len(rest) > 0 {
		t.kind, t.why = kindRefused, "write "+strings.ReplaceAll(kw, "_", " ")+" alone in the type column; the name goes in the name column"
	}
	if t.kind == kindQuestion && t.list == "" && len(rest) > 0 {
		t.kind, t.why = kindRefused, "write "+kw+" alone in the type column"
	}
	return t
}
