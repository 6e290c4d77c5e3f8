// Package passphrase reads a passphrase from a file or, on a terminal, from
// a prompt with echo turned off, and judges how hard a new one is to guess.
//
// A passphrase file is a secret file (package secretfile): it is refused if
// group or others may read or change it. An empty passphrase is refused. A
// new passphrase (one read with confirm) is estimated with zxcvbn, and a
// weak one draws a warning with the estimate and the advice to choose a
// longer one; it is not refused, since only the researcher knows what else
// protects the key file.
package passphrase

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"

	"github.com/testimony-project/testimony/internal/secretfile"
	"github.com/trustelem/zxcvbn"
	"golang.org/x/term"
)

// MaxFileSize is the largest passphrase file Read accepts.
const MaxFileSize = 64 << 10

// Read returns the passphrase in file if file is not empty, else prompts
// for it on the terminal (twice if confirm). It refuses an empty
// passphrase. With confirm, the passphrase is a new one: if it is weak,
// Read writes a warning to stderr (see [Estimate]).
func Read(file, prompt string, confirm bool, stderr io.Writer) ([]byte, error) {
	p, err := read(file, prompt, confirm, stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
		if e := Estimate(p); e.Weak() {
			fmt.Fprintln(stderr, e.Warning())
		}
	}
	return p, nil
}

func read(file, prompt string, confirm bool, stderr io.Writer) ([]byte, error) {
	if file != "" {
		b, err := secretfile.Read(file, MaxFileSize)
		if err != nil {
			return nil, fmt.Errorf("failed to read passphrase file: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("passphrase file %s is empty: write the passphrase in it", file)
		}
		return b, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errors.New("no terminal to ask for the passphrase: pass --passphrase-file FILE")
	}
	fmt.Fprint(stderr, prompt+": ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, fmt.Errorf("failed to read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase: type a passphrase")
	}
	if confirm {
		fmt.Fprint(stderr, "Repeat the passphrase: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("failed to read passphrase: %w", err)
		}
		same := bytes.Equal(p, again)
		clear(again)
		if !same {
			clear(p)
			return nil, errors.New("the two passphrases differ: try again")
		}
	}
	return p, nil
}

// AttackerRate is the guessing speed the warnings assume, in guesses per
// second (the warning says "10,000"): a well-funded attacker with many GPUs against a key file's
// argon2id (256 MiB, 3 passes, about a second per guess on a laptop).
const AttackerRate = 1e4

// strongGuesses is what a passphrase should resist: a hundred years at
// AttackerRate.
const strongGuesses = AttackerRate * 100 * 365.25 * 24 * 3600

// maxEstimated is how much of a passphrase zxcvbn looks at, in characters:
// its time grows fast with length, and a longer passphrase is judged on
// its first part (a cautious estimate).
const maxEstimated = 100

// A Strength is zxcvbn's estimate of how hard a passphrase is to guess.
type Strength struct {
	Score   int     // 0 (too guessable) to 4 (very unguessable)
	Guesses float64 // guesses an attacker needs, about
}

// Estimate returns zxcvbn's estimate for p.
func Estimate(p []byte) Strength {
	s := p
	for i, n := 0, 0; i < len(s); n++ {
		if n == maxEstimated {
			s = s[:i]
			break
		}
		_, size := utf8.DecodeRune(s[i:])
		i += size
	}
	r := zxcvbn.PasswordStrength(string(s), []string{"testimony", "researcher", "passphrase"})
	return Strength{Score: r.Score, Guesses: r.Guesses}
}

// Weak reports whether an attacker at AttackerRate would likely find the
// passphrase within a hundred years.
func (s Strength) Weak() bool { return s.Guesses < strongGuesses }

// Warning describes a weak passphrase and what to do, on one line.
func (s Strength) Warning() string {
	return fmt.Sprintf("warning: weak passphrase: zxcvbn scores it %d of 4 and estimates 10^%.0f guesses, which an attacker trying 10,000 a second against this key file would need %s for; choose a longer one, such as six random words", s.Score, math.Log10(max(s.Guesses, 1)), duration(s.Guesses/AttackerRate))
}

func duration(sec float64) string {
	const (
		minute = 60
		hour   = 60 * minute
		day    = 24 * hour
		year   = 365.25 * day
	)
	switch {
	case sec < 1:
		return "less than a second"
	case sec < minute:
		return plural(sec, "second")
	case sec < hour:
		return plural(sec/minute, "minute")
	case sec < day:
		return plural(sec/hour, "hour")
	case sec < year:
		return plural(sec/day, "day")
	default:
		return plural(sec/year, "year")
	}
}

func plural(n float64, unit string) string {
	n = math.Round(n)
	if n == 1 {
		return "about 1 " + unit
	}
	return fmt.Sprintf("about %.0f %ss", n, unit)
}
