package researcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
)

// Changing the team changes the study file's recipients, and nothing else:
// AddRecipient and RemoveRecipient edit the file's text where the
// recipients are listed, keeping every other byte (comments, order,
// quoting), then read the result again and check that it differs from the
// original in its recipients alone and is a valid revision of it.

// AddRecipient returns the study file data (named name in errors) with a
// researcher added to its recipients, under the name shown to submitters.
func AddRecipient(name string, data []byte, researcher string, key *envelope.Recipient) ([]byte, *config.Study, error) {
	old, err := config.Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range old.Recipients {
		if k, err := envelope.ParseRecipient(r.PublicKey); err == nil && k.Equal(key) {
			return nil, nil, fmt.Errorf("key %s is already a recipient of %s, as %q", key.Fingerprint(), name, r.Name)
		}
	}
	b, err := findRecipients(data)
	if err != nil {
		return nil, nil, err
	}
	quoted, _ := json.Marshal(researcher) // a JSON string is a YAML double-quoted scalar
	nl := b.newline
	entry := b.indent + "- name: " + string(quoted) + nl + b.indent + "  public_key: " + key.String() + nl
	lines := slices.Clone(b.lines)
	lines = slices.Insert(lines, b.last+1, entry)
	out := []byte(strings.Join(lines, ""))
	want := append(slices.Clone(old.Recipients), config.Recipient{Name: researcher, PublicKey: key.String()})
	s, err := checkTeamChange(name, old, out, want)
	if err != nil {
		return nil, nil, err
	}
	return out, s, nil
}

// RemoveRecipient returns the study file data (named name in errors)
// without the recipient whose key has the fingerprint fp.
func RemoveRecipient(name string, data []byte, fp string) ([]byte, *config.Study, error) {
	old, err := config.Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	at := -1
	for i, r := range old.Recipients {
		if k, err := envelope.ParseRecipient(r.PublicKey); err == nil && strings.EqualFold(k.Fingerprint(), fp) {
			at = i
		}
	}
	if at < 0 {
		return nil, nil, fmt.Errorf("no recipient of %s has the fingerprint %s (its recipients are %s)", name, fp, recipientList(old))
	}
	if len(old.Recipients) == 1 {
		return nil, nil, fmt.Errorf("%s is the study's only recipient: add the new researcher first (researcher team add), then remove this key", fp)
	}
	b, err := findRecipients(data)
	if err != nil {
		return nil, nil, err
	}
	// The item holding the key: from the line of its "- " to the next
	// item, or to the last line of the list.
	keyLine := -1
	for i := b.start; i <= b.last; i++ {
		if strings.Contains(b.lines[i], old.Recipients[at].PublicKey) {
			keyLine = i
		}
	}
	if keyLine < 0 {
		return nil, nil, errors.New("cannot find the key's line in the recipients list: edit the study file by hand")
	}
	first := keyLine
	for first > b.start && !b.item(first) {
		first--
	}
	end := keyLine + 1
	for end <= b.last && !b.item(end) {
		end++
	}
	lines := slices.Delete(slices.Clone(b.lines), first, end)
	out := []byte(strings.Join(lines, ""))
	want := slices.Delete(slices.Clone(old.Recipients), at, at+1)
	s, err := checkTeamChange(name, old, out, want)
	if err != nil {
		return nil, nil, err
	}
	return out, s, nil
}

// recipientsBlock is where a study file lists its recipients.
type recipientsBlock struct {
	lines   []string // the file, split after each line ending
	start   int      // the first line after "recipients:"
	last    int      // the last line of an item of the list
	indent  string   // of the items' "- "
	newline string
}

var recipientsKey = regexp.MustCompile(`^recipients:[ \t]*(#.*)?\r?\n?$`)

func findRecipients(data []byte) (*recipientsBlock, error) {
	b := &recipientsBlock{lines: strings.SplitAfter(string(data), "\n"), newline: "\n", last: -1}
	if bytes.Contains(data, []byte("\r\n")) {
		b.newline = "\r\n"
	}
	head := slices.IndexFunc(b.lines, recipientsKey.MatchString)
	if head < 0 {
		return nil, errors.New(`the study file does not list its recipients as a block ("recipients:" on a line of its own, then one "- name: …" item per researcher): edit it by hand`)
	}
	b.start = head + 1
	item := regexp.MustCompile(`^([ \t]*)- `)
	for i := b.start; i < len(b.lines); i++ {
		l := strings.TrimRight(b.lines[i], "\r\n")
		trimmed := strings.TrimLeft(l, " \t")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' && l[0] != '-' {
			break // the next field
		}
		if m := item.FindStringSubmatch(l); m != nil && b.indent == "" && b.last < 0 {
			b.indent = m[1]
		}
		b.last = i
	}
	if b.last < 0 {
		return nil, errors.New("the study file's recipients list is empty or not a block list: edit it by hand")
	}
	return b, nil
}

// item reports whether line i starts an item of the list.
func (b *recipientsBlock) item(i int) bool {
	return strings.HasPrefix(b.lines[i], b.indent+"- ")
}

// checkTeamChange reads the edited study file and checks that it is the
// old one with the recipients want, and a valid revision of it.
func checkTeamChange(name string, old *config.Study, data []byte, want []config.Recipient) (*config.Study, error) {
	s, err := config.Parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("the edited study file does not read (edit it by hand): %w", err)
	}
	if !slices.Equal(s.Recipients, want) || !sameButRecipients(old, s) {
		return nil, errors.New("editing the recipients list would change more than the recipients (is it written in an unusual layout?): edit the study file by hand")
	}
	if err := config.CheckRevision([]*config.Study{old}, s); err != nil {
		return nil, err
	}
	return s, nil
}

// sameButRecipients reports whether a and b are the same study but for
// their recipients.
func sameButRecipients(a, b *config.Study) bool {
	enc := func(s *config.Study) []byte {
		c := *s
		c.Recipients, c.SHA256 = nil, [32]byte{}
		j, err := json.Marshal(&c)
		if err != nil {
			return nil
		}
		return j
	}
	ja, jb := enc(a), enc(b)
	return ja != nil && bytes.Equal(ja, jb)
}
