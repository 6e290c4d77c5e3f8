// Package signednote opens the signed files testimony's programs exchange
// (batch and reply batch manifests, receipts, handover manifests, renames
// files, team copies of replies, backup manifests) and reads their text,
// as strictly as their formats require and with one vocabulary of errors.
//
// Each of those files is a note (golang.org/x/mod/sumdb/note) signed by
// exactly one key:
//
//	<text: lines, each ending in "\n">
//	<blank line>
//	— <key name> <base64 signature>
//
// and nothing after the signature line's "\n".
//
// # Opening
//
// [Kind.Open] accepts a message only in that form, with its one signature
// valid for one of the verifiers given, and returns its text and
// signature. The text is valid UTF-8 with no control character but "\n"
// (note.Open checks that). Open refuses, with an error of the Kind's class
// [Kind.UnknownKey], a message that no key of the verifiers signed; and
// with an error of class [Kind.Invalid] anything else it does not accept:
// a message that is not a note, a signature that does not verify, a second
// signature (by a key of the verifiers or not), and a repeated signature
// line or a second line by the same key, both of which note.Open alone
// ignores. So a message that opens has one byte form for its text and
// signer, and its SHA-256 names it. [Kind.CheckSigner] then checks that
// the signer is the key the text names as its author.
// [Kind.UnverifiedText] splits the text from its one signature line
// without verifying anything, for a reader who binds a message by its
// hash instead.
//
// Errors say what was refused in the Kind's words: "receipt is not signed
// by a researcher of the study (signed by …)". Key names they repeat from
// the message are quoted with Go escapes and cut to 64 characters, so that
// a hostile name can neither forge a line nor reorder text on a terminal,
// and they list at most three.
//
// # Reading the text
//
// [Lines] reads a note's text the way every one of these formats is laid
// out: a header line naming the format and its version, then "key value"
// lines in a fixed order, each count (decimal, without sign or leading
// zeros, within bounds) followed by as many lines, and nothing after the
// last. It checks what the formats share (the header, each key, each
// count, the lists of sorted, distinct SHA-256 in lowercase hex, the end)
// and returns the rest, field values and list lines, for the caller to
// check as strictly, so that what parses is byte for byte what the format's
// writer writes. Its errors name the line, counted from 1 (0 before the
// first): "malformed receipt, line 5: malformed batch SHA-256 …".
//
// A Kind may be used by several goroutines at once; a Lines may not.
package signednote

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// A Kind describes one kind of signed note, as its errors name it.
type Kind struct {
	// What names the note, as errors start their sentence with it:
	// "receipt", `batch entry "manifest"`.
	What string
	// Signers names the keys the note may be signed by: "a researcher of
	// the study", `the pinned server key "testimony-server"+1a2b3c4d`.
	Signers string
	// Hint, if not empty, ends the error for a note none of the verifiers
	// signed, saying what to do: "check --server-key, or the batch is not
	// from this server".
	Hint string
	// UnknownKey and Invalid, if not nil, are wrapped by the errors of a
	// note none of the verifiers signed, and of any other note refused:
	// the caller's sentinel errors, so that its own callers can tell the
	// two apart with errors.Is. Their text is not repeated in the errors.
	UnknownKey, Invalid error
}

// maxNamesListed bounds the signers an error lists.
const maxNamesListed = 3

// Open checks that msg is a note carrying exactly one signature, valid for
// one of verifiers, and nothing after it (see the package documentation),
// and returns it: its Text, and in Sigs its one signature.
func (k *Kind) Open(msg []byte, verifiers ...note.Verifier) (*note.Note, error) {
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, refuse(k.UnknownKey, nil, "%s is not signed by %s%s%s",
				k.What, k.Signers, signedBy(unverified.Note.UnverifiedSigs), k.hint())
		case errors.As(err, &invalid):
			return nil, refuse(k.Invalid, nil, "%s has an invalid signature by %s (it does not verify): altered after signing",
				k.What, keyName(invalid.Name, invalid.Hash))
		}
		return nil, refuse(k.Invalid, err, "%s is not a signed note (unsigned or altered): %v", k.What, err)
	}
	// note.Open ignores a repeated signature line: the message must be
	// exactly the text and one signature line.
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 || !isTextAndSig(msg, n.Text, n.Sigs[0]) {
		return nil, refuse(k.Invalid, nil, "%s carries other signatures besides one by %s: altered", k.What, k.Signers)
	}
	return n, nil
}

// UnverifiedText returns the text of msg, a note of the form the package
// documentation gives with exactly one signature line, without verifying
// that signature, nor any key name: for a reader who does not hold the key
// and binds msg by its SHA-256 instead, or who learns the key from the text
// and calls [Kind.Open] once it knows it. The text is a slice of msg, with
// its final "\n". It fails with an error of class [Kind.Invalid].
func (k *Kind) UnverifiedText(msg []byte) ([]byte, error) {
	i := bytes.LastIndex(msg, []byte("\n\n— "))
	if i < 0 || msg[len(msg)-1] != '\n' || bytes.IndexByte(msg[i+2:len(msg)-1], '\n') >= 0 {
		return nil, refuse(k.Invalid, nil, "%s is not a signed note: want its text, a blank line and one signature line", k.What)
	}
	return msg[:i+1], nil
}

// CheckSigner checks that n, a note [Kind.Open] returned, is signed by the
// key named name: the key of who ("researcher 0123-4567-89AB-CDEF-0123"),
// whom its text names as its author. It fails with an error of class
// [Kind.Invalid].
func (k *Kind) CheckSigner(n *note.Note, name, who string) error {
	if s := n.Sigs[0]; s.Name != name {
		return refuse(k.Invalid, nil, "%s names %s but is signed by %s", k.What, who, keyName(s.Name, s.Hash))
	}
	return nil
}

func (k *Kind) hint() string {
	if k.Hint == "" {
		return ""
	}
	return ": " + k.Hint
}

// isTextAndSig reports whether msg is text, a blank line and the signature
// line of s. It compares in place: msg may be large.
func isTextAndSig(msg []byte, text string, s note.Signature) bool {
	sig := "\n— " + s.Name + " " + s.Base64 + "\n"
	return len(msg) == len(text)+len(sig) && string(msg[:len(text)]) == text && string(msg[len(text):]) == sig
}

// signedBy lists the signers of sigs, for an error: " (signed by "a"+…,
// "b"+…, and 2 more)".
func signedBy(sigs []note.Signature) string {
	if len(sigs) == 0 {
		return ""
	}
	return " (signed by " + listKeys(len(sigs), func(i int) (string, uint32) { return sigs[i].Name, sigs[i].Hash }) + ")"
}

// VerifierNames lists the keys of verifiers as errors name keys:
// `"a"+1a2b3c4d, "b"+…, and 2 more` (names quoted and cut as the package
// documentation says, at most three listed).
func VerifierNames(verifiers []note.Verifier) string {
	return listKeys(len(verifiers), func(i int) (string, uint32) { return verifiers[i].Name(), verifiers[i].KeyHash() })
}

// listKeys lists n keys, key(i) giving the name and hash of the i-th.
func listKeys(n int, key func(i int) (string, uint32)) string {
	var names []string
	for i := range n {
		if i == maxNamesListed {
			names = append(names, fmt.Sprintf("and %d more", n-maxNamesListed))
			break
		}
		names = append(names, keyName(key(i)))
	}
	return strings.Join(names, ", ")
}

// keyName quotes a key name read from a message, cut to 64 characters,
// and its key hash, as note writes them in verifier keys.
func keyName(name string, hash uint32) string {
	return fmt.Sprintf("%.64q+%08x", name, hash)
}

// refusal is an error of a Kind's methods: its message, the Kind's
// class error and the note package's error, if any.
type refusal struct {
	msg        string
	class, err error
}

func refuse(class, err error, format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...), class: class, err: err}
}

func (e *refusal) Error() string { return e.msg }

func (e *refusal) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.class, e.err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
