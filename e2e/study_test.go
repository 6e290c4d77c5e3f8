package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// studyYAML is a questionnaire with every question type, a conditional
// follow-up and tight limits, for recipients rs.
func studyYAML(id string, rs ...*envelope.Recipient) string {
	var b strings.Builder
	fmt.Fprintf(&b, `id: %s
title: {ko: 시험 조사, en: Test study, zh: 测试调查}
introduction: {ko: 시험입니다., en: A test., zh: 测试。}
limits: {max_submission_bytes: 65536, max_text_length: 3000}
recipients:
`, id)
	for i, r := range rs {
		fmt.Fprintf(&b, "  - {name: Researcher %d, public_key: %s}\n", i+1, r)
	}
	b.WriteString(`questions:
  - id: left_year
    type: year
    required: true
    min: 1990
    max: 2026
    label: {ko: 떠난 해, en: Year you left, zh: 离开的年份}
  - id: province
    type: single_choice
    label: {ko: 도, en: Province, zh: 省}
    choices:
      - {value: pyongyang, label: {ko: 평양, en: Pyongyang, zh: 平壤}}
      - {value: ryanggang, label: {ko: 량강도, en: Ryanggang, zh: 两江道}}
      - {value: north_hamgyong, label: {ko: 함경북도, en: North Hamgyong, zh: 咸镜北道}}
  - id: phone
    type: single_choice
    required: true
    label: {ko: 손전화를 썼습니까?, en: Did you use a mobile phone?, zh: 您用过手机吗？}
    choices:
      - {value: "yes", label: {ko: 예, en: "Yes", zh: 是}}
      - {value: "no", label: {ko: 아니오, en: "No", zh: 否}}
  - id: phone_seen
    type: multi_choice
    required: true
    relevant: "${phone} = 'yes'"
    label: {ko: 본 감시, en: Monitoring seen, zh: 看到的监控}
    choices:
      - {value: screenshots, label: {ko: 화면 찍기, en: Screenshots, zh: 截屏}}
      - {value: inspection, label: {ko: 검열, en: Inspections, zh: 检查}}
      - {value: fingerprint, label: {ko: 지문 인증, en: Fingerprint re-authentication, zh: 指纹认证}}
  - id: alias
    type: short_text
    max_length: 40
    label: {ko: 짧은 글, en: Short text, zh: 短文}
  - id: hours
    type: integer
    min: 0
    max: 24
    label: {ko: 시간, en: Hours, zh: 小时}
  - id: first_time
    type: date_approx
    label: {ko: 처음, en: First time, zh: 第一次}
  - id: story
    type: long_text
    max_length: 3000
    label: {ko: 이야기, en: Story, zh: 故事}
  - id: consent
    type: consent
    label: {ko: 동의, en: Consent, zh: 同意}
`)
	return b.String()
}

func loadStudy(t testing.TB, id string, rs ...*envelope.Recipient) (*config.Study, string) {
	t.Helper()
	y := studyYAML(id, rs...)
	s, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("test study: %v", err)
	}
	return s, y
}
