# corelm: `make demo` and `make test` do everything on a fresh Debian 12 machine.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)
MODEL ?= $(SHARED)/data/tiny-models/stories260K-hf
PROMPT ?= Once upon a time
DEMO_OUT ?= $(BUILD_DIR)/demo/model.clm

.PHONY: all deps build test test-aarch64 demo clean format

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Cross-builds for 64-bit ARM Linux (build-aarch64) and runs every test under qemu-aarch64.
test-aarch64:
	@BUILD_TYPE=$(BUILD_TYPE) JOBS=$(JOBS) ./scripts/test-aarch64.sh

# Converts MODEL (a Hugging Face folder, or an existing .clm) and generates text with it.
demo: build
	@mkdir -p $(dir $(DEMO_OUT))
	@if [ -d "$(MODEL)" ]; then \
	  $(BUILD_DIR)/corelm convert "$(MODEL)" -o $(DEMO_OUT); \
	  $(BUILD_DIR)/corelm generate "$(PROMPT)" $(DEMO_OUT) --max-length 200; \
	else \
	  $(BUILD_DIR)/corelm generate "$(PROMPT)" "$(MODEL)" --max-length 200; \
	fi

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD_DIR) build-aarch64
