#!/usr/bin/env bash
# make test-aarch64: cross-builds corelm for 64-bit ARM Linux and runs the whole ctest suite under
# qemu user-mode emulation. Installs what it needs first (Debian 12, as root or through sudo):
# the cross compiler, qemu, and the arm64 development packages through multiarch. Idempotent:
# quiet and quick when everything is there. Prints how long the build and the tests took.
#   BUILD_DIR (build-aarch64), JOBS (nproc), BUILD_TYPE (Release)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-aarch64}
BUILD_TYPE=${BUILD_TYPE:-Release}
JOBS=${JOBS:-$(nproc)}

# Host tools and arch-independent (header-only) packages, then arm64 libraries. The arm64 -dev
# packages must have the exact versions of their amd64 twins (multiarch); apt upgrades the amd64
# ones when needed, but must never remove them.
HOST_PACKAGES=(g++-aarch64-linux-gnu qemu-user-static cmake ninja-build pkg-config
  nlohmann-json3-dev libcli11-dev)
ARM64_PACKAGES=(libfmt-dev:arm64 zlib1g-dev:arm64 libutf8proc-dev:arm64 libpcre2-dev:arm64
  libgtest-dev:arm64 libgmock-dev:arm64 libcpp-httplib-dev:arm64 libedit-dev:arm64
  libcurl4-openssl-dev:arm64 libssl-dev:arm64)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${HOST_PACKAGES[@]}" "${ARM64_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-aarch64: installing ${missing[*]}"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -qq
  plan=$($SUDO apt-get install -s --no-install-recommends "${missing[@]}" 2>&1) || {
    echo "$plan" >&2
    echo "test-aarch64: apt cannot install ${missing[*]}" >&2
    exit 1
  }
  if grep -q '^Remv ' <<<"$plan"; then
    grep '^Remv ' <<<"$plan" >&2
    echo "test-aarch64: installing the arm64 packages would remove the packages above;" \
      "bring the amd64 ones to the same version first (apt-get upgrade)" >&2
    exit 1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

start=$(date +%s)
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" -DCORELM_BUILD_BENCH=OFF \
    --log-level=WARNING
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
built=$(date +%s)
status=0
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS") || status=$?
done_at=$(date +%s)
echo "test-aarch64: build $((built - start)) s, tests under qemu $((done_at - built)) s"
exit $status
