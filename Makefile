# The two commands of the README. Each installs what it needs first.
GO ?= go
# tor lives in /usr/sbin on Debian, which a user's PATH may lack.
export PATH := $(PATH):/usr/sbin
FUZZTIME ?= 50000x

.PHONY: demo test test-onionbalance deps check fuzz bench bench-stalled install package package-test

demo: deps
	$(GO) run ./cmd/intake demo

# Four packages at once: the end-to-end tests spend most of their time
# waiting for a private Tor network, leaving the cores idle (3.9 min
# instead of 6.6 on 2 cores).
test: deps check
	$(GO) test -race -p 4 -timeout 40m ./...
	$(MAKE) test-onionbalance
	$(MAKE) fuzz
	$(MAKE) package-test

# deps installs the Debian packages the demo and the tests start for real:
# tor (private Tor network and onion service), Chromium (browser tests),
# CJK fonts (screenshots of Korean pages), Node.js (the pages' JavaScript
# against the Go vectors), LibreOffice Calc (the exports opened as
# researchers open them), Onionbalance (test-onionbalance).
deps:
	@scripts/deps

# test-onionbalance serves a study from two servers behind one onion
# address: real tor, Debian's onionbalance and the intake, researcher and
# auditor binaries, on a private Tor network of its own with the 7 HSDirs
# and 20 s voting onionbalance --is-testnet needs (2 to 3 minutes; `go test
# ./...` skips it). TESTIMONY_KEEP=1 keeps its logs.
test-onionbalance: deps
	TESTIMONY_TEST_ONIONBALANCE=1 $(GO) test -count=1 -run '^TestOnionbalanceOverTor$$' -v -timeout 15m ./cmd/intake

check:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

# fuzz runs every fuzzer briefly.
fuzz:
	@scripts/fuzz $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# install puts intake, researcher and auditor in $(PREFIX)/bin, or where go
# install puts them ($$(go env GOBIN), else $$(go env GOPATH)/bin) without
# PREFIX. `sudo make install PREFIX=/usr/local` for every user.
PREFIX ?=
install:
	$(if $(PREFIX),GOBIN=$(abspath $(PREFIX))/bin) $(GO) install -trimpath -buildvcs=auto ./cmd/intake ./cmd/researcher ./cmd/auditor

# package builds dist/testimony_VERSION_ARCH.deb with packaging/cmd/mkdeb
# (a module of its own: see packaging/packaging.go). ARCH=arm64 builds for
# another architecture.
ARCH ?=
package:
	cd packaging && $(GO) run ./cmd/mkdeb -repo .. -out ../dist $(if $(ARCH),-arch $(ARCH))

# package-test builds the package and checks its files, control data, man
# pages, the unit's security score and command line. As root it also
# installs it with apt in a fresh Debian chroot, and runs testimony.service
# under systemd in a container (systemd-nspawn) on a private Tor network;
# the base systems are made once with debootstrap and kept in dist/chroot.
package-test:
	@[ "$$(id -u)" -ne 0 ] || { missing=""; \
	  command -v debootstrap >/dev/null 2>&1 || missing="$$missing debootstrap"; \
	  command -v systemd-nspawn >/dev/null 2>&1 || missing="$$missing systemd-container"; \
	  command -v tor-gencert >/dev/null 2>&1 || missing="$$missing tor"; \
	  [ -z "$$missing" ] || { echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }; }
	@test -z "$$(gofmt -l packaging)" || { echo "gofmt would change:"; gofmt -l packaging; exit 1; }
	cd packaging && $(GO) vet ./... && TESTIMONY_PACKAGE_CHROOT=1 $(GO) test -count=1 -timeout 20m ./...

# bench-stalled attacks `intake serve` with 1,000 uploads that stall and
# 5,000 idle connections while a person uses the site (about a minute
# each), then with the attack kept up (-reconnect), then with each of the
# person's form posts taking a return passphrase (-passphrase).
bench-stalled:
	$(GO) run ./bench/stalled
	$(GO) run ./bench/stalled -reconnect
	$(GO) run ./bench/stalled -passphrase
