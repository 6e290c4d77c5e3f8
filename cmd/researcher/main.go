// Command researcher runs on the researcher's offline machine: it makes the
// researcher's key, checks and decrypts batches exported by the intake
// server, and manages pseudonyms. It has no network code.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/crypto/envelope"
	"github.com/testimony-project/testimony/crypto/keyfile"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/buildinfo"
	"github.com/testimony-project/testimony/internal/passphrase"
	"github.com/testimony-project/testimony/internal/secretfile"
	"github.com/testimony-project/testimony/researcher"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "researcher:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "researcher",
		Short:         "Decrypt testimonies on an offline machine",
		Long:          "researcher runs on the researcher's offline machine. It makes the researcher's key, checks and decrypts batches exported by the intake server, and assigns pseudonyms. It never uses the network.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = buildinfo.Read().String()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(keygenCmd(), pubkeyCmd(), decryptCmd(), pseudonymCmd(), auditKeyCmd(), passphraseCmd(), xlsformCmd(), backupCmd())
	return root
}

func keygenCmd() *cobra.Command {
	var out, passFile string
	var fast bool
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make a researcher key, encrypted under a passphrase",
		Long: `keygen makes a new researcher key pair. The private key is written to FILE (mode 0600),
encrypted under a passphrase with argon2id (256 MiB); the public key is printed, with a
fingerprint to read aloud when you give the key to the server's operator.`,
		Example: "  researcher keygen --out ~/testimony.key\n  researcher keygen --out key --passphrase-file pass.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%s already exists: choose another --out, a key must never be overwritten", out)
			}
			pass, err := passphrase.Read(passFile, "New passphrase for the key", true, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			id, err := envelope.GenerateIdentity()
			if err != nil {
				return err
			}
			params := keyfile.DefaultParams
			if fast {
				params = keyfile.Params{Time: 1, MemoryKiB: keyfile.MinMemoryKiB, Threads: 1}
			}
			data, err := keyfile.Encrypt(id, pass, params)
			if err != nil {
				return err
			}
			if err := atomicfile.WriteBytes(out, 0o600, data); err != nil {
				return err
			}
			r := id.Recipient()
			fmt.Fprintf(cmd.OutOrStdout(), "public key:  %s\nfingerprint: %s\n", r, r.Fingerprint())
			fmt.Fprintf(cmd.ErrOrStderr(), "Private key written to %s. Keep it and its passphrase on this offline machine.\nGive the public key to the operator; check the fingerprint with them by voice.\n", out)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "file to write the encrypted private key to (required)")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
	c.Flags().BoolVar(&fast, "weak-kdf-for-tests", false, "use the minimum argon2id cost (64 MiB, 1 pass); for tests and demos only")
	c.Flags().MarkHidden("weak-kdf-for-tests")
	c.MarkFlagRequired("out")
	return c
}

func pubkeyCmd() *cobra.Command {
	var keyPath string
	c := &cobra.Command{
		Use:     "pubkey --key FILE",
		Short:   "Print the public key and fingerprint of a key file (no passphrase needed)",
		Example: "  researcher pubkey --key ~/testimony.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(keyPath)
			if err != nil {
				return err
			}
			r, err := keyfile.PublicKey(data)
			if err != nil {
				return fmt.Errorf("%s: %w", keyPath, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "public key:  %s\nfingerprint: %s\n", r, r.Fingerprint())
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "key file made by keygen (required)")
	c.MarkFlagRequired("key")
	return c
}

func openKey(path, passFile string, stderr io.Writer) (*envelope.Identity, error) {
	data, err := secretfile.Read(path, keyfile.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("failed to read key: %w", err)
	}
	if _, err := keyfile.PublicKey(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pass, err := passphrase.Read(passFile, "Passphrase for "+path, false, stderr)
	if err != nil {
		return nil, err
	}
	id, err := keyfile.Decrypt(data, pass)
	if errors.Is(err, keyfile.ErrWrongPassphrase) {
		return nil, fmt.Errorf("wrong passphrase for %s: try again", path)
	}
	return id, err
}

func decryptCmd() *cobra.Command {
	var keyPath, passFile, studyPath, serverKey, out, lang string
	c := &cobra.Command{
		Use:   "decrypt --key FILE --study STUDY --server-key KEY --out WORKSPACE BATCH...",
		Short: "Check, decrypt and pseudonymize batches into a workspace",
		Long: `decrypt checks each batch's signature against the server key you pinned and every
envelope's hash (a tampered, truncated or unsigned batch is refused whole), decrypts the
envelopes with your key, checks every testimony against the study's questionnaire
(failures go to quarantine.jsonl with reasons), gives each testimony a pseudonym, and
writes testimonies.csv, testimonies.jsonl, codebook.csv and one Markdown file per
testimony into WORKSPACE. Running it again on the same or overlapping batches adds
only what is new and never changes a pseudonym.`,
		Example: `  researcher decrypt --key ~/testimony.key --study nk-internet-access.yaml \
    --server-key "$(cat server.pub)" --out ~/study-workspace batch-2026-11-27.tar`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, batches []string) error {
			study, err := config.Load(studyPath)
			if err != nil {
				return err
			}
			verifier, err := note.NewVerifier(strings.TrimSpace(serverKey))
			if err != nil {
				return fmt.Errorf("malformed --server-key %q: give the line `intake server-key` printed: %v", serverKey, err)
			}
			id, err := openKey(keyPath, passFile, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ws, err := researcher.Open(out, study, id, lang)
			if err != nil {
				return err
			}
			for _, path := range batches {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				var bar *progressbar.ProgressBar
				progress := func(done, total int) {}
				if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					progress = func(done, total int) {
						if bar == nil {
							bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(path), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
						}
						bar.Set(done)
					}
				}
				sum, err := ws.Import(f, verifier, progress)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d envelopes, %d new testimonies, %d already imported, %d quarantined\n", path, sum.Envelopes, sum.Imported, sum.Skipped, sum.Quarantined)
			}
			if err := ws.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d testimonies in %s\n", ws.Len(), out)
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "your key file, made by keygen (required)")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
	c.Flags().StringVar(&studyPath, "study", "", "the study file the server used (required)")
	c.Flags().StringVar(&serverKey, "server-key", "", "the server's verifier key, as `intake server-key` printed it (required)")
	c.Flags().StringVar(&out, "out", "", "workspace folder (required; created if missing)")
	c.Flags().StringVar(&lang, "lang", "", "language of question labels in Markdown files, one of the study's (default: its first)")
	for _, f := range []string{"key", "study", "server-key", "out"} {
		c.MarkFlagRequired(f)
	}
	return c
}

func pseudonymCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pseudonym",
		Short: "List or rename pseudonyms in a workspace",
	}
	var keyPath, passFile, studyPath, ws string
	flags := func(c *cobra.Command) {
		c.Flags().StringVar(&keyPath, "key", "", "your key file (required)")
		c.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from this file instead of the terminal")
		c.Flags().StringVar(&studyPath, "study", "", "the study file (required)")
		c.Flags().StringVar(&ws, "workspace", "", "workspace folder made by decrypt (required)")
		for _, f := range []string{"key", "study", "workspace"} {
			c.MarkFlagRequired(f)
		}
	}
	open := func(cmd *cobra.Command) (*researcher.Workspace, error) {
		study, err := config.Load(studyPath)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(ws); err != nil {
			return nil, fmt.Errorf("workspace %s: %w", ws, err)
		}
		id, err := openKey(keyPath, passFile, cmd.ErrOrStderr())
		if err != nil {
			return nil, err
		}
		return researcher.Open(ws, study, id, "")
	}
	rename := &cobra.Command{
		Use:   "rename OLD NEW",
		Short: "Give a testimony another pseudonym",
		Long: `rename changes a pseudonym everywhere in the workspace. Names are written in Hangul
(romanized for you), as "Hangul/Roman", or as "Hangul (Roman)".`,
		Example: `  researcher pseudonym rename --key k --study s.yaml --workspace ws 김석한 "김영철/Kim Young-chul"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := open(cmd)
			if err != nil {
				return err
			}
			if err := w.Rename(args[0], args[1]); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "renamed %s to %s\n", args[0], args[1])
			return nil
		},
	}
	flags(rename)
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the pseudonyms in a workspace",
		Example: "  researcher pseudonym list --key k --study s.yaml --workspace ws",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := open(cmd)
			if err != nil {
				return err
			}
			for _, t := range w.Testimonies() {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", t.Pseudonym, t.PseudonymRoman)
			}
			return nil
		},
	}
	flags(list)
	c.AddCommand(rename, list)
	return c
}

func auditKeyCmd() *cobra.Command {
	var ws string
	c := &cobra.Command{
		Use:   "audit-key --workspace WORKSPACE",
		Short: "Print the verifier key of the workspace's audit log, for auditors to pin",
		Long: `audit-key prints the key auditors use with "auditor verify" and "auditor reconcile" to
check this workspace's audit log (batches imported, testimonies quarantined, pseudonyms
renamed; never a name or an answer). The log and its key are made by the first decrypt.`,
		Example: "  researcher audit-key --workspace ~/study-workspace > researcher-audit.pub",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(filepath.Join(ws, "audit.pub"))
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s has no audit log yet: run researcher decrypt first", ws)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(b)))
			return nil
		},
	}
	c.Flags().StringVar(&ws, "workspace", "", "workspace folder made by decrypt (required)")
	c.MarkFlagRequired("workspace")
	return c
}
