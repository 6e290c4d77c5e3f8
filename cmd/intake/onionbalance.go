package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/testimony-project/testimony/backup"
	"github.com/testimony-project/testimony/internal/atomicfile"
	"github.com/testimony-project/testimony/internal/passphrase"
	"github.com/testimony-project/testimony/onion"
)

// addOnionFlags adds the options of intake serve that put the server behind
// an Onionbalance frontend or a tor of the operator's.
func addOnionFlags(f *pflag.FlagSet, o *serveOptions) {
	f.StringVar(&o.onionbalanceFrontend, "onionbalance-frontend", "", "serve as one backend of the Onionbalance frontend at this address (see intake onionbalance-config); tor publishes the service from its torrc")
}

// addTorServiceFlags adds the options of the service's defences that a
// tor sets (intake serve's own tor, or the torrc intake torrc prints).
func addTorServiceFlags(f *pflag.FlagSet, o *serveOptions) {
	f.BoolVar(&o.noPoW, "no-pow", false, "turn off tor's proof-of-work defence against floods (on by default)")
	f.IntVar(&o.powQueueRate, "pow-queue-rate", 0, "under a flood, introductions tor serves per second, highest proof-of-work first (default 250)")
	f.IntVar(&o.powQueueBurst, "pow-queue-burst", 0, "under a flood, introductions tor serves at once at most (default 2500)")
	f.IntVar(&o.maxStreams, "max-streams", 0, "streams allowed per circuit before tor closes it (default 32)")
}

// The frontend's files in the directory of intake onionbalance-config.
const (
	frontendKeyName = "frontend_ed25519_secret_key"
	obConfigFile    = "config.yaml"
)

func onionbalanceConfigCmd() *cobra.Command {
	var dir, backupTo, restoreFrom, passFile string
	var backends []string
	var fast bool
	c := &cobra.Command{
		Use:   "onionbalance-config --dir DIR [--backend ADDRESS]...",
		Short: "Write the Onionbalance frontend's key and config.yaml, to serve from several servers at one address",
		Long: `onionbalance-config prepares the frontend of a study served by several intake servers
behind one onion address with Onionbalance (Debian's onionbalance package, on a machine
of its own with a tor that has a control port).

The first run makes the frontend's key, DIR/` + frontendKeyName + ` (tor's
hs_ed25519_secret_key format, mode 0600), and prints the frontend's address: give it
to every backend (intake serve --onionbalance-frontend ADDRESS). Once the backends
have published, run it again with each backend's address (intake address --data DIR on
it; for a backend with --external-tor, the hostname file in its tor's HiddenServiceDir): it writes DIR/` + obConfigFile + ` for onionbalance, naming the key and the
backends, and keeps the key. Run it again whenever a backend is added or removed, then
restart onionbalance. It never replaces a key.

The frontend's key is the study's address: whoever holds it can publish the address
and take what people send. --backup-to seals it to a passphrase (an age file) for
safe keeping off the machine; --restore-from puts it back into an empty DIR on a new
frontend, at the same address.`,
		Example: `  intake onionbalance-config --dir /etc/onionbalance
  intake onionbalance-config --dir /etc/onionbalance --backend 3g2upl4pq6kufc4m…onion --backend ojdx7mj6v5tv2ubc…onion
  intake onionbalance-config --dir /etc/onionbalance --backup-to /media/usb/frontend-key.age --passphrase-file /root/pass
  intake onionbalance-config --dir /etc/onionbalance --restore-from /media/usb/frontend-key.age`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if backupTo != "" && restoreFrom != "" {
				return errors.New("--backup-to and --restore-from: give one")
			}
			if err := onion.PrepareKeyDir(dir, "--dir"); err != nil {
				return err
			}
			keyPath := filepath.Join(dir, frontendKeyName)
			stdout := cmd.OutOrStdout()
			if restoreFrom != "" {
				pass, err := passphrase.Read(passFile, "Passphrase of the frontend key's backup", false, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				addr, err := restoreFrontendKey(keyPath, restoreFrom, pass)
				clear(pass)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "restored the frontend key of %s into %s\n", addr, keyPath)
			}
			front, err := onion.KeyAddress(keyPath)
			if errors.Is(err, fs.ErrNotExist) {
				if front, err = onion.CreateKey(keyPath); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "made a new frontend key: %s\n", keyPath)
			} else if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "frontend address: %s\n", front)
			if len(backends) > 0 {
				conf, err := frontendConfig(front, backends)
				if err != nil {
					return err
				}
				if err := atomicfile.WriteBytes(filepath.Join(dir, obConfigFile), 0o600, conf); err != nil {
					return fmt.Errorf("failed to write %s: %w", obConfigFile, err)
				}
				fmt.Fprintf(stdout, "wrote %s with %d backends: restart onionbalance to use it\n", filepath.Join(dir, obConfigFile), len(backends))
			} else if _, err := os.Stat(filepath.Join(dir, obConfigFile)); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(stdout, "next: serve each backend with --onionbalance-frontend %s, then run this again with --backend and each backend's address\n", front)
			}
			if backupTo != "" {
				pass, err := passphrase.Read(passFile, "Passphrase for the frontend key's backup", true, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				err = backupFrontendKey(keyPath, backupTo, pass, fast)
				clear(pass)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "sealed the frontend key to a passphrase in %s: keep it off this machine, and the passphrase apart from it\n", backupTo)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", "", "directory of the frontend's key and config.yaml, such as /etc/onionbalance (required; created 0700)")
	f.StringArrayVar(&backends, "backend", nil, "a backend's onion address, as `intake address` prints it on the backend (with --external-tor: its HiddenServiceDir/hostname; repeat for each)")
	f.StringVar(&backupTo, "backup-to", "", "seal the frontend key to a passphrase in this file")
	f.StringVar(&restoreFrom, "restore-from", "", "put back the frontend key sealed in this file (by --backup-to) into an empty --dir")
	f.StringVar(&passFile, "passphrase-file", "", "read the backup's passphrase from this file instead of the terminal")
	f.BoolVar(&fast, "insecure-fast-passphrase", false, "a cheap passphrase hash, for tests only")
	f.MarkHidden("insecure-fast-passphrase")
	c.MarkFlagRequired("dir")
	return c
}

// frontendConfig returns Onionbalance's config.yaml for the key next to it
// and the given backends, checked: valid, distinct, and none the frontend.
func frontendConfig(front string, backends []string) ([]byte, error) {
	var addrs []string
	for _, b := range backends {
		a, err := onion.ParseAddress(b)
		if err != nil {
			return nil, fmt.Errorf("malformed --backend: %w", err)
		}
		if a == front {
			return nil, fmt.Errorf("--backend %s is the frontend's own address: give the address each backend prints with `intake address`", a)
		}
		if slices.Contains(addrs, a) {
			return nil, fmt.Errorf("--backend %s is given twice", a)
		}
		addrs = append(addrs, a)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Onionbalance configuration of the frontend %s,\n", front)
	b.WriteString("# written by `intake onionbalance-config`: run it again to change the backends.\n")
	b.WriteString("services:\n")
	b.WriteString("  - key: " + frontendKeyName + "\n")
	b.WriteString("    instances:\n")
	for i, a := range addrs {
		fmt.Fprintf(&b, "      - address: %s\n        name: backend%d\n", strings.TrimSuffix(a, ".onion"), i+1)
	}
	return b.Bytes(), nil
}

// backupFrontendKey seals the key file to a passphrase in out.
func backupFrontendKey(keyPath, out string, pass []byte, fast bool) (err error) {
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("failed to read the frontend key: %w", err)
	}
	defer clear(key)
	r, err := backup.Passphrase(pass)
	if err != nil {
		return err
	}
	if fast {
		r.(*age.ScryptRecipient).SetWorkFactor(10)
	}
	return atomicfile.Write(out, 0o600, func(w io.Writer) error {
		aw, err := age.Encrypt(w, r)
		if err != nil {
			return fmt.Errorf("failed to seal the frontend key: %w", err)
		}
		if _, err := aw.Write(key); err != nil {
			return fmt.Errorf("failed to seal the frontend key: %w", err)
		}
		return aw.Close()
	})
}

// restoreFrontendKey opens a backup made by backupFrontendKey and writes the
// key to keyPath, which must not exist. It returns the key's address.
func restoreFrontendKey(keyPath, in string, pass []byte) (string, error) {
	if _, err := os.Lstat(keyPath); err == nil {
		return "", fmt.Errorf("%s already exists: restore into an empty --dir", keyPath)
	}
	f, err := os.Open(in)
	if err != nil {
		return "", fmt.Errorf("failed to read --restore-from: %w", err)
	}
	defer f.Close()
	id, err := backup.PassphraseIdentity(pass)
	if err != nil {
		return "", err
	}
	r, err := age.Decrypt(f, id)
	if err != nil {
		return "", fmt.Errorf("failed to open %s: wrong passphrase, or not a frontend key backup: %w", in, err)
	}
	key, err := io.ReadAll(io.LimitReader(r, 1024))
	if err != nil {
		return "", fmt.Errorf("failed to open %s: %w", in, err)
	}
	defer clear(key)
	addr, err := onion.WriteKey(keyPath, key)
	if err != nil {
		return "", fmt.Errorf("%s does not hold a frontend key, or it could not be written: %w", in, err)
	}
	return addr, nil
}

func torrcCmd() *cobra.Command {
	var o serveOptions
	var socket, serviceDir string
	c := &cobra.Command{
		Use:   "torrc --socket PATH [--service-dir DIR]",
		Short: "Print the torrc lines for a tor of the operator's that publishes the study (intake serve --external-tor)",
		Long: `torrc prints the lines that make a tor started by the operator, such as Debian's
tor@default service, publish the study's onion service and forward it to the socket of
intake serve --external-tor PATH, with the same defences intake serve gives its own tor:
proof of work against floods, a limit of streams per circuit, and, with
--onionbalance-frontend, the role of an Onionbalance backend.

Add them to /etc/tor/torrc. The onion key is then tor's, in --service-dir (tor makes one
on its first start; to keep an existing address, copy DATA/onion/hs_ed25519_secret_key
there first, owned by debian-tor, mode 0600). Back that key up: intake backup does not
see it. An Onionbalance backend also needs the file ob_config in --service-dir, whose
content torrc prints, and a key before tor starts with these lines.`,
		Example: `  intake torrc --socket /run/testimony/http.sock >> /etc/tor/torrc
  intake torrc --socket /run/testimony/http.sock --onionbalance-frontend ADDRESS`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := onion.Config{PoWDisabled: o.noPoW, PoWQueueRate: o.powQueueRate, PoWQueueBurst: o.powQueueBurst,
				MaxStreams: o.maxStreams, OnionbalanceFrontend: o.onionbalanceFrontend}
			lines, err := onion.ServiceTorrc(c, serviceDir, socket)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# The study's onion service, forwarded to intake serve --external-tor %s\n", socket)
			fmt.Fprintln(w, strings.Join(lines, "\n"))
			if o.onionbalanceFrontend != "" {
				b, err := onion.OBConfig(o.onionbalanceFrontend)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "# and %s, owned by tor's user, mode 0600, holding:\n# %s", filepath.Join(serviceDir, "ob_config"), b)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&socket, "socket", "", "the socket of intake serve --external-tor (required)")
	f.StringVar(&serviceDir, "service-dir", "/var/lib/tor/testimony", "tor's HiddenServiceDir for the study: the onion key")
	addOnionFlags(f, &o)
	addTorServiceFlags(f, &o)
	c.MarkFlagRequired("socket")
	return c
}
