package jsontoken

import (
	"encoding/json"
	"strings"
	"testing"
)

func decoder(s string) *json.Decoder {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec
}

func TestInt(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "7": 7, "-12": -12, "2019": 2019} {
		if got, err := Int(decoder(in), "n"); err != nil || got != want {
			t.Errorf("Int(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"1e3":                  "n: want a whole number, got 1e3",
		"1.0":                  "want a whole number",
		"-0":                   "want a whole number",
		"99999999999999999999": "want a whole number",
		`"7"`:                  "n: want a number, got a string",
		"true":                 "n: want a number, got a boolean",
	} {
		if _, err := Int(decoder(in), "n"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Int(%s): err = %v, want one containing %q", in, err, want)
		}
	}
}

// TestErrorsNameKindsNotContent: what a person wrote never reaches an
// error.
func TestErrorsNameKindsNotContent(t *testing.T) {
	secret := `"the name of my village"`
	if _, err := Int(decoder(secret), `member "v"`); err == nil || strings.Contains(err.Error(), "village") || err.Error() != `member "v": want a number, got a string` {
		t.Errorf("Int of a string: %v", err)
	}
	if _, err := Bool(decoder(secret), "b"); err == nil || strings.Contains(err.Error(), "village") {
		t.Errorf("Bool of a string: %v", err)
	}
	if err := Delim(decoder(secret), '{', "an object"); err == nil || err.Error() != "want an object, got a string" {
		t.Errorf("Delim of a string: %v", err)
	}
	for in, want := range map[string]string{"null": "null", "[": `"["`, "3": "a number", "false": "a boolean"} {
		if _, err := String(decoder(in), `member "lang"`); err == nil || err.Error() != `member "lang": want a string, got `+want {
			t.Errorf("String(%s): %v", in, err)
		}
	}
	if v, err := String(decoder(secret), "s"); err != nil || v != "the name of my village" {
		t.Errorf("String = %q, %v", v, err)
	}
	if v, err := Bool(decoder("true"), "b"); err != nil || !v {
		t.Errorf("Bool(true) = %v, %v", v, err)
	}
}
