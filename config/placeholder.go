package config

import (
	"fmt"
	"slices"
)

// placeholderKeys are the public keys of examples/nk-internet-access.yaml
// (and of this package's test studies): keys whose private keys were
// never kept, so that anything sealed to them can never be read. A study
// that lists one must not be served. This is the only list of them; a test
// checks that it holds every key of the example.
var placeholderKeys = []string{
	"testimony-pub-ckt6tblsyuzvhlzjt6y2kvhgjec4pwcs3shz4dvfqohtkned3yl4r3gtwv6hdj77ljoskymg5sshjghmnziwrjpgkftdyqpmjwkq3bpfkj7b2",
	"testimony-pub-oova352yhjv2rnnlft3osnumuy7et3emhlxddjcknrasz2fdaugrmnmrlzc56565n5yrqhpemhzrbn2bgbpnflm4q4zvgwrziwzupayjm34ua",
}

// PlaceholderRecipients returns the recipients of s whose public key is one
// of the example study's placeholder keys, which nobody can decrypt with.
func (s *Study) PlaceholderRecipients() []Recipient {
	var out []Recipient
	for _, r := range s.Recipients {
		if slices.Contains(placeholderKeys, r.PublicKey) {
			out = append(out, r)
		}
	}
	return out
}

// CheckServable returns nil if s may be served to people, or an [Errors]
// naming every recipient whose key is a placeholder from the example
// study: answers sealed to it could never be read by anyone.
func (s *Study) CheckServable() error {
	var errs []*Error
	for i, r := range s.Recipients {
		if !slices.Contains(placeholderKeys, r.PublicKey) {
			continue
		}
		e := &Error{
			Field:   fmt.Sprintf("recipients[%d].public_key", i),
			Problem: fmt.Sprintf("the key of %q is a placeholder from the example study, whose private key nobody has: answers sealed to it could never be read; replace it with your researcher's key from `researcher keygen`", r.Name),
		}
		s.src.locate(e)
		errs = append(errs, e)
	}
	if len(errs) == 0 {
		return nil
	}
	return Errors(errs)
}
