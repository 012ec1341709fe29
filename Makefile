# The commands the README gives. Every target first installs missing Debian packages.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CONFIG ?= config/sluice.yaml

.PHONY: deps configure build test run bench test-asan test-tsan fuzz format check clean

deps:
	@scripts/install-deps

# cmake's configure output is kept out of sight unless it fails: then all of it is shown.
CONFIGURE = configure() { dir=$$1; shift; log=$$(mktemp); \
  if ! cmake -S . -B "$$dir" "$$@" >"$$log" 2>&1; then cat "$$log" >&2; rm -f "$$log"; exit 1; fi; \
  rm -f "$$log"; }; configure

configure: deps
	@$(CONFIGURE) build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: configure
	@cmake --build build -j $(JOBS)

test: build
	@ctest --test-dir build --output-on-failure

# Only what running needs: the daemon, not the test binaries.
run: configure
	@cmake --build build -j $(JOBS) --target sluice
	./build/sluice -c $(CONFIG)

bench: deps
	@scripts/install-deps --bench
	@$(CONFIGURE) build-bench -DCMAKE_BUILD_TYPE=Release -DSLUICE_BENCH=ON -DBUILD_TESTING=ON
	@cmake --build build-bench -j $(JOBS) --target sluice_bench sluice
	./build-bench/tests/sluice_bench --benchmark_counters_tabular=true

test-asan: deps
	@$(CONFIGURE) build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure

test-tsan: deps
	@$(CONFIGURE) build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=thread
	@cmake --build build-tsan -j $(JOBS)
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir build-tsan --output-on-failure

FUZZ_SECONDS ?= 30
FUZZERS = fuzz_config fuzz_request_head fuzz_session fuzz_http2
fuzz: deps
	@$(CONFIGURE) build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DSLUICE_FUZZ=ON -DBUILD_TESTING=ON
	@cmake --build build-fuzz -j $(JOBS) --target $(FUZZERS)
	@for f in $(FUZZERS); do \
	  corpus=tests/fuzz/corpus/$${f#fuzz_}; mkdir -p build-fuzz/corpus/$$f tests/fuzz/artifacts; \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  if ! ./build-fuzz/tests/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	      -artifact_prefix=tests/fuzz/artifacts/ -print_final_stats=1 \
	      build-fuzz/corpus/$$f $$corpus > build-fuzz/$$f.log 2>&1; then \
	    tail -n 40 build-fuzz/$$f.log; exit 1; \
	  fi; \
	  grep -E '^stat::number_of_executed_units|^Done' build-fuzz/$$f.log; \
	done

# clang-format-14 is what scripts/install-deps installs (and what .clang-format is written for).
format: deps
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format-14 -i

# clang-tidy clean on src/ (docs/DESIGN.md, "Keeping it so").
check: build
	@scripts/check-structure build

clean:
	rm -rf build build-bench build-asan build-tsan build-fuzz
