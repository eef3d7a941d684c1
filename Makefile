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
# AddressSanitizer and UndefinedBehaviorSanitizer.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) --no-print-directory test-asan

test-asan: deps
	$(SWIFT) build --build-tests --scratch-path $(ASAN_SCRATCH) $(SANITIZE)
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(SWIFT) test --skip-build --scratch-path $(ASAN_SCRATCH) $(SANITIZE)

clean:
	rm -rf .build $(ASAN_SCRATCH)
