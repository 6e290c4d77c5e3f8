package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// growLog appends records from..to-1 (submission(i)) and signs a checkpoint.
func growLog(t *testing.T, dir string, k testKey, from, to int) []byte {
	t.Helper()
	l := openTestLog(t, dir, k)
	for i := from; i < to; i++ {
		mustAppend(t, l, submission(i))
	}
	c, err := l.Checkpoint(testDay, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

func wantDamage(t *testing.T, dir, vkey string, trusted []byte, kind DamageKind) *Report {
	t.Helper()
	rep, err := Verify(dir, vkey, trusted)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Verify error = %v, want ErrDamaged", err)
	}
	if rep.OK() || rep.Damage[0].Kind != kind {
		t.Fatalf("damage = %v, want %s", rep.Damage, kind)
	}
	if !strings.Contains(err.Error(), string(kind)) {
		t.Fatalf("error %q does not name the damage", err)
	}
	return rep
}

func TestVerifyTrusted(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	trusted := growLog(t, dir, k, 0, 20)
	growLog(t, dir, k, 20, 30)
	if rep := mustVerify(t, dir, k.vkey, trusted); rep.Trusted != 20 || rep.Signed != 30 {
		t.Fatalf("trusted %d, signed %d", rep.Trusted, rep.Signed)
	}

	t.Run("forked", func(t *testing.T) {
		// The operator, holding the key, rewrites history and re-signs it.
		fork := t.TempDir()
		growLog(t, fork, k, 0, 5)
		growLog(t, fork, k, 100, 130)
		mustVerify(t, fork, k.vkey, nil) // consistent on its own
		wantDamage(t, fork, k.vkey, trusted, ForkedFromTrusted)
	})
	t.Run("rolled back", func(t *testing.T) {
		old := t.TempDir()
		growLog(t, old, k, 0, 10)
		wantDamage(t, old, k.vkey, trusted, Truncated)
	})
	t.Run("newer checkpoints deleted", func(t *testing.T) {
		cp := t.TempDir()
		growLog(t, cp, k, 0, 10)
		growLog(t, cp, k, 10, 30)
		os.Remove(filepath.Join(cp, checkpointsDir, checkpointFileName(30)))
		wantDamage(t, cp, k.vkey, trusted, Removed)
	})
	t.Run("trusted checkpoint by another key", func(t *testing.T) {
		other := newTestKey(t, testOrigin)
		od := t.TempDir()
		forged := growLog(t, od, other, 0, 20)
		wantDamage(t, dir, k.vkey, forged, SignedByAnotherKey)
	})
	t.Run("malformed trusted checkpoint", func(t *testing.T) {
		_, err := Verify(dir, k.vkey, []byte("not a checkpoint"))
		if err == nil || errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "trusted checkpoint") {
			t.Fatalf("Verify error = %v", err)
		}
	})
}

func TestVerifyWithoutCheckpoint(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	l := openTestLog(t, dir, k)
	mustAppend(t, l, submission(0))
	l.Close()
	rep := mustVerify(t, dir, k.vkey, nil)
	if rep.Signed != 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "none of them is verified") {
		t.Fatalf("signed %d, notes %q", rep.Signed, rep.Notes)
	}
}

func TestVerifyInputErrors(t *testing.T) {
	k := newTestKey(t, testOrigin)
	dir := t.TempDir()
	growLog(t, dir, k, 0, 3)
	for _, tc := range []struct{ dir, key, want string }{
		{dir, "nonsense", "malformed verifier key"},
		{dir, k.skey, "malformed verifier key"},
		{t.TempDir(), k.vkey, "no audit log"},
	} {
		rep, err := Verify(tc.dir, tc.key, nil)
		if rep != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Verify(%q) = %v, %v; want %q", tc.key, rep, err, tc.want)
		}
		if strings.Contains(tc.key, "PRIVATE") && strings.Contains(err.Error(), tc.key) {
			t.Errorf("error message repeats a private key")
		}
	}
}

// TestSignerNamesQuoted: a key name read from a checkpoint may hold
// terminal controls and bidi overrides; reports quote it.
func TestSignerNamesQuoted(t *testing.T) {
	evil := newTestKey(t, "server\u202e\u009b2J")
	pinned := newTestKey(t, testOrigin)
	dir := t.TempDir()
	growLog(t, dir, evil, 0, 3)
	rep := wantDamage(t, dir, pinned.vkey, nil, SignedByAnotherKey)
	for _, d := range rep.Damage {
		if strings.ContainsAny(d.Detail, "\u202e\u009b") || !strings.Contains(d.Detail, `\u202e`) {
			t.Errorf("detail %q: want the name quoted", d.Detail)
		}
	}
	rep = mustVerify(t, dir, evil.vkey, nil)
	if strings.ContainsAny(rep.Key, "\u202e\u009b") {
		t.Errorf("Key %q: want the name quoted", rep.Key)
	}
}
