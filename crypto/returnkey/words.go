package returnkey

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// The official BIP-39 word lists, unchanged, from
// github.com/bitcoin/bips, bip-0039/, at commit
// 7fe0b034ec967b52a5a28276419117326df93263 (the files last changed in
// 2880981dc3460801a4f38120a79f290206612942, 2017). wordlistSHA256 holds
// their SHA-256; init refuses others.
var (
	//go:embed wordlists/korean.txt
	koreanTxt string
	//go:embed wordlists/chinese_simplified.txt
	chineseTxt string
	//go:embed wordlists/english.txt
	englishTxt string
)

// WordlistSHA256 maps each embedded list's file name to its SHA-256, as
// published with BIP-39.
var WordlistSHA256 = map[string]string{
	"korean.txt":             "9e95f86c167de88f450f0aaf89e87f6624a57f973c67b516e338e8e8b8897f60",
	"chinese_simplified.txt": "5c5942792bd8340cb8b27cd592f1015edf56a8c5b26276ee18a482428e7c5726",
	"english.txt":            "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda",
}

// A List is a BIP-39 word list: 2048 words.
type List struct {
	// Name is the list's file name in BIP-39: "korean.txt" …
	Name string
	// Language is the BCP 47 language tag of the list: "ko", "zh", "en".
	Language string
	words    [2048]string // NFKD, as published
	display  [2048]string // NFC, as shown
}

// The lists of the passphrase, by language. Other languages use English.
var (
	Korean  = mustList("korean.txt", "ko", koreanTxt)
	Chinese = mustList("chinese_simplified.txt", "zh", chineseTxt)
	English = mustList("english.txt", "en", englishTxt)
)

// Lists are the lists [Parse] reads words from.
var Lists = []*List{Korean, Chinese, English}

// Word returns the i-th word (0 ≤ i < 2048) as it is shown: NFC.
func (l *List) Word(i int) string { return l.display[i] }

// ListFor returns the list of the BCP 47 language tag lang: Korean for ko
// (ko-KR, ko-KP …), Chinese (simplified) for zh (zh-Hans, zh-Hant, zh-CN …:
// BIP-39's traditional list is not used), English for any other.
func ListFor(lang string) *List {
	primary, _, _ := strings.Cut(strings.ToLower(lang), "-")
	primary, _, _ = strings.Cut(primary, "_")
	switch primary {
	case "ko":
		return Korean
	case "zh":
		return Chinese
	}
	return English
}

var (
	index   = map[string]int{} // every list's words, NFKD, and Chinese characters
	prefix4 = map[string]int{} // the first four letters of English words of four or more
	chinese = map[rune]int{}   // the Chinese list, one character a word
)

func mustList(name, lang, txt string) *List {
	sum := sha256.Sum256([]byte(txt))
	if hex.EncodeToString(sum[:]) != WordlistSHA256[name] {
		panic(fmt.Sprintf("returnkey: embedded %s has SHA-256 %x, not the BIP-39 list's", name, sum))
	}
	ws := strings.Split(strings.TrimSuffix(txt, "\n"), "\n")
	if len(ws) != 2048 {
		panic(fmt.Sprintf("returnkey: %s has %d words", name, len(ws)))
	}
	l := &List{Name: name, Language: lang}
	for i, w := range ws {
		if !norm.NFKD.IsNormalString(w) || w == "" {
			panic(fmt.Sprintf("returnkey: %s word %d is not NFKD", name, i))
		}
		if _, dup := index[w]; dup {
			panic(fmt.Sprintf("returnkey: %s word %d is in another list", name, i))
		}
		l.words[i], l.display[i] = w, norm.NFC.String(w)
		index[w] = i
		if lang == "en" && len(w) >= 4 {
			prefix4[w[:4]] = i
		}
		if lang == "zh" {
			r := []rune(w)
			if len(r) != 1 {
				panic(fmt.Sprintf("returnkey: %s word %d is not one character", name, i))
			}
			chinese[r[0]] = i
		}
	}
	return l
}

// lookup returns the index of the word w (NFKD, ASCII lowercase) in any
// list: exactly, or as four or more letters starting an English word.
func lookup(w string) (int, bool) {
	if i, ok := index[w]; ok {
		return i, true
	}
	if len(w) >= 4 {
		if i, ok := prefix4[w[:4]]; ok && strings.HasPrefix(English.words[i], w) {
			return i, true
		}
	}
	return 0, false
}

// chineseRun returns the indices of w's characters if w has two or more
// and each is a word of the Chinese list.
func chineseRun(w string) ([]int, bool) {
	var idx []int
	for _, r := range w {
		i, ok := chinese[r]
		if !ok {
			return nil, false
		}
		idx = append(idx, i)
	}
	return idx, len(idx) >= 2
}
