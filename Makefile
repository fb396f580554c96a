# Thin front for CMake. `make` sets up, configures and builds (Release); `make mn` builds only the
# command line (what ./mn needs: a minute less on a fresh clone than everything with the tests);
# `make test` runs the suite; `make test-gpu` runs it requiring a GPU (CUDA tests fail instead of
# skipping); `make test-cuda-emu` runs the CUDA tests without a GPU, on the CPU emulator of
# cuda/emu/, in build-emu/; `make test-asan` / `make test-tsan` run it under sanitizers in
# build-asan/, build-tsan/.
# `make fuzz` builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan in
# build-fuzz/ and runs each for FUZZ_SECONDS from its seed corpus (tests/fuzz/corpus/<target>/);
# new corpus entries and crash inputs go to build-fuzz/, never into the repository.
BUILD ?= build
CMAKE_FLAGS ?=
PACKAGES := g++ cmake libopenblas-dev libdnnl-dev libturbojpeg0-dev libstb-dev doctest-dev \
            libtomlplusplus-dev zlib1g-dev libcurl4-openssl-dev libopenmpi-dev openmpi-bin \
            python3-venv dataset-fashion-mnist
FUZZ_PACKAGES := clang libclang-rt-14-dev libomp-dev
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
FUZZ_TARGETS := $(sort $(patsubst tests/fuzz/%_fuzz.cpp,%,$(wildcard tests/fuzz/*_fuzz.cpp)))

# Installs the Debian packages of $(1) that are missing.
install_missing = @missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

.PHONY: all mn setup configure test test-gpu test-cuda-emu test-asan test-tsan fuzz clean
all: configure
	cmake --build $(BUILD) -j$$(nproc)

mn: configure
	cmake --build $(BUILD) -j$$(nproc) --target mn

setup:
	$(call install_missing,$(PACKAGES))

configure: setup
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

test: all
	cd $(BUILD) && ctest --output-on-failure

test-gpu: all
	cd $(BUILD) && MN_REQUIRE_GPU=1 ctest --output-on-failure

# The CUDA backend's own code (its kernels, dispatch, layouts and dtypes) run by the CUDA tests on
# the CPU: cuda/ compiled by the host compiler against cuda/emu/ (a runtime whose device memory is
# host memory, kernels run block by block with their threads as fibers, cuDNN's convolutions and
# cuBLAS's GEMM as direct loops). The emulator counts as a GPU, so MN_REQUIRE_GPU=1 makes any
# skip a failure. Needs the CUDA toolkit's headers (and cuDNN's), no GPU, driver or nvcc.
test-cuda-emu: setup
	@[ -f build-emu/CMakeCache.txt ] || cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DMN_CUDA_EMU=ON
	cmake --build build-emu -j$$(nproc) --target test_cuda test_mutualnet
	cd build-emu && MN_REQUIRE_GPU=1 ./test_cuda && MN_REQUIRE_GPU=1 ./test_mutualnet --test-case='CUDA*'

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

# Each target's log is build-fuzz/logs/<target>.log; a crash stops the run with the log's tail and
# leaves the input in build-fuzz/crashes/.
fuzz: setup
	$(call install_missing,$(FUZZ_PACKAGES))
	@[ -f $(FUZZ_BUILD)/CMakeCache.txt ] || CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DMN_FUZZ=ON \
	  -DMN_CUDA=OFF -DMN_DNNL=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD) -j$$(nproc) --target fuzz_targets
	@mkdir -p $(FUZZ_BUILD)/logs $(FUZZ_BUILD)/crashes
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$${t}_fuzz $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- \
	    > $(FUZZ_BUILD)/logs/$$t.log 2>&1 || { tail -n 60 $(FUZZ_BUILD)/logs/$$t.log; exit 1; }; \
	  grep -E 'stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_BUILD)/logs/$$t.log; \
	done

clean:
	rm -rf $(BUILD) build-emu build-asan build-tsan $(FUZZ_BUILD)
