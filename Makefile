# Thin wrapper around CMake. `make demo` and `make test` are the quick start.
# Both run `deps` first, which installs missing Debian packages when run as
# root and otherwise prints the exact apt-get line and fails.

JOBS      ?= $(shell nproc)
BUILD     ?= build
ASAN_DIR  ?= build-asan
TSAN_DIR  ?= build-tsan
CMAKE_ARGS ?=

DEB_PACKAGES := build-essential cmake pkg-config libxml2-dev libseccomp-dev liburing-dev libcmocka-dev libssl-dev openssl curl procps strace libexpat1-dev python3-slixmpp libstrophe-dev profanity tmux tsung
BENCH_PACKAGES := gnuplot-nox wrk nginx-light liblmdb-dev ejabberd jabberd2 prosody sqlite3
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_DIR  ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps deps-bench deps-fuzz build demo test test-fast bench fuzz clean install

all: build

deps:
	@./.ci/deps.sh $(DEB_PACKAGES)

deps-bench:
	@./.ci/deps.sh $(DEB_PACKAGES) $(BENCH_PACKAGES)

deps-fuzz:
	@./.ci/deps.sh $(DEB_PACKAGES) $(FUZZ_PACKAGES)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/tools/eactors run $(BUILD)/examples/pingpong/enclave-enclave.xml

# Unit and integration tests, then the same under ASan+UBSan, then the
# queue stress tests under TSan, then every fuzz target for 30 s. Each stage
# ends with CTest's summary.
test: build deps-fuzz
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DEA_SANITIZE=address,undefined -DEA_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS) -LE nosan
	cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DEA_SANITIZE=thread -DEA_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(TSAN_DIR) -j $(JOBS)
	cd $(TSAN_DIR) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) -L stress
	$(MAKE) fuzz FUZZ_SECONDS=30

# libFuzzer targets (clang, ASan+UBSan), each run for FUZZ_SECONDS.
fuzz: deps-fuzz
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DEA_SANITIZE=address,undefined -DEA_FUZZ=ON -DEA_FUZZ_SECONDS=$(FUZZ_SECONDS) -DEA_WERROR=OFF -DEA_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	cd $(FUZZ_DIR) && ctest --output-on-failure -j $(JOBS) -L fuzz

# Only the normal build's tests.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: deps-bench build
	./bench/run.sh $(BUILD)

# As root this also sets up the platform daemon (users eactors and
# eactors-enclave, /var/lib/eactors/platform, the systemd unit).
install: build
	cmake --install $(BUILD)
	@if [ "$$(id -u)" = 0 ]; then \
	  "$$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' $(BUILD)/CMakeCache.txt)/bin/eactors" platform install; \
	else echo "not root: run 'sudo eactors platform install' for system mode"; fi

clean:
	rm -rf $(BUILD) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR)
