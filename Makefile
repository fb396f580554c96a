# Thin front for CMake. `make` sets up, configures and builds (Release); `make mn` builds only the
# command line (what ./mn needs: a minute less on a fresh clone than everything with the tests);
# `make test` runs the suite; `make test-gpu` runs it requiring a GPU (CUDA tests fail instead of
# skipping); `make test-asan` / `make test-tsan` run it under sanitizers in build-asan/, build-tsan/.
BUILD ?= build
CMAKE_FLAGS ?=
PACKAGES := g++ cmake libopenblas-dev libdnnl-dev libturbojpeg0-dev libstb-dev doctest-dev \
            libtomlplusplus-dev zlib1g-dev dataset-fashion-mnist

.PHONY: all mn setup configure test test-gpu test-asan test-tsan clean
all: configure
	cmake --build $(BUILD) -j$$(nproc)

mn: configure
	cmake --build $(BUILD) -j$$(nproc) --target mn

setup:
	@missing=$$(for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

configure: setup
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure

test-gpu: all
	cd $(BUILD) && MN_REQUIRE_GPU=1 ctest --output-on-failure

# The whole suite under ASan + UBSan, in build-asan/ (no CUDA backend: the sanitizers and the CUDA
# runtime do not mix, and the CUDA tests skip without a GPU anyway).
test-asan: setup
	@[ -f build-asan/CMakeCache.txt ] || cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DMN_CUDA=OFF -DMN_SANITIZE=address
	cmake --build build-asan -j$$(nproc)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

# The threaded suites (the loader's workers, training runs) under TSan, in build-tsan/. One OpenMP
# and one OpenBLAS thread: their runtimes are not instrumented, so their own threads would only
# report false races; the loader's std::threads are what this checks.
test-tsan: setup
	@[ -f build-tsan/CMakeCache.txt ] || cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Release -DMN_CUDA=OFF -DMN_SANITIZE=thread
	cmake --build build-tsan -j$$(nproc) --target test_data test_io test_mutualnet
	cd build-tsan && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -R '^(data|io|mutualnet)$$'

clean:
	rm -rf $(BUILD) build-asan build-tsan
