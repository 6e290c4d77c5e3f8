package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/audit"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/passphrase"
	"github.com/testimony-project/testimony/internal/secretfile"
	"github.com/testimony-project/testimony/researcher"
)

func passphraseCmd() *cobra.Command {
	var keyPath, oldFile, newFile, workspace string
	var fast bool
	c := &cobra.Command{
		Use:   "passphrase --key FILE [--workspace WORKSPACE]",
		Short: "Change the passphrase of a key file",
		Long: `passphrase encrypts your private key again under a new passphrase. The key does not
change: its public key, its fingerprint and every envelope sealed to it stay as they were.
The new file costs an attacker at least as much as the old one (argon2id with the file's
parameters, and at least 256 MiB and 3 passes), and it replaces the old one atomically:
after an error or a crash there is the old file or the new one, never a broken one. It is
checked to open with the new passphrase before it replaces the old one.

Copies of the key file you made earlier still open with the old passphrase: replace or
destroy them too. A key file whose public key line is in the old format is rewritten in the
current one (you may give the same passphrase).

With --workspace, the change is recorded in that workspace's audit log
(passphrase-changed, with the key's fingerprint; never the passphrase).

` + exitCodesHelp,
		Example: `  researcher passphrase --key ~/testimony.key
  researcher passphrase --key ~/testimony.key --passphrase-file old.txt --new-passphrase-file new.txt
  researcher passphrase --key ~/testimony.key --workspace ~/study-workspace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workspace != "" {
				if _, err := researcher.StudyOf(workspace); err != nil {
					return usageError{err}
				}
			}
			// Write through a symbolic link to the file it names.
			path, err := filepath.EvalSymlinks(keyPath)
			if err != nil {
				return fmt.Errorf("failed to read key: %w", err)
			}
			data, err := secretfile.Read(path, keyfile.MaxSize)
			if err != nil {
				return fmt.Errorf("failed to read key: %w", err)
			}
			params, err := keyfile.FileParams(data)
			if err != nil {
				return fmt.Errorf("%s: %w", keyPath, err)
			}
			old, err := passphrase.Read(oldFile, "Current passphrase for "+keyPath, false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			id, err := keyfile.Decrypt(data, old)
			clear(old)
			if errors.Is(err, keyfile.ErrWrongPassphrase) {
				return fmt.Errorf("wrong passphrase for %s: the key file is unchanged; try again", keyPath)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", keyPath, err)
			}
			pass, err := passphrase.Read(newFile, "New passphrase for "+keyPath, true, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			least := keyfile.DefaultParams
			if fast {
				least = keyfile.Params{Time: 1, MemoryKiB: keyfile.MinMemoryKiB, Threads: 1}
			}
			params = params.Stronger(least)
			out, err := keyfile.Encrypt(id, pass, params)
			if err != nil {
				return err
			}
			// Never replace a key that opens with one that does not.
			check, err := keyfile.Decrypt(out, pass)
			clear(pass)
			if err != nil || !check.Recipient().Equal(id.Recipient()) {
				return fmt.Errorf("the re-encrypted key did not open again (%v): %s is unchanged", err, keyPath)
			}
			if err := atomicfile.WriteBytes(path, 0o600, out); err != nil {
				return fmt.Errorf("%w: %s is unchanged", err, keyPath)
			}
			r := id.Recipient()
			fmt.Fprintf(cmd.OutOrStdout(), "passphrase changed: %s (argon2id t=%d m=%d p=%d)\npublic key:  %s\nfingerprint: %s\n",
				keyPath, params.Time, params.MemoryKiB, params.Threads, r, r.Fingerprint())
			fmt.Fprintln(cmd.ErrOrStderr(), "Copies of the key file made earlier still open with the old passphrase: replace or destroy them.")
			if workspace == "" {
				return nil
			}
			w, err := researcher.Open(workspace, nil, id, "")
			if err == nil {
				err = w.Record(audit.PassphraseChanged(r.Fingerprint(), time.Now()))
				if err == nil {
					err = w.Close()
				}
				w.Abort()
			}
			if err != nil {
				return fmt.Errorf("the passphrase was changed, but recording it in %s failed: %w", workspace, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded in the audit log of %s\n", workspace)
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "your key file, made by keygen (required)")
	c.Flags().StringVar(&oldFile, "passphrase-file", "", "read the current passphrase from this file instead of the terminal")
	c.Flags().StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file instead of the terminal")
	c.Flags().StringVar(&workspace, "workspace", "", "record the change in this workspace's audit log")
	c.Flags().BoolVar(&fast, "weak-kdf-for-tests", false, "keep the file's argon2id cost even if below 256 MiB; for tests and demos only")
	c.Flags().MarkHidden("weak-kdf-for-tests")
	c.MarkFlagRequired("key")
	return c
}
