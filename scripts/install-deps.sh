#!/usr/bin/env bash
# Installs every Debian package corelm's build, tests and demo need. Idempotent: quiet and quick
# when everything is already there. Uses sudo when not run as root.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libsimde-dev                       # the avx512 kernels' tests on AVX2 hosts (tests/kernels/simde)
  nlohmann-json3-dev libcli11-dev libfmt-dev zlib1g-dev libutf8proc-dev libpcre2-dev
  clang libclang-rt-14-dev python3  # make test-sanitize, make fuzz, make fuzz-corpus
  libcpp-httplib-dev libedit-dev     # corelm serve, corelm chat
  libcurl4-openssl-dev libssl-dev    # corelm pull (the Hugging Face Hub over HTTPS, sha256)
  libjs-marked node-dompurify        # the web chat page (Markdown rendered, then sanitised)
  chromium                           # the web page's browser test (playwright-core drives it)
  python3-dev pybind11-dev python3-numpy python3-pytest python3-venv  # the Python module (python/)
)
# Node.js 20 and npm for the server's end-to-end tests (tests/e2e/node): Debian's nodejs package
# when the machine has no node of its own.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
