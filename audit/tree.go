package audit

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// tree is the list of stored hashes of a tlog Merkle tree, in the order of
// [tlog.StoredHashIndex], kept in memory.
type tree struct {
	n      int64 // number of records
	hashes []tlog.Hash
}

// ReadHashes implements [tlog.HashReader].
func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("stored hash %d is beyond the tree of %d records", x, t.n)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

// add appends the record whose hash is leaf and returns the stored hashes it
// added: the leaf, then one interior hash for each subtree the record
// completes (as [tlog.StoredHashesForRecordHash], without allocating).
func (t *tree) add(leaf tlog.Hash) []tlog.Hash {
	n := t.n
	start := len(t.hashes)
	t.hashes = append(t.hashes, leaf)
	h := leaf
	for level := 0; (n>>level)&1 == 1; level++ {
		h = tlog.NodeHash(t.hashes[tlog.StoredHashIndex(level, n>>level-1)], h)
		t.hashes = append(t.hashes, h)
	}
	t.n++
	return t.hashes[start:]
}

// root returns the root hash of the first n records.
func (t *tree) root(n int64) tlog.Hash {
	h, err := tlog.TreeHash(n, t)
	if err != nil {
		panic("audit: " + err.Error())
	}
	return h
}

// buildTree returns the tree of the given record hashes.
func buildTree(leaves []tlog.Hash) *tree {
	t := &tree{hashes: make([]tlog.Hash, 0, 2*len(leaves))}
	for _, l := range leaves {
		t.add(l)
	}
	return t
}
