# Thin wrapper over CMake: the everyday verbs.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all test test-cuda asan demo bench clean deps

all:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: deps all
	cd $(BUILD) && ctest --output-on-failure -j 1 -LE cuda

# The GPU tests (on a machine with an NVIDIA GPU).
test-cuda: all
	cd $(BUILD) && ctest --output-on-failure -j 1 -L cuda

asan: deps
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHARK_SANITIZE=address,undefined -DHARK_WITH_CUDA=OFF"

demo: deps all
	./scripts/demo.sh

bench: all
	./$(BUILD)/hark bench --arch tiny --threads 2
	./$(BUILD)/hark bench --arch base --threads 2

deps:
	./scripts/install-deps.sh

clean:
	rm -rf build build-asan
