# Thin wrapper over CMake: the everyday verbs.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all test asan demo bench clean deps

all:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: all
	cd $(BUILD) && ctest --output-on-failure -j 1

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHARK_SANITIZE=address,undefined"

demo: all
	./scripts/demo.sh

bench: all
	./$(BUILD)/hark bench -m models/tiny-random.hark --threads 2

deps:
	./scripts/install-deps.sh

clean:
	rm -rf build build-asan
