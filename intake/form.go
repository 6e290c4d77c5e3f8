package intake

import (
	"errors"
	"io"
	"net/url"
)

// A form is a decoded application/x-www-form-urlencoded body: its keys and
// values, one after another in one buffer, in the order they came.
type form struct {
	buf    []byte
	fields []field
}

// field is a key and a value, as offsets into form.buf.
type field struct{ k0, k1, v0, v1 int }

func (f *form) key(fl field) string { return string(f.buf[fl.k0:fl.k1]) }

// bytes returns the values of name, sharing the form's buffer.
func (f *form) bytes(name string) [][]byte {
	var out [][]byte
	for _, fl := range f.fields {
		if f.key(fl) == name {
			out = append(out, f.buf[fl.v0:fl.v1:fl.v1])
		}
	}
	return out
}

// values returns the form as url.Values (copies of its keys and values).
func (f *form) values() url.Values {
	v := url.Values{}
	for _, fl := range f.fields {
		k := f.key(fl)
		v[k] = append(v[k], string(f.buf[fl.v0:fl.v1]))
	}
	return v
}

// Errors of readForm.
var (
	errFormTooLarge  = errors.New("form is larger than the limit")
	errTooManyFields = errors.New("form has more fields than the questionnaire")
	errFormMalformed = errors.New("form is not url-encoded")
)

// formLimits bounds what readForm keeps.
type formLimits struct {
	// bytes bounds the decoded keys and values together.
	bytes int
	// fields bounds the number of key-value pairs.
	fields int
	// grow, if not nil, is called before the buffer grows to n bytes;
	// an error stops the read and is returned.
	grow func(n int) error
}

// maxWire returns the most bytes a body within l can take on the wire:
// a byte of a key or value takes at most three ("%XX"), and each field
// one "=" and one "&".
func (l formLimits) maxWire() int64 { return 3*int64(l.bytes) + 2*int64(l.fields) + 2 }

// readForm reads and decodes a url-encoded body as url.ParseQuery does
// (pairs split on "&", key and value on the first "=", "+" is a space,
// "%XX" a byte, a ";" or a bad escape an error, empty pairs skipped), but
// from a stream: it keeps only the decoded bytes, in a buffer that never
// grows beyond l.bytes, and stops at the first byte past a limit. On
// error it returns the fields read so far (the page's language may be
// among them) with errFormTooLarge, errTooManyFields, errFormMalformed or
// the error of r.
func readForm(r io.Reader, l formLimits) (*form, error) {
	f := &form{}
	var (
		chunk   [4096]byte
		wire    int64
		inValue bool // past the pair's first "="
		segLen  int  // wire bytes of the current pair
		esc     int  // 0, or 1 or 2 after "%": hex digits still to come
		hi      byte
		k0, k1  int
	)
	// put appends decoded bytes, growing the buffer up to the limit.
	put := func(b ...byte) error {
		for len(f.buf)+len(b) > cap(f.buf) {
			if cap(f.buf) >= l.bytes {
				return errFormTooLarge
			}
			n := min(max(2*cap(f.buf), 4096), l.bytes)
			if l.grow != nil {
				if err := l.grow(n); err != nil {
					return err
				}
			}
			nb := make([]byte, len(f.buf), n)
			copy(nb, f.buf)
			f.buf = nb
		}
		f.buf = append(f.buf, b...)
		return nil
	}
	end := func() error {
		if esc != 0 {
			return errFormMalformed
		}
		if segLen > 0 {
			if len(f.fields) == l.fields {
				return errTooManyFields
			}
			v0 := len(f.buf)
			if inValue {
				v0 = k1
			} else {
				k1 = len(f.buf)
			}
			f.fields = append(f.fields, field{k0, k1, v0, len(f.buf)})
		}
		inValue, segLen = false, 0
		k0, k1 = len(f.buf), len(f.buf)
		return nil
	}
	for {
		n, rerr := r.Read(chunk[:])
		wire += int64(n)
		if wire > l.maxWire() {
			return f, errFormTooLarge
		}
		for b := chunk[:n]; len(b) > 0; {
			c := b[0]
			if esc == 0 && plain[c] {
				// A run of bytes that stand for themselves.
				k := 1
				for k < len(b) && plain[b[k]] {
					k++
				}
				segLen += k
				if err := put(b[:k]...); err != nil {
					return f, err
				}
				b = b[k:]
				continue
			}
			if c == '%' && esc == 0 && len(b) >= 3 {
				// An escape whole in this chunk: the common case.
				h, ok1 := unhex(b[1])
				lo, ok2 := unhex(b[2])
				if !ok1 || !ok2 {
					return f, errFormMalformed
				}
				segLen += 3
				if len(f.buf) < cap(f.buf) {
					f.buf = append(f.buf, h<<4|lo)
				} else if err := put(h<<4 | lo); err != nil {
					return f, err
				}
				b = b[3:]
				continue
			}
			b = b[1:]
			if c == '&' && esc == 0 {
				if err := end(); err != nil {
					return f, err
				}
				continue
			}
			segLen++
			var err error
			switch {
			case esc == 1:
				h, ok := unhex(c)
				if !ok {
					return f, errFormMalformed
				}
				hi, esc = h, 2
			case esc == 2:
				lo, ok := unhex(c)
				if !ok {
					return f, errFormMalformed
				}
				esc = 0
				err = put(hi<<4 | lo)
			case c == ';':
				return f, errFormMalformed
			case c == '%':
				esc = 1
			case c == '=' && !inValue:
				inValue = true
				k1 = len(f.buf)
			case c == '+':
				err = put(' ')
			default:
				err = put(c) // "=" within a value
			}
			if err != nil {
				return f, err
			}
		}
		if rerr == io.EOF {
			return f, end()
		}
		if rerr != nil {
			return f, rerr
		}
	}
}

// plain are the bytes that stand for themselves in a url-encoded form.
var plain = func() (p [256]bool) {
	for i := range p {
		p[i] = true
	}
	for _, c := range []byte("&%+;=") {
		p[c] = false
	}
	return p
}()

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
