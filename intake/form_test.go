package intake

import (
	"errors"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// checkLikeParseQuery reads body with readForm, through reads of every
// size, and checks it agrees with url.ParseQuery.
func checkLikeParseQuery(t *testing.T, body string) {
	t.Helper()
	want, werr := url.ParseQuery(body)
	l := formLimits{bytes: len(body) + 1, fields: strings.Count(body, "&") + 1}
	for _, r := range []io.Reader{strings.NewReader(body), iotest.OneByteReader(strings.NewReader(body)), iotest.HalfReader(strings.NewReader(body))} {
		f, err := readForm(r, l)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, url.ParseQuery's %v", body, err, werr)
		}
		if err != nil {
			if !errors.Is(err, errFormMalformed) {
				t.Fatalf("%q: error %v, want errFormMalformed", body, err)
			}
			continue
		}
		if got := f.values(); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%q: %v, url.ParseQuery gives %v", body, got, want)
		}
	}
}

func TestReadFormDecodesAsParseQuery(t *testing.T) {
	for _, body := range []string{
		"", "a=1", "a=1&b=2&a=3", "a", "a=", "=", "=x", "&&a=1&&", "a=b=c", "a%3Db=c%3Dd",
		"q.story=%EC%A6%9D%EC%96%B8+%2B%2F%3D", "k=%zz", "k=%4", "k=%", "%41=%42", "a=1;b=2", "a;=1",
		"x=%e4%b8%ad", "x=\xff\x00", "lang=ko&envelope=QUJD%2B%2F%3D%3D",
	} {
		checkLikeParseQuery(t, body)
	}
}

func FuzzReadForm(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "k=%zz", "a=b=c&&", "q.x=%EC%A6%9D+%2B", "a;b", "%4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) { checkLikeParseQuery(t, body) })
}

// TestReadFormLimits: the decoded size, the number of fields and the bytes
// on the wire are bounded, the buffer never grows past the limit, and
// what was read before a failure is returned.
func TestReadFormLimits(t *testing.T) {
	var grown []int
	l := formLimits{bytes: 10000, fields: 3, grow: func(n int) error { grown = append(grown, n); return nil }}
	// 10,000 decoded bytes, sent as 30,000: within the limit.
	body := "lang=en&e=" + strings.Repeat("%41", 10000-len("langene"))
	f, err := readForm(strings.NewReader(body), l)
	if err != nil {
		t.Fatalf("a form of exactly the limit, fully percent-encoded: %v", err)
	}
	if cap(f.buf) > l.bytes || len(f.get("e")) != 10000-len("langene") {
		t.Fatalf("buffer capacity %d, value %d bytes", cap(f.buf), len(f.get("e")))
	}
	if grown[len(grown)-1] != l.bytes {
		t.Fatalf("growth %v does not end at the limit", grown)
	}
	// One byte more.
	f, err = readForm(strings.NewReader(body+"A"), l)
	if !errors.Is(err, errFormTooLarge) || f.get("lang") != "en" {
		t.Fatalf("one byte over: %v, lang %q", err, f.get("lang"))
	}
	if _, err := readForm(strings.NewReader("a=1&b=2&c=3&d=4"), l); !errors.Is(err, errTooManyFields) {
		t.Fatalf("four fields: %v", err)
	}
	// Separators alone decode to nothing but still count on the wire.
	if _, err := readForm(strings.NewReader(strings.Repeat("&", int(l.maxWire())+1)), l); !errors.Is(err, errFormTooLarge) {
		t.Fatalf("endless separators: %v", err)
	}
	// The reservation can refuse.
	busy := errors.New("busy")
	l.grow = func(n int) error {
		if n > 4096 {
			return busy
		}
		return nil
	}
	if f, err := readForm(strings.NewReader("lang=zh&e="+strings.Repeat("x", 5000)), l); !errors.Is(err, busy) || f.get("lang") != "zh" {
		t.Fatalf("refused growth: %v, lang %q", err, f.get("lang"))
	}
}

// get returns the first value of name, or "".
func (f *form) get(name string) string {
	for _, fl := range f.fields {
		if f.key(fl) == name {
			return string(f.buf[fl.v0:fl.v1])
		}
	}
	return ""
}
