package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/config"
	"github.com/testimony-project/testimony/intake"
	"github.com/testimony-project/testimony/internal/passphrase"
)

func backupCmd() *cobra.Command {
	var dataDir, out, studyPath, passFile string
	var askPass, fast bool
	c := &cobra.Command{
		Use:   "backup --data DIR --out FILE [--passphrase-file FILE]",
		Short: "Back up the keys and records that must survive the server",
		Long: `backup writes everything a lost or seized server needs to come back at the same
onion address, with the same keys and one continuous audit log: the onion key,
the batch signing key, the audit log's key and the whole log, every version of the
study file, the export records that purges match receipts against, and the study
binding. It never holds an envelope, pending or exported, nor tor's state or logs.
Export before you back up: envelopes not yet exported are lost with the server.

The backup is sealed (an age file) to the researchers of the study version the
server serves (or of --config): any one of them can open it on the offline
machine, and the operator needs one of them to restore it ("researcher backup
reseal"). With --passphrase-file (or --passphrase, to be asked), it is sealed to a
passphrase instead: keep the passphrase apart from the backup.

It runs beside a serving server and takes a consistent snapshot; it writes the
backup elsewhere, so it works on a full data disk. The audit log records
backup-made. Keep backups off the server: whoever holds one and can open it can
impersonate the onion service and sign batches (see SECURITY.md).`,
		Example: `  intake backup --data /var/lib/testimony --out /media/usb/testimony-backup.age
  intake backup --data /var/lib/testimony --out /media/usb/backup.age --passphrase-file /root/backup-pass`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := intake.OpenData(dataDir)
			if err != nil {
				return err
			}
			defer d.Close()
			var recipients []age.Recipient
			var sealedTo string
			if passFile != "" || askPass {
				if studyPath != "" {
					return errors.New("--config names the researchers to seal to: give it, or a passphrase, not both")
				}
				pass, err := passphrase.Read(passFile, "Passphrase for the backup", true, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				r, err := backup.Passphrase(pass)
				clear(pass)
				if err != nil {
					return err
				}
				if fast {
					r.(*age.ScryptRecipient).SetWorkFactor(10)
				}
				recipients, sealedTo = []age.Recipient{r}, "a passphrase"
			} else {
				study, err := backupStudy(d, studyPath)
				if err != nil {
					return err
				}
				keys, err := study.RecipientKeys()
				if err != nil {
					return err
				}
				if recipients, err = backup.Researchers(keys); err != nil {
					return err
				}
				sealedTo = fmt.Sprintf("the %d researchers of study %s:", len(keys), study.ID)
				for i, k := range keys {
					sealedTo += fmt.Sprintf("\n  %s  %s", k.Fingerprint(), study.Recipients[i].Name)
				}
			}
			res, err := d.BackupFile(out, recipients, time.Now())
			if err != nil {
				return err
			}
			m := res.Manifest
			w := cmd.OutOrStdout()
			onion := m.Onion
			if onion == "" {
				onion = "no onion key yet"
			}
			fmt.Fprintf(w, "backed up study %s (%s, %d audit records, %d files) to %s, sealed to %s\n", m.StudyID, onion, m.AuditRecords, len(m.Files), out, sealedTo)
			fmt.Fprintf(w, "backup %x\n", m.Hash)
			if res.Pending > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s not exported yet: no backup holds envelopes, so they are lost if the server is; export them.\n", plural(res.Pending, "envelope is"))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (required)")
	f.StringVar(&out, "out", "", "new file to write the backup to, off the data disk (required)")
	f.StringVar(&studyPath, "config", "", "study file whose researchers the backup is sealed to (default: the version the server last started with)")
	f.StringVar(&passFile, "passphrase-file", "", "seal to the passphrase in this file instead of the researchers")
	f.BoolVar(&askPass, "passphrase", false, "seal to a passphrase asked on the terminal instead of the researchers")
	f.BoolVar(&fast, "weak-kdf-for-tests", false, "use scrypt at 2^10 instead of 2^18; for tests only")
	f.MarkHidden("weak-kdf-for-tests")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("out")
	return c
}

// backupStudy returns the study whose researchers a backup is sealed to.
func backupStudy(d *intake.Data, path string) (*config.Study, error) {
	if path == "" {
		return d.CurrentStudy()
	}
	study, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	id, err := d.StudyID()
	if err != nil {
		return nil, err
	}
	if study.ID != id {
		return nil, fmt.Errorf("%s is study %q, the data directory serves %q: give the study file the server serves", path, study.ID, id)
	}
	return study, nil
}

func restoreCmd() *cobra.Command {
	var dataDir, in, passFile, serverKey string
	c := &cobra.Command{
		Use:   "restore --data NEWDIR --in FILE [--passphrase-file FILE]",
		Short: "Bring a server back from a backup, at the same onion address",
		Long: `restore writes a backup made by "intake backup" into a new, empty data directory
and checks everything before it moves it into place: the manifest's signature, every
file against it, each key against its verifier key, the onion key against its
address, every study version against its name, and the whole audit log against its
key. It continues the audit log with a service-restored record naming the backup,
so auditors see one log across the restore. Start the server on it as before:
same onion address, same batch and audit keys.

The backup must be sealed to a passphrase: one sealed to the researchers is first
resealed by one of them on the offline machine ("researcher backup reseal"), so that
no researcher key ever comes to the server. --server-key, the line researchers
pinned, refuses a backup made by another server.

Envelopes are never in a backup: those not exported before it are not on the
restored server, and records the old server appended after the backup are not in
its log (an auditor's checkpoint saved after the backup reports the difference).`,
		Example: `  intake restore --data /var/lib/testimony --in /media/usb/backup-pass.age
  intake restore --data /var/lib/testimony --in backup-pass.age --passphrase-file pass --server-key "$(cat server.pub)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.Open(in)
			if err != nil {
				return fmt.Errorf("failed to read the backup: %w", err)
			}
			defer f.Close()
			pass, err := passphrase.Read(passFile, "Passphrase for the backup", false, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			id, err := backup.PassphraseIdentity(pass)
			clear(pass)
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := intake.Restore(dataDir, f, id, serverKey, time.Now())
			if err != nil {
				return err
			}
			m := res.Manifest
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored study %s from the backup of %s into %s (%d files, %d audit records, checked in %.1f s)\n", m.StudyID, m.Day, dataDir, len(m.Files), res.AuditRecords, time.Since(start).Seconds())
			if res.Address != "" {
				fmt.Fprintf(w, "onion address: %s\n", res.Address)
			} else {
				fmt.Fprintln(w, "onion address: none in the backup; the first serve makes a new one")
			}
			fmt.Fprintf(w, "server key:    %s\naudit key:     %s\n", res.ServerKey, res.AuditKey)
			fmt.Fprintf(cmd.ErrOrStderr(), "Check both keys against the lines researchers and auditors pinned, then start the server: intake serve --config STUDY --data %s\n", dataDir)
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&dataDir, "data", "", "new or empty data directory to restore into (required)")
	fl.StringVar(&in, "in", "", "backup sealed to a passphrase (required)")
	fl.StringVar(&passFile, "passphrase-file", "", "read the backup's passphrase from this file instead of the terminal")
	fl.StringVar(&serverKey, "server-key", "", "refuse a backup not made by the server with this batch verifier key")
	c.MarkFlagRequired("data")
	c.MarkFlagRequired("in")
	return c
}
