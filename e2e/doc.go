// Package e2e holds end-to-end tests of the whole pipeline: a study, a
// server on loopback, submissions on both paths, an export, and offline
// decryption into a researcher's workspace.
package e2e
