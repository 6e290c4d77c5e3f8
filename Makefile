# The two commands of the README. Each installs what it needs first.
GO ?= go
# tor lives in /usr/sbin on Debian, which a user's PATH may lack.
export PATH := $(PATH):/usr/sbin
FUZZTIME ?= 100000x

.PHONY: demo test deps check fuzz bench bench-stalled

demo: deps
	$(GO) run ./cmd/intake demo

test: deps check
	$(GO) test -race -timeout 40m ./...
	$(MAKE) fuzz

# deps installs the Debian packages the demo and the tests start for real:
# tor (private Tor network and onion service), Chromium (browser tests) and
# CJK fonts (screenshots of Korean pages).
deps:
	@scripts/deps

check:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

# fuzz runs every fuzzer briefly.
fuzz:
	@scripts/fuzz $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# bench-stalled attacks `intake serve` with 1,000 uploads that stall and
# 5,000 idle connections while a person uses the site (about a minute),
# then with the attack kept up (-reconnect).
bench-stalled:
	$(GO) run ./bench/stalled
	$(GO) run ./bench/stalled -reconnect 
