// Command mkdeb builds testimony's Debian package (see package packaging).
// `make package` runs it:
//
//	cd packaging && go run ./cmd/mkdeb -repo .. -out ../dist
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"

	"github.com/testimony-project/testimony/packaging"
)

func main() {
	var o packaging.Options
	flag.StringVar(&o.Repo, "repo", "..", "root of the testimony repository")
	flag.StringVar(&o.Out, "out", "../dist", "folder to write the .deb to")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH to build for (amd64, arm64, …)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mkdeb [-repo DIR] [-out DIR] [-arch GOARCH]\n\nmkdeb builds dist/testimony_VERSION_ARCH.deb: intake, researcher and auditor,\ntheir man pages, and the hardened testimony.service unit.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	o.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := packaging.Build(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(r.Path)
}
