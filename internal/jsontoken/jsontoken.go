// Package jsontoken reads JSON token by token, strictly, for the readers
// of testimony's JSON formats (plaintexts, reply contents) that accept
// exactly the members and types their format names.
//
// Each function reads one value from a json.Decoder made with UseNumber
// and fails if it is not of the type wanted. Errors say what was wanted
// and the kind of token found ("member \"lang\": want a string, got a
// number"), never a string's content, which may be what a person wrote;
// only [Int] repeats a number it refuses, cut to 20 characters. The what
// that callers give is theirs to bound.
package jsontoken

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Delim reads the delimiter d; want names it in the error: "an object",
// "the end of the answers".
func Delim(dec *json.Decoder, d json.Delim, want string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("want %s, got %s", want, Kind(tok))
	}
	return nil
}

// String reads a string; what names it in the error: `member "lang"`.
func String(dec *json.Decoder, what string) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	v, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%s: want a string, got %s", what, Kind(tok))
	}
	return v, nil
}

// Int reads a whole number written as [strconv.Itoa] writes it (no
// fraction, exponent, plus sign or leading zero) that fits an int.
func Int(dec *json.Decoder, what string) (int, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, err
	}
	n, ok := tok.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s: want a number, got %s", what, Kind(tok))
	}
	v, err := strconv.Atoi(string(n))
	if err != nil || strconv.Itoa(v) != string(n) {
		return 0, fmt.Errorf("%s: want a whole number, got %.20s", what, n)
	}
	return v, nil
}

// Bool reads true or false.
func Bool(dec *json.Decoder, what string) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	b, ok := tok.(bool)
	if !ok {
		return false, fmt.Errorf("%s: want true or false, got %s", what, Kind(tok))
	}
	return b, nil
}

// Kind names a JSON token without quoting its content: "a string", "a
// number", `"["`.
func Kind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(tok))
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "an unexpected token"
}
