# Thin front for CMake. `make` sets up, configures and builds (Release); `make mn` builds only the
# command line (what ./mn needs: a minute less on a fresh clone than everything with the tests);
# `make test` runs the suite; `make test-gpu` runs it requiring a GPU (CUDA tests fail instead of
# skipping).
BUILD ?= build
CMAKE_FLAGS ?=
PACKAGES := g++ cmake libopenblas-dev libdnnl-dev libturbojpeg0-dev libstb-dev doctest-dev \
            libtomlplusplus-dev zlib1g-dev dataset-fashion-mnist

.PHONY: all mn setup configure test test-gpu clean
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

clean:
	rm -rf $(BUILD)
