# The commands of DESIGN §7. Every target first installs missing Debian packages.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CONFIG ?= config/sluice.yaml

.PHONY: deps build test run bench test-asan test-tsan fuzz format clean

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

test: build
	@ctest --test-dir build --output-on-failure

run: build
	./build/sluice -c $(CONFIG)

bench: deps
	@scripts/install-deps --bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSLUICE_BENCH=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build build-bench -j $(JOBS) --target sluice_bench sluice
	./build-bench/tests/sluice_bench --benchmark_counters_tabular=true

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir build-asan --output-on-failure

test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ctest --test-dir build-tsan --output-on-failure

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf build build-bench build-asan build-tsan build-fuzz
