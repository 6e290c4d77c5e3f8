// Package keycheck refuses public keys that are not what they claim: an
// X25519 or Ed25519 encoding that is not canonical (so that two byte
// strings are never the same key) or a point of small order (to which
// nothing can be sealed, and with which signatures prove nothing). The
// researchers' keys (package envelope) and the return addresses (package
// returnkey) are checked alike with it.
package keycheck

import (
	"errors"
	"slices"

	"filippo.io/edwards25519"
)

// SmallOrder returns the canonical encodings of the X25519 points of small
// order, on the curve and on its twist: 0, 1, two points of order 8, and
// p-1. Every secret key multiplies them to zero.
func SmallOrder() [][32]byte { return slices.Clone(smallOrder) }

var smallOrder = [][32]byte{
	{},
	{1},
	{0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
	{0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

// X25519 refuses an encoding that is not canonical (the top bit
// set, or a value of at least p = 2^255 - 19) and the points of small
// order, so that two different byte strings are never the same key and
// every key listed in an envelope can be sealed to.
func X25519(k *[32]byte) error {
	if k[31]&0x80 != 0 {
		return errors.New("X25519 key is not canonical (top bit set)")
	}
	if k[31] == 0x7f && k[0] >= 0xed {
		ge := true
		for _, b := range k[1:31] {
			if b != 0xff {
				ge = false
				break
			}
		}
		if ge {
			return errors.New("X25519 key is not canonical (not below 2^255-19)")
		}
	}
	for i := range smallOrder {
		if *k == smallOrder[i] {
			return errors.New("X25519 key is a point of small order")
		}
	}
	return nil
}

// Ed25519 refuses an encoding that is not canonical or not a point,
// and points of small order (with which signatures prove nothing).
func Ed25519(k *[32]byte) error {
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil || string(p.Bytes()) != string(k[:]) {
		return errors.New("Ed25519 key is not the canonical encoding of a point")
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errors.New("Ed25519 key is a point of small order")
	}
	return nil
}
