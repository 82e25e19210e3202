# ctswitch: common tasks. `make test` is what CI runs (.ci/run).

GO       ?= go
FUZZTIME ?= 60s
FUZZPKGS  = ./packet ./packet/filter ./conntrack ./dataplane ./dataplane/l2 ./dataplane/policy ./ctl/config ./tunnel ./tunnel/icmperr ./tunnel/ipfrag

.PHONY: all test build bench fuzz captures

all: build

## test: vet, all tests (privileged ones need root), and the race detector over the lock-free tables
test:
	$(GO) vet ./... && $(GO) test -count=1 ./... && $(GO) test -count=1 -race ./conntrack/... ./dataplane/l2 ./dataplane/policy ./packet/filter ./ctl/... ./tunnel/...

## build: the ctswitch binary, in bin/
build:
	$(GO) build -o bin/ctswitch ./cmd/ctswitch

## bench: the fast-path benchmarks (speed claims come from here)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./packet/... ./conntrack ./dataplane/... ./tunnel/...

## fuzz: every fuzz target of the FUZZPKGS packages, $(FUZZTIME) each
fuzz:
	@set -e; for pkg in $(FUZZPKGS); do \
		for target in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -parallel 1; \
		done; \
	done

## captures: regenerate examples/*.pcap (commit the result)
captures:
	$(GO) run ./tools/gencaptures -out examples
