package export

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/reply"
)

func threadReply() *reply.Content {
	return &reply.Content{Study: "s", ID: "abcdefghijklmnopqrstuvwxyz", Lang: "ko", Text: "고맙습니다.\n```\n<img src=x>",
		Questions: []reply.Question{
			{ID: "year", Type: config.Year, Label: "몇 년이었습니까?", Required: true},
			{ID: "where", Type: config.MultiChoice, Label: "어디서? [link](http://x)", Choices: []reply.Choice{{Value: "home", Label: "집"}, {Value: "work", Label: "일터"}}},
			{ID: "who", Type: config.ShortText, Label: "누구?"},
		}}
}

func threadMessages() []ThreadMessage {
	return []ThreadMessage{
		{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", N: 1, Kind: FollowupKind, Language: "ko", Version: "v1", Reply: threadReply(), ReplyBy: "0123-4567-89AB-CDEF-0123",
			Answers: map[string][]string{"year": {"2019"}, "where": {"home", "work"}}},
		{Pseudonym: "김석한", PseudonymRoman: "Kim Seok-han", N: 2, Kind: AdditionKind, Language: "ko", Version: "v1",
			Answers: map[string][]string{AdditionAnswer: {"=HYPERLINK(\"http://x\")\n\u202e뒤집힘 .s"}}},
		{Pseudonym: "박민", PseudonymRoman: "Park Min", N: 1, Kind: FollowupKind, Language: "en", Version: "v2", Reply: threadReply(), ReplyBy: "0123-4567-89AB-CDEF-0123",
			Answers: map[string][]string{"who": {".s"}}},
	}
}

func TestThreadJSONL(t *testing.T) {
	var b bytes.Buffer
	if err := WriteThreadJSONL(&b, threadSlice(threadMessages())); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want0 := `{"pseudonym":"김석한","pseudonym_roman":"Kim Seok-han","message":1,"kind":"followup","lang":"ko","version":"v1","reply":"abcdefghijklmnopqrstuvwxyz","reply_by":"0123-4567-89AB-CDEF-0123","answers":{"year":"2019","where":["home","work"]}}`
	if len(lines) != 3 || lines[0] != want0 {
		t.Fatalf("thread.jsonl:\n%s", b.String())
	}
	var add struct {
		Kind    string            `json:"kind"`
		Reply   *string           `json:"reply"`
		Answers map[string]string `json:"answers"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &add); err != nil || add.Kind != "addition" || add.Reply != nil || add.Answers["text"] != threadMessages()[1].Answers["text"][0] {
		t.Fatalf("addition line %s: %v %+v", lines[1], err, add)
	}
	if !strings.Contains(lines[1], `\u202e`) {
		t.Error("an invisible character is not escaped in thread.jsonl")
	}
}

func TestFollowupsCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteFollowupsCSV(&b, threadSlice(threadMessages())); err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, b.Bytes())
	if !slices.Equal(recs[0], FollowupsHeader) || len(recs) != 1+3+1+3 {
		t.Fatalf("followups.csv:\n%s", b.String())
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	get := func(row int, c string) string { return recs[row][col[c]] }
	if get(1, "question") != "year" || get(1, "answer") != "2019" || get(1, "label") != "몇 년이었습니까?" || get(1, "reply") != "abcdefghijklmnopqrstuvwxyz" {
		t.Errorf("row 1: %q", recs[1])
	}
	if get(2, "answer") != "home;work" || get(2, "answer_label") != "집; 일터" || get(2, "type") != "multi_choice" {
		t.Errorf("row 2: %q", recs[2])
	}
	if get(3, "answer") != Skipped {
		t.Errorf("an unanswered question of the reply: %q", recs[3])
	}
	if get(4, "kind") != "addition" || get(4, "reply") != "" || !strings.HasPrefix(get(4, "answer"), "'=HYPERLINK") || !strings.Contains(get(4, "answer"), "<U+202E>") {
		t.Errorf("addition row not defused or not made visible: %q", recs[4])
	}
	if get(7, "answer") != `\.s` || get(5, "answer") != Skipped || get(7, "message") != "1" || get(7, "pseudonym") != "박민" {
		t.Errorf("a text answer reading as a code: %q", recs[7])
	}
}

func TestThreadMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteThreadMarkdown(&b, threadMessages()[:2]); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"## Thread\n\n### 1. Follow-up\n\nAnswers reply abcdefghijklmnopqrstuvwxyz by researcher 0123\\-4567\\-89AB\\-CDEF\\-0123, which says:\n\n````\n고맙습니다.\n```\n<img src=x>\n````\n\n",
		"#### 어디서? \\[link\\]\\(http\\://x\\)\n\n```\n집 (home)\n일터 (work)\n```\n", "### 2. Addition\n\n```\n=HYPERLINK(\"http://x\")\n<U+202E>뒤집힘 .s\n```\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("the thread lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "누구") {
		t.Error("an unanswered question is shown")
	}
	b.Reset()
	if err := WriteThreadMarkdown(&b, nil); err != nil || b.Len() != 0 {
		t.Errorf("an empty thread wrote %q, %v", b.String(), err)
	}
}

func TestThreadWritersRefuse(t *testing.T) {
	bad := []ThreadMessage{
		{Pseudonym: "x", N: 1, Kind: FollowupKind, Answers: map[string][]string{"year": {"2019"}}},
		{Pseudonym: "x", N: 1, Kind: FollowupKind, Reply: threadReply(), Answers: map[string][]string{"nope": {"1"}}},
		{Pseudonym: "x", N: 1, Kind: FollowupKind, Reply: threadReply(), Answers: map[string][]string{"year": {"1", "2"}}},
		{Pseudonym: "x", N: 1, Kind: AdditionKind, Answers: map[string][]string{}},
		{Pseudonym: "x", N: 1, Kind: "withdrawal"},
	}
	for i, m := range bad {
		if WriteThreadJSONL(&bytes.Buffer{}, threadSlice([]ThreadMessage{m})) == nil || WriteFollowupsCSV(&bytes.Buffer{}, threadSlice([]ThreadMessage{m})) == nil ||
			WriteThreadMarkdown(&bytes.Buffer{}, []ThreadMessage{m}) == nil {
			t.Errorf("message %d was written: %+v", i, m)
		}
	}
}

// threadSlice returns the messages of a slice.
func threadSlice(msgs []ThreadMessage) ThreadMessages {
	return func(yield func(ThreadMessage, error) bool) {
		for _, m := range msgs {
			if !yield(m, nil) {
				return
			}
		}
	}
}
