#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` (CPU only) from the llama.cpp sources vendored in
# llama-cpp-python's PyPI sdist, into a cache folder outside the repository, and does
# nothing when the binary is already there. `make test-engine` calls it, so a fresh
# machine pays the build (about 6-8 minutes on 2 cores) once.
#
#   LLAMA_CPP_CACHE   the cache folder (default ~/.cache/reason-lsp/llama.cpp)
#   LLAMA_CPP_PYTHON_VERSION   the sdist version (default 0.3.36)
#   LLAMA_CPP_SDIST   an already downloaded sdist (skips pip download)
#
# Prints the path of llama-server on its last line. The vendored sources stay in the
# cache too (src/): convert_hf_to_gguf.py and gguf-py come from there.
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${LLAMA_CPP_CACHE:-$HOME/.cache/reason-lsp/llama.cpp}"
ROOT="$CACHE/$VERSION"
BIN="$ROOT/build/bin/llama-server"
PIP="${PIP:-python3 -m pip}"

if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi
mkdir -p "$ROOT"
SRC="$ROOT/src"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    sdist="${LLAMA_CPP_SDIST:-}"
    if [ -z "$sdist" ]; then
        $PIP download --quiet --no-binary :all: --no-deps "llama-cpp-python==$VERSION" -d "$tmp" >&2
        sdist="$tmp/llama_cpp_python-$VERSION.tar.gz"
    fi
    tar xzf "$sdist" -C "$tmp"
    rm -rf "$SRC"
    mv "$tmp/llama_cpp_python-$VERSION/vendor/llama.cpp" "$SRC"
fi
JOBS="${JOBS:-$(nproc)}"
start=$(date +%s)
# Native CPU code, no GPU backends, no curl (models are local files), static libraries
# so the binary does not depend on the build folder's shared objects.
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
cmake -S "$SRC" -B "$ROOT/build" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON >&2
cmake --build "$ROOT/build" --target llama-server -j "$JOBS" >&2
echo "built llama-server in $(( $(date +%s) - start )) s" >&2
echo "$BIN"
