package export

import (
	"strings"
	"time"

	"github.com/testimony-project/testimony/config"
)

// codeMeanings say what each code means, in the languages this package has
// words for; others get English.
var codeMeanings = map[string]map[string]string{
	NotAsked: {
		"ko": "묻지 않음: 질문의 조건이 맞지 않아 보이지 않았습니다",
		"en": "not asked: the question's condition was false, so it was not shown",
		"zh": "未询问：问题的条件不成立，因此没有显示",
	},
	Skipped: {
		"ko": "건너뜀: 질문이 보였지만 답하지 않았습니다",
		"en": "skipped: the question was shown and left blank",
		"zh": "跳过：问题已显示但没有回答",
	},
	NotInVersion: {
		"ko": "이 판에 없음: 답한 질문지 판에 이 질문이 없었습니다",
		"en": "not in this version: the questionnaire version answered had no such question",
		"zh": "此版本没有：所回答的问卷版本中没有这个问题",
	},
	`\`: {
		"ko": `코드와 같은 글 답에는 앞에 \ 하나를 더 붙였습니다: \.s 는 글 ".s" 입니다`,
		"en": `a text answer that reads as a code has one more \ in front: \.s is the text ".s"`,
		"zh": `与代码相同的文字回答前面多加一个 \：\.s 是文字“.s”`,
	},
}

func meaning(code, lang string) string {
	if m, ok := codeMeanings[code][lang]; ok {
		return m
	}
	return codeMeanings[code]["en"]
}

// codebookHeader returns the codebook's columns.
func (s *Schema) codebookHeader() []string {
	h := []string{"kind", "column", "question", "type", "value"}
	for _, l := range s.langs {
		h = append(h, "label_"+l)
	}
	return append(h, "required", "condition", "range", "constraint", "versions")
}

// codebook returns the codebook's rows, after the header: the codes, the
// questionnaire versions, then every column with its question and choices.
func (s *Schema) codebook(now time.Time) [][]string {
	var rows [][]string
	n := len(s.codebookHeader())
	row := func(kind, col, q, typ, value string, labels func(lang string) string, required, cond, rng, cons, versions string) {
		r := make([]string, 0, n)
		r = append(r, kind, col, q, typ, value)
		for _, l := range s.langs {
			r = append(r, labels(l))
		}
		rows = append(rows, append(r, required, cond, rng, cons, versions))
	}
	for _, c := range []string{NotAsked, Skipped, NotInVersion, `\`} {
		row("code", "", "", "", c, func(l string) string { return meaning(c, l) }, "", "", "", "", "")
	}
	for _, v := range s.versions {
		typ := "earlier"
		if v.study == s.current {
			typ = "current"
		}
		row("version", "", "", typ, v.short, func(l string) string { return label(v.study.Title, l) }, "", "", "", "", v.id)
	}
	for _, q := range s.questions {
		versions := shorts(q.versions)
		required := ""
		if q.q.Required {
			required = "yes"
		}
		cols := q.columns
		if len(cols) == 0 { // a note
			row("question", "", q.id, string(q.q.Type), "", func(l string) string { return label(q.q.Label, l) }, "", condition(q.study, q.q), "", "", versions)
			continue
		}
		for i, col := range cols {
			typ := string(q.q.Type)
			rng := rangeText(q.q, now)
			if q.q.Type == config.DateApprox && i == 1 {
				typ, rng = typ+" month or season", ""
			}
			row("question", col, q.id, typ, "", func(l string) string { return label(q.q.Label, l) }, required, condition(q.study, q.q), rng, constraint(q.q), versions)
		}
		for _, c := range q.choices {
			row("choice", cols[0], q.id, "", c.value, func(l string) string { return label(c.label, l) }, "", "", "", "", shorts(c.versions))
		}
		if q.q.Type == config.DateApprox {
			for _, p := range []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "spring", "summer", "autumn", "winter"} {
				row("choice", cols[1], q.id, "", p, func(l string) string { return periodLabel(p, l) }, "", "", "", "", "")
			}
		}
	}
	return rows
}

func shorts(vs []*version) string {
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.short
	}
	return strings.Join(ids, " ")
}
