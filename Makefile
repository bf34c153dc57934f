# corelm: `make demo` and `make test` do everything on a fresh Debian 12 machine.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)
# Without ../shared the demo pulls a small real Llama-family model from the Hugging Face Hub
# (corelm pull; needs the network once). MODEL may be a folder, a .clm/.gguf file or ORG/NAME.
HUB_MODEL ?= HuggingFaceTB/SmolLM2-135M-Instruct
MODEL ?= $(if $(wildcard $(SHARED)/data/tiny-models/stories260K-hf),$(SHARED)/data/tiny-models/stories260K-hf,$(HUB_MODEL))
PROMPT ?= Once upon a time
DEMO_OUT ?= $(BUILD_DIR)/demo/model.clm
SANITIZE_DIR ?= build-sanitize
FUZZ_SECONDS ?= 30
# Any sanitizer report fails the test that made it.
SANITIZE_ENV = ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:print_stacktrace=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: all deps build test test-aarch64 build-sanitize test-sanitize fuzz fuzz-merge fuzz-corpus \
  demo clean format python

all: build

# Debian packages, then the Node packages of the server's end-to-end tests (tests/e2e/node,
# from its committed lockfile; skipped when node_modules is current, and only a warning when the
# npm registry cannot be reached: ctest then leaves those tests out).
NODE_TESTS := tests/e2e/node
deps:
	@./scripts/install-deps.sh
	@if [ ! -f $(NODE_TESTS)/node_modules/.package-lock.json ] || \
	    [ $(NODE_TESTS)/package-lock.json -nt $(NODE_TESTS)/node_modules/.package-lock.json ] || \
	    [ $(NODE_TESTS)/package.json -nt $(NODE_TESTS)/node_modules/.package-lock.json ]; then \
	  echo "deps: npm ci in $(NODE_TESTS)"; \
	  (cd $(NODE_TESTS) && npm ci --no-audit --no-fund --loglevel=error) || \
	    echo "deps: npm ci failed; the Node end-to-end tests will be left out" >&2; \
	fi

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The Python module built in $(BUILD_DIR), its extension copied into python/corelm (git-ignored)
# so that `PYTHONPATH=python /usr/bin/python3 -c "import corelm"` works in place. The old copy is
# removed first, not overwritten: a running python may have it mapped. (`pip install ./python`
# builds and installs a wheel instead: python/pyproject.toml.)
python: $(BUILD_DIR)/build.ninja
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target corelm_python || { echo "make python: failed;" \
	  "if CMake said 'Python module: off': apt install pybind11-dev python3-dev, then" \
	  "cmake -S . -B $(BUILD_DIR)" >&2; exit 1; }
	rm -f python/corelm/_corelm*.so
	cp $(BUILD_DIR)/python/corelm/_corelm*.so python/corelm/

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Cross-builds for 64-bit ARM Linux (build-aarch64) and runs every test under qemu-aarch64.
test-aarch64:
	@BUILD_TYPE=$(BUILD_TYPE) JOBS=$(JOBS) ./scripts/test-aarch64.sh

# One clang build (build-sanitize) with AddressSanitizer + UndefinedBehaviorSanitizer everywhere
# and the libFuzzer targets (fuzz/): test-sanitize runs the whole ctest suite in it, fuzz runs
# each fuzz target for FUZZ_SECONDS (scripts/fuzz.sh; fuzz-merge keeps what adds coverage in
# fuzz/corpus), fuzz-corpus remakes the seed corpora from ../shared/data.
$(SANITIZE_DIR)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCORELM_SANITIZE=ON -DCORELM_FUZZ=ON -DCORELM_BUILD_BENCH=OFF

build-sanitize: deps $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j $(JOBS)

test-sanitize: build-sanitize
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) ctest --output-on-failure -j $(JOBS)

fuzz: build-sanitize
	@BUILD_DIR=$(SANITIZE_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

fuzz-merge: build-sanitize
	@BUILD_DIR=$(SANITIZE_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MERGE=1 ./scripts/fuzz.sh

fuzz-corpus: build
	python3 fuzz/make_corpus.py --data $(SHARED)/data --cli $(BUILD_DIR)/corelm

# Converts MODEL (a Hugging Face folder, or an existing .clm) and generates text with it.
demo: build
	@mkdir -p $(dir $(DEMO_OUT))
	@if [ -d "$(MODEL)" ]; then \
	  $(BUILD_DIR)/corelm convert "$(MODEL)" -o $(DEMO_OUT); \
	  $(BUILD_DIR)/corelm generate "$(PROMPT)" $(DEMO_OUT) --max-length 200; \
	elif [ -f "$(MODEL)" ]; then \
	  $(BUILD_DIR)/corelm generate "$(PROMPT)" "$(MODEL)" --max-length 200; \
	else \
	  $(BUILD_DIR)/corelm pull "$(MODEL)" && \
	  $(BUILD_DIR)/corelm generate "$(PROMPT)" "$(MODEL)" --max-length 200; \
	fi

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD_DIR) build-aarch64 $(SANITIZE_DIR)
