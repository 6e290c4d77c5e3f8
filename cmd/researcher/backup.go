package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/passphrase"
	"golang.org/x/mod/sumdb/note"
)

func backupCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "backup",
		Short: "Work with the intake server's backups",
	}
	c.AddCommand(resealCmd())
	return c
}

func resealCmd() *cobra.Command {
	var keyPath, passFile, in, out, serverKey, backupPassFile string
	var fast bool
	c := &cobra.Command{
		Use:   "reseal --key FILE --server-key KEY --in BACKUP --out FILE",
		Short: "Reseal a server backup to a passphrase, for the operator to restore",
		Long: `reseal opens a backup the intake server sealed to the study's researchers ("intake
backup") with your key, checks that the server key you pinned signed it and that every
file in it is intact, and writes the same backup sealed to a new passphrase instead,
for the operator to restore with "intake restore". Your key never leaves this machine.

Give the operator the new file and, over another channel (in person, by voice), the
passphrase. Anyone with both can impersonate the server's onion service and sign
batches: destroy the file once the server is restored. It holds no testimony.`,
		Example: `  researcher backup reseal --key ~/testimony.key --server-key "$(cat server.pub)" \
    --in testimony-backup.age --out backup-for-operator.age`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			verifier, err := note.NewVerifier(strings.TrimSpace(serverKey))
			if err != nil {
				return fmt.Errorf("malformed --server-key %q: give the line `intake server-key` printed, which you pinned: %v", serverKey, err)
			}
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%s already exists: choose another --out", out)
			}
			src, err := os.Open(in)
			if err != nil {
				return fmt.Errorf("failed to read the backup: %w", err)
			}
			defer src.Close()
			id, err := openKey(keyPath, passFile, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			identity, err := backup.X25519Identity(id)
			if err != nil {
				return err
			}
			pass, err := passphrase.Read(backupPassFile, "New passphrase for the operator's copy of the backup", true, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rcpt, err := backup.Passphrase(pass)
			clear(pass)
			if err != nil {
				return err
			}
			if fast {
				rcpt.(*age.ScryptRecipient).SetWorkFactor(10)
			}
			dst, err := os.CreateTemp(filepath.Dir(out), ".reseal-*")
			if err != nil {
				return fmt.Errorf("failed to write %s: %w", out, err)
			}
			defer os.Remove(dst.Name())
			defer dst.Close()
			m, err := backup.Reseal(dst, src, identity, verifier, rcpt)
			if err != nil {
				return err
			}
			if err := dst.Sync(); err != nil {
				return fmt.Errorf("failed to write %s: %w", out, err)
			}
			if err := dst.Close(); err != nil {
				return fmt.Errorf("failed to write %s: %w", out, err)
			}
			if err := os.Link(dst.Name(), out); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("%s already exists: choose another --out", out)
				}
				return fmt.Errorf("failed to write %s: %w", out, err)
			}
			if err := atomicfile.SyncDir(filepath.Dir(out)); err != nil {
				return err
			}
			onion := m.Onion
			if onion == "" {
				onion = "no onion key"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "resealed the backup of study %s made on %s (%s, %d audit records, %d files) to %s\nbackup %x\n",
				m.StudyID, m.Day, onion, m.AuditRecords, len(m.Files), out, m.Hash)
			fmt.Fprintln(cmd.ErrOrStderr(), "Give the file to the operator and the passphrase over another channel; destroy the file once the server is restored.")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyPath, "key", "", "your key file, made by keygen (required)")
	f.StringVar(&passFile, "passphrase-file", "", "read your key's passphrase from this file instead of the terminal")
	f.StringVar(&serverKey, "server-key", "", "the server's batch verifier key you pinned (required)")
	f.StringVar(&in, "in", "", "the backup sealed to the researchers (required)")
	f.StringVar(&out, "out", "", "new file for the backup sealed to a passphrase (required)")
	f.StringVar(&backupPassFile, "backup-passphrase-file", "", "read the new passphrase for the operator from this file instead of the terminal")
	f.BoolVar(&fast, "weak-kdf-for-tests", false, "use scrypt at 2^10 instead of 2^18; for tests only")
	f.MarkHidden("weak-kdf-for-tests")
	for _, r := range []string{"key", "server-key", "in", "out"} {
		c.MarkFlagRequired(r)
	}
	return c
}
