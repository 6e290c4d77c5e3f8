package reply

import (
	"fmt"

	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/returnkey"
)

// Found is a reply [Find] found and opened.
type Found struct {
	// Researcher is the researcher who wrote it, one of those Find was
	// given.
	Researcher *envelope.Recipient
	// Number is the reply's number i among the researcher's replies to
	// the person.
	Number uint32
	// Position is the record's position in the records Find was given,
	// from 0.
	Position int
	// Content is the reply.
	Content *Content
}

// Find finds the person's replies among records, the concatenation of
// stored records (what a person who comes back downloads): for every
// researcher, in the order given, and every reply number i <
// returnkey.MaxReplies, it looks up tag(i, researcher) among the records'
// tags, opens the record found with the researcher's key and reads its
// content, which must be for the study. It returns the replies found and
// the number of records whose tag matched but that did not open or did
// not read as a reply to this study (none, unless someone wrote records
// with a copied tag). Its cost is one hash per tag looked up and one
// record's opening per reply found, however many records there are.
func Find(records []byte, keys *returnkey.Keys, studyID string, researchers []*envelope.Recipient) (found []Found, unreadable int, err error) {
	if len(records)%RecordSize != 0 {
		return nil, 0, fmt.Errorf("%d bytes of reply records is not a whole number of %d-byte records", len(records), RecordSize)
	}
	n := len(records) / RecordSize
	tags := make(map[[TagSize]byte]int, n)
	for p := n - 1; p >= 0; p-- { // the first of repeated tags wins
		tags[[TagSize]byte(records[p*RecordSize:])] = p
	}
	for _, r := range researchers {
		for i, t := range keys.Tags(r, returnkey.MaxReplies) {
			p, ok := tags[t]
			if !ok {
				continue
			}
			data, err := Open(records[p*RecordSize:(p+1)*RecordSize], keys, r)
			if err != nil {
				unreadable++
				continue
			}
			c, err := ParseContent(data)
			if err != nil || c.Study != studyID {
				unreadable++
				continue
			}
			found = append(found, Found{Researcher: r, Number: uint32(i), Position: p, Content: c})
		}
	}
	return found, unreadable, nil
}
