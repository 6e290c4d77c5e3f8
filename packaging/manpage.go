package packaging

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// HelpPage is the --help of one command.
type HelpPage struct {
	Path []string // the command line that names it: "intake", "serve"
	Text string
}

// CollectHelp runs bin --help, then SUBCOMMAND --help for every subcommand
// its help lists, all the way down, in the order the help lists them.
// Cobra's own "help" and "completion" commands are left out.
func CollectHelp(ctx context.Context, bin string) ([]HelpPage, error) {
	return collectHelp(ctx, bin, []string{filepath.Base(bin)})
}

func collectHelp(ctx context.Context, bin string, path []string) ([]HelpPage, error) {
	out, err := run(ctx, bin, append(slices.Clone(path[1:]), "--help")...)
	if err != nil {
		return nil, err
	}
	pages := []HelpPage{{Path: path, Text: string(out)}}
	for _, sub := range Subcommands(string(out)) {
		if sub == "help" || sub == "completion" {
			continue
		}
		more, err := collectHelp(ctx, bin, append(slices.Clone(path), sub))
		if err != nil {
			return nil, err
		}
		pages = append(pages, more...)
	}
	return pages, nil
}

// helpSections are the headings of cobra's help that do not list commands.
var helpSections = map[string]bool{
	"Usage:": true, "Aliases:": true, "Examples:": true, "Flags:": true,
	"Global Flags:": true, "Additional help topics:": true,
}

var commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*) {2,}\S`)

// Subcommands returns the commands a cobra --help lists, under "Available
// Commands:" or any group heading, in order.
func Subcommands(help string) []string {
	var subs []string
	usage, inList := false, false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "Usage:":
			usage, inList = true, false
		case !usage:
		case strings.HasSuffix(line, ":") && !strings.HasPrefix(line, " "):
			inList = !helpSections[line]
		case inList:
			if m := commandLine.FindStringSubmatch(line); m != nil {
				subs = append(subs, m[1])
			}
		}
	}
	return subs
}

// ManPage renders a man page (roff, man macros) for bin from its --help and
// its subcommands': NAME, SYNOPSIS and DESCRIPTION from the top-level help,
// then one section per command with its whole help, as --help prints it.
// It has no date, so the same binary gives the same page.
func ManPage(ctx context.Context, bin, summary string, v Version) ([]byte, error) {
	pages, err := CollectHelp(ctx, bin)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(bin)
	var b bytes.Buffer
	built := v.Go
	if v.Revision != "" {
		built += ", commit " + v.Revision
	}
	fmt.Fprintf(&b, ".\\\" Made by testimony's packaging from the --help of %s %s. Do not edit.\n", name, built)
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"testimony %s\" \"testimony\"\n", roffText(strings.ToUpper(name)), roffText(v.Debian))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", name, roffText(summary))

	root := pages[0].Text
	fmt.Fprintf(&b, ".SH SYNOPSIS\n")
	verbatim(&b, synopsis(pages))
	fmt.Fprintf(&b, ".SH DESCRIPTION\n")
	verbatim(&b, withoutMoreHelp(root))
	if len(pages) > 1 {
		fmt.Fprintf(&b, ".SH COMMANDS\n")
		for _, p := range pages[1:] {
			fmt.Fprintf(&b, ".SS \"%s\"\n", roffText(strings.Join(p.Path, " ")))
			verbatim(&b, withoutMoreHelp(p.Text))
		}
	}
	fmt.Fprintf(&b, ".SH FILES\n")
	if name == "intake" {
		fmt.Fprintf(&b, ".TP\n.I %s\nthe study served by the testimony service (systemctl status testimony)\n", roffText(StudyPath))
		fmt.Fprintf(&b, ".TP\n.I /var/lib/testimony\nits data directory: envelopes, the onion, batch and audit keys, the audit log\n")
	}
	fmt.Fprintf(&b, ".TP\n.I %s\nwhat testimony protects, against whom, and how to run a study\n", roffText(DocDir+"/"))
	fmt.Fprintf(&b, ".SH SEE ALSO\n")
	var see []string
	for _, c := range Commands {
		if c != name {
			see = append(see, ".BR "+c+" (1)")
		}
	}
	see = append(see, ".BR tor (1)")
	fmt.Fprintf(&b, "%s\n", strings.Join(see, ",\n"))
	return b.Bytes(), nil
}

// synopsis lists the usage lines of every command that runs, leaving out
// those that only say "pick a subcommand".
func synopsis(pages []HelpPage) string {
	var lines []string
	for _, p := range pages {
		for _, l := range strings.Split(section(p.Text, "Usage:"), "\n") {
			l = strings.TrimSpace(l)
			if l != "" && l != strings.Join(p.Path, " ")+" [command]" {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 0 {
		return section(pages[0].Text, "Usage:")
	}
	return strings.Join(lines, "\n")
}

// section returns the lines under heading in a cobra help, up to the next
// blank line.
func section(help, heading string) string {
	_, rest, ok := strings.Cut(help, "\n"+heading+"\n")
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(rest, "\n\n")
	return body
}

// withoutMoreHelp drops cobra's closing `Use "x [command] --help" …` line.
func withoutMoreHelp(help string) string {
	help = strings.TrimRight(help, "\n")
	if i := strings.LastIndex(help, "\n"); i >= 0 && strings.HasPrefix(help[i+1:], `Use "`) {
		help = strings.TrimRight(help[:i], "\n")
	}
	return help
}

// verbatim writes text as a no-fill block, each line as it is.
func verbatim(b *bytes.Buffer, text string) {
	b.WriteString(".nf\n")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		line = roffText(line)
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(".fi\n")
}

// roffText escapes text for roff: backslashes print as themselves, and
// hyphens as ASCII hyphen-minus, so options copied from the page work.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}
