package export

import (
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/testimony-project/testimony/config"
)

// reportWords are the report's own words: headings, notes and the names of
// the codes. Labels come from the study; these come from here, in the
// languages of intake's own pages ([config.ChromeLanguages]).
type reportWords struct {
	Report, Testimonies, Study, Versions, Date, Contents string

	HowToRead, ChoiceShares, MultiNote, CodesIntro string

	ByLanguage, ByVersion, Questions, Language, Version, Title, Current, Earlier       string
	Count, Share, ShareOfAll, Numbers, Choice, Value, Range, OtherValue, OtherLanguage string
	Answered, NotAsked, Skipped, NotInVersion                                          string

	Agreed, AskedIn, Min, Max, Mean, Year, Period, YearOnly string

	FreeTextOmitted, FreeTextIncluded, FreeTextAnswers string
	Pseudonyms, Pseudonym, Romanized                   string

	// Formats.
	AnsweredOf string // answered count, all count
	Part       string // part, parts
	HistDesc   string // answers, lowest, highest
}

var reportWordsByLang = map[string]*reportWords{
	"en": {
		Report: "report", Testimonies: "Testimonies", Study: "Study", Versions: "Questionnaire versions", Date: "Date", Contents: "Contents",
		HowToRead:    "How to read this report",
		ChoiceShares: "A choice's share is of the testimonies that answered the question. Bars are drawn on one scale, from 0 to 100%.",
		MultiNote:    "Several choices may be ticked: shares can add up to more than 100%.",
		CodesIntro:   "Grey bars and grey lines count the testimonies that have no answer to a question, as a share of all testimonies, for one of three reasons (the codes of the CSV and XLSX files):",
		ByLanguage:   "Testimonies by language", ByVersion: "Testimonies by questionnaire version", Questions: "Questions",
		Language: "Language", Version: "Version", Title: "Title", Current: "current", Earlier: "earlier",
		Count: "Count", Share: "Share", ShareOfAll: "Share of all", Numbers: "Numbers", Choice: "Choice", Value: "Value", Range: "Range",
		OtherValue: "a value the questionnaire does not have", OtherLanguage: "another language",
		Answered: "answered", NotAsked: "not asked", Skipped: "skipped", NotInVersion: "not in this version",
		Agreed: "agreed", AskedIn: "Asked in questionnaire versions", Min: "lowest", Max: "highest", Mean: "mean",
		Year: "year", Period: "month or season", YearOnly: "year only",
		FreeTextOmitted:  "Free-text answers are not in this report: read them in each testimony's Markdown file.",
		FreeTextIncluded: "This report holds free-text answers: keep it as safe as the testimonies themselves.",
		FreeTextAnswers:  "Answers",
		Pseudonyms:       "Pseudonyms", Pseudonym: "Pseudonym", Romanized: "Romanized",
		AnsweredOf: "%s of %s answered", Part: "part %d of %d",
		HistDesc: "Histogram of %s answers, from %s to %s.",
	},
	"ko": {
		Report: "보고서", Testimonies: "증언", Study: "조사", Versions: "질문지 판", Date: "날짜", Contents: "차례",
		HowToRead:    "보고서 읽는 법",
		ChoiceShares: "선택지의 비율은 그 질문에 답한 증언 가운데의 비율입니다. 막대는 모두 0에서 100%까지 같은 눈금으로 그렸습니다.",
		MultiNote:    "여러 개를 고를 수 있는 질문이라 비율을 더하면 100%가 넘을 수 있습니다.",
		CodesIntro:   "회색 막대와 회색 줄은 질문에 답이 없는 증언을 세며, 그 비율은 모든 증언 가운데의 비율입니다. 까닭은 세 가지입니다(CSV와 XLSX 파일의 코드):",
		ByLanguage:   "언어별 증언", ByVersion: "질문지 판별 증언", Questions: "질문",
		Language: "언어", Version: "판", Title: "제목", Current: "현재 판", Earlier: "이전 판",
		Count: "수", Share: "비율", ShareOfAll: "모든 증언 중 비율", Numbers: "숫자 보기", Choice: "선택지", Value: "값", Range: "구간",
		OtherValue: "질문지에 없는 값", OtherLanguage: "다른 언어",
		Answered: "답함", NotAsked: "묻지 않음", Skipped: "건너뜀", NotInVersion: "이 판에 없음",
		Agreed: "동의함", AskedIn: "이 질문이 있는 질문지 판", Min: "최소", Max: "최대", Mean: "평균",
		Year: "연도", Period: "달 또는 계절", YearOnly: "연도만",
		FreeTextOmitted:  "자유 기술 답은 이 보고서에 넣지 않았습니다. 각 증언의 Markdown 파일에서 읽으십시오.",
		FreeTextIncluded: "이 보고서에는 자유 기술 답이 들어 있습니다. 증언 자체처럼 안전하게 보관하십시오.",
		FreeTextAnswers:  "답",
		Pseudonyms:       "가명", Pseudonym: "가명", Romanized: "로마자",
		AnsweredOf: "%[2]s건 중 %[1]s건 답함", Part: "%d/%d",
		HistDesc: "답 %s건의 분포, %s부터 %s까지.",
	},
	"zh": {
		Report: "报告", Testimonies: "证词", Study: "调查", Versions: "问卷版本", Date: "日期", Contents: "目录",
		HowToRead:    "如何阅读本报告",
		ChoiceShares: "选项的比例是回答了该问题的证词中的比例。所有条形都按同一刻度绘制，从0到100%。",
		MultiNote:    "可多选：比例相加可能超过100%。",
		CodesIntro:   "灰色条和灰色说明统计没有回答某个问题的证词，比例以全部证词计，原因有三种（CSV和XLSX文件中的代码）：",
		ByLanguage:   "按语言的证词", ByVersion: "按问卷版本的证词", Questions: "问题",
		Language: "语言", Version: "版本", Title: "标题", Current: "当前版本", Earlier: "早期版本",
		Count: "数量", Share: "比例", ShareOfAll: "占全部证词的比例", Numbers: "查看数字", Choice: "选项", Value: "值", Range: "区间",
		OtherValue: "问卷中没有的值", OtherLanguage: "其他语言",
		Answered: "已回答", NotAsked: "未询问", Skipped: "跳过", NotInVersion: "此版本没有",
		Agreed: "同意", AskedIn: "包含此问题的问卷版本", Min: "最小", Max: "最大", Mean: "平均",
		Year: "年份", Period: "月份或季节", YearOnly: "仅年份",
		FreeTextOmitted:  "本报告不含自由文本回答：请在每份证词的 Markdown 文件中阅读。",
		FreeTextIncluded: "本报告包含自由文本回答：请像对待证词本身一样妥善保管。",
		FreeTextAnswers:  "回答",
		Pseudonyms:       "化名", Pseudonym: "化名", Romanized: "罗马字",
		AnsweredOf: "%[2]s份中%[1]s份已回答", Part: "第%d部分，共%d部分",
		HistDesc: "%s个回答的分布，从%s到%s。",
	},
}

// wordsFor returns the report's words for labels in lang: its own, those of
// its base language ("zh-Hant" → zh), or English.
func wordsFor(lang string) (*reportWords, string) {
	chrome := config.ChromeLanguage(lang)
	return reportWordsByLang[chrome], chrome
}

// languageName names the language tag in the language chrome, with the
// tag: "한국어 (ko)", "English (en)".
func languageName(tag, chrome string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	if n := display.Tags(language.Make(chrome)).Name(t); n != "" {
		return n + " (" + tag + ")"
	}
	return tag
}
