# swift-logstore: the two commands of the quick start are `make run` and `make test`.
# Both install the Debian packages they need (only when missing) and build.

SWIFT        ?= swift
APT_PACKAGES := liburing-dev libzstd-dev pkg-config
SUDO         := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# The ASan/UBSan build lives apart so it never invalidates the normal one.
ASAN_SCRATCH := .build-asan
# UBSan for the C code in trap mode: no runtime library needed, undefined behaviour stops the test.
SANITIZE     := --sanitize=address -Xcc -fsanitize=undefined -Xcc -fsanitize-trap=undefined

.PHONY: all deps build run bench test test-asan clean

all: build

# Installs the system packages that are missing, and nothing else.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

# The main job: the default benchmark suite in a temporary directory, as a results table.
run: build
	.build/release/logstore bench

bench: run

# Every test (Swift Testing), then the whole suite again with the C core and Swift under
# AddressSanitizer and UndefinedBehaviorSanitizer, then the concurrency and crash suites under
# ThreadSanitizer (docs/TESTING.md, "Sanitizers").
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan

# The SIGKILL test (ProcessKillTests) reopens one growing store every round; in this unoptimized
# instrumented build its 20 rounds took 15 of the run's 25 minutes, so here it runs 10 (the plain
# and TSan runs keep 20). LOGSTORE_CRASH_ROUNDS set in the environment wins.
ASAN_CRASH_ROUNDS := 10
test-asan: deps
	$(SWIFT) build --build-tests --scratch-path $(ASAN_SCRATCH) $(SANITIZE)
	ASAN_OPTIONS=suppressions=$(CURDIR)/Tests/asan.supp LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp LOGSTORE_CRASH_ROUNDS=$${LOGSTORE_CRASH_ROUNDS:-$(ASAN_CRASH_ROUNDS)} \
		$(SWIFT) test --skip-build --scratch-path $(ASAN_SCRATCH) $(SANITIZE)

# The suites with concurrency, crash and fault logic, under ThreadSanitizer (C core and Swift),
# in a build of their own; of KeyIndexTests only its concurrent test (its model test is
# single-threaded and takes over a minute under TSan). The other suites are single-threaded
# (codecs, inspection, the CLI). Every process, the test runner and the `logstore` children the
# process-kill test SIGKILLs (whose exit status is lost), writes its reports to a file in
# TSAN_REPORTS: any file fails.
TSAN_SCRATCH := .build-tsan
TSAN_REPORTS := $(TSAN_SCRATCH)/reports
TSAN_TESTS   := CommitLogTests|CrashTests|StoreTests|StoreModelTests|CacheTests|ManifestTests|FaultIOTests
TSAN_TESTS   := $(TSAN_TESTS)|RaftStorageTests|RaftModelTests|RaftDurabilityTests|RaftMetricsTests
TSAN_TESTS   := $(TSAN_TESTS)|FaultMatrixTests|ProcessKillTests|CorruptionMatrixTests|BlobFileTests
TSAN_TESTS   := $(TSAN_TESTS)|KeyIndexTests/concurrentFirstScans|PipelinedCommitTests|RaftEntryCacheStoreTests
TSAN_TESTS   := $(TSAN_TESTS)|SlotTableHintTests
.PHONY: test-tsan
test-tsan: deps
	$(SWIFT) build --build-tests --scratch-path $(TSAN_SCRATCH) --sanitize=thread
	rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	TSAN_OPTIONS="suppressions=$(CURDIR)/Tests/tsan.supp log_path=$(CURDIR)/$(TSAN_REPORTS)/tsan" \
		$(SWIFT) test --skip-build --scratch-path $(TSAN_SCRATCH) --sanitize=thread \
		--filter 'LogStoreTests\.($(TSAN_TESTS))'; status=$$?; \
	if [ -n "$$(ls -A $(TSAN_REPORTS))" ]; then \
		cat $(TSAN_REPORTS)/*; echo "ThreadSanitizer reported the races above ($(TSAN_REPORTS)/)"; exit 1; \
	fi; exit $$status

# The long process-kill run (docs/TESTING.md, "The ACK stream"): `logstore stress` on one
# store, killed with SIGKILL at random moments for CRASH_ROUNDS rounds, DiskFirst and
# MemFirst, each round verified by `logstore check` with every ACK file so far. The child
# processes are the release binary; LOGSTORE_CRASH_SEED=<n> repeats a run's choices.
CRASH_ROUNDS ?= 200
.PHONY: crash
crash: deps
	$(SWIFT) build -c release --product logstore
	$(SWIFT) build --build-tests
	LOGSTORE_BINARY=$(CURDIR)/.build/release/logstore LOGSTORE_CRASH_ROUNDS=$(CRASH_ROUNDS) \
		$(SWIFT) test --skip-build --filter LogStoreTests.ProcessKillTests

# The fuzz targets (docs/TESTING.md, "Fuzzing"): the package in Fuzz/, built with libFuzzer,
# AddressSanitizer and UBSan in Fuzz/.build-fuzz, each target run for FUZZ_SECONDS on a copy of
# its seed corpus (Fuzz/Corpus/<target>) after replaying the saved reproducers in
# Fuzz/Crashes/<target>. Fails on any crash, invariant violation, leak or timeout; reproducers
# and logs go to Fuzz/.fuzz-out/<target>/. FUZZ_TARGETS picks some: make fuzz FUZZ_TARGETS=scan
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) Fuzz/run.sh $(FUZZ_TARGETS)

clean:
	rm -rf .build $(ASAN_SCRATCH) $(TSAN_SCRATCH)
