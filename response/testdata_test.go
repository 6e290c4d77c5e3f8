package response

import (
	"net/url"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
)

func intp(n int) *config.Number { v := config.IntNumber(n); return &v }

func text(s string) config.Text {
	return config.NewText("ko", map[string]string{"ko": s, "en": s, "zh": s})
}

func choices(values ...string) []config.Choice {
	cs := make([]config.Choice, len(values))
	for i, v := range values {
		cs[i] = config.Choice{Value: v, Label: text(v)}
	}
	return cs
}

// when is the condition that question q was answered with one of anyOf.
func when(q string, anyOf ...string) *config.Condition {
	var parts []string
	for _, v := range anyOf {
		parts = append(parts, "selected(${"+q+"}, '"+v+"')")
	}
	return cond(strings.Join(parts, " or "))
}

// cond parses an expression, which must parse.
func cond(src string) *config.Condition {
	c, err := config.NewCondition(src)
	if err != nil {
		panic(err)
	}
	return c
}

// testStudy is a small questionnaire with every question type, bounds,
// optional and required questions and a three-step chain of relevance:
// phone=yes → phone_uses ∋ intranet → intranet_where ∋ library →
// intranet_watch.
func testStudy() *config.Study {
	return &config.Study{
		ID:     "test-study",
		Title:  text("Test"),
		Limits: config.Limits{MaxTextLength: 300},
		Questions: []config.Question{
			{ID: "consent", Type: config.Consent, Required: true},
			{ID: "left_year", Type: config.Year, Required: true},
			{ID: "left_when", Type: config.DateApprox},
			{ID: "province", Type: config.SingleChoice, Required: true,
				Choices: choices("north_hamgyong", "ryanggang", "pyongyang", "other")},
			{ID: "phone", Type: config.SingleChoice, Required: true, Choices: choices("yes", "no")},
			{ID: "phone_years", Type: config.Integer, Min: intp(0), Max: intp(50), Relevant: when("phone", "yes")},
			{ID: "phone_uses", Type: config.MultiChoice, Required: true, Min: intp(1), Max: intp(3),
				Choices: choices("calls", "texts", "photos", "intranet"), Relevant: when("phone", "yes")},
			{ID: "intranet_where", Type: config.MultiChoice,
				Choices: choices("home", "work", "library"), Relevant: when("phone_uses", "intranet")},
			{ID: "intranet_watch", Type: config.LongText, MaxLength: 50, Relevant: when("intranet_where", "library")},
			{ID: "nickname", Type: config.ShortText, MaxLength: 10},
			{ID: "remark", Type: config.ShortText},
			{ID: "testimony", Type: config.LongText},
			{ID: "age", Type: config.Integer},
			{ID: "usb", Type: config.MultiChoice, Choices: choices("films", "dramas", "music")},
		},
	}
}

// minimalForm answers the required questions of testStudy, and nothing
// else: phone=no keeps the follow-ups hidden.
func minimalForm() url.Values {
	return url.Values{
		"q.consent":   {"yes"},
		"q.left_year": {"2019"},
		"q.province":  {"ryanggang"},
		"q.phone":     {"no"},
	}
}

func minimalAnswers() map[string][]string {
	return map[string][]string{
		"consent":   {"yes"},
		"left_year": {"2019"},
		"province":  {"ryanggang"},
		"phone":     {"no"},
	}
}

// with returns a copy of form with the fields in kv (name, value, name,
// value, ...) added; a name given twice gets both values.
func with(form url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = append(out[kv[i]], kv[i+1])
	}
	return out
}

// without returns a copy of form without the named fields.
func without(form url.Values, names ...string) url.Values {
	out := with(form)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

func set(form url.Values, name, value string) url.Values {
	out := with(form)
	out[name] = []string{value}
	return out
}

// mustFromForm reads form and fails the test on a malformed form.
func mustFromForm(t testing.TB, s *config.Study, form url.Values) (*Response, Problems) {
	t.Helper()
	r, ps, err := FromForm(s, "ko", form)
	if err != nil {
		t.Fatalf("FromForm: %v", err)
	}
	return r, ps
}

// benchStudy is a typical questionnaire of 20 questions, and benchForm a
// typical answer to it, with a long Korean testimony.
func benchStudy() *config.Study {
	s := &config.Study{ID: "nk-internet-access", Title: text("인터넷")}
	qs := []config.Question{
		{ID: "consent", Type: config.Consent, Required: true},
		{ID: "left", Type: config.DateApprox, Required: true},
		{ID: "province", Type: config.SingleChoice, Required: true,
			Choices: choices("north_hamgyong", "south_hamgyong", "ryanggang", "jagang", "north_pyongan",
				"south_pyongan", "pyongyang", "kangwon", "north_hwanghae", "south_hwanghae", "rason")},
		{ID: "age_left", Type: config.Integer, Min: intp(0), Max: intp(120)},
		{ID: "phone", Type: config.SingleChoice, Required: true, Choices: choices("yes", "no", "unsure")},
		{ID: "phone_since", Type: config.Year, Relevant: when("phone", "yes")},
		{ID: "phone_uses", Type: config.MultiChoice, Choices: choices("calls", "texts", "photos", "games", "dictionary", "intranet"),
			Relevant: when("phone", "yes")},
		{ID: "kwangmyong", Type: config.SingleChoice, Choices: choices("never", "sometimes", "often")},
		{ID: "kwangmyong_where", Type: config.MultiChoice, Choices: choices("home", "work", "school", "library", "e_library"),
			Relevant: when("kwangmyong", "sometimes", "often")},
		{ID: "internet", Type: config.SingleChoice, Choices: choices("never", "once", "regularly")},
		{ID: "internet_where", Type: config.ShortText, Relevant: when("internet", "once", "regularly")},
		{ID: "approval", Type: config.LongText, MaxLength: 2000, Relevant: when("internet", "once", "regularly")},
		{ID: "approval_weeks", Type: config.Integer, Min: intp(0), Max: intp(520), Relevant: when("internet", "once", "regularly")},
		{ID: "monitoring", Type: config.MultiChoice, Choices: choices("librarian", "screen_freeze", "screenshots", "inspections")},
		{ID: "monitoring_detail", Type: config.LongText, MaxLength: 3000},
		{ID: "usb", Type: config.SingleChoice, Choices: choices("yes", "no")},
		{ID: "usb_what", Type: config.MultiChoice, Choices: choices("films", "dramas", "music", "books"), Relevant: when("usb", "yes")},
		{ID: "usb_since", Type: config.DateApprox, Relevant: when("usb", "yes")},
		{ID: "nickname", Type: config.ShortText, MaxLength: 30},
		{ID: "testimony", Type: config.LongText},
	}
	s.Questions = qs
	return s
}

func benchForm() url.Values {
	story := strings.Repeat("도서관에서 광명망을 쓸 때마다 사서가 뒤에서 화면을 지켜보았습니다. 5분마다 화면이 멈추고 지문 인증을 다시 해야 했습니다.\r\n", 12)
	return url.Values{
		"q.consent":           {"yes"},
		"q.left":              {"2019"},
		"q.left.when":         {"spring"},
		"q.province":          {"ryanggang"},
		"q.age_left":          {"27"},
		"q.phone":             {"yes"},
		"q.phone_since":       {"2012"},
		"q.phone_uses":        {"texts", "calls", "intranet", "dictionary"},
		"q.kwangmyong":        {"often"},
		"q.kwangmyong_where":  {"library", "work"},
		"q.internet":          {"once"},
		"q.internet_where":    {"평양 인민대학습당"},
		"q.approval":          {"보위부의 허가가 필요했고, 석 달이 걸렸습니다.\r\n담당자가 옆에 앉아 있었습니다."},
		"q.approval_weeks":    {"12"},
		"q.monitoring":        {"screenshots", "librarian", "screen_freeze"},
		"q.monitoring_detail": {"손전화가 저절로 화면을 찍어 저장했습니다. 검열원이 그 사진을 확인했습니다."},
		"q.usb":               {"yes"},
		"q.usb_what":          {"dramas", "films"},
		"q.usb_since":         {"2015"},
		"q.usb_since.when":    {"08"},
		"q.nickname":          {"함경도 사람 🙂"},
		"q.testimony":         {story},
		"lang":                {"ko"},
		"csrf":                {"the caller's field"},
	}
}
