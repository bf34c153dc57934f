# Toolchain for 64-bit ARM Linux, cross-compiled on a Debian x86-64 host (make test-aarch64):
# Debian's cross compiler (g++-aarch64-linux-gnu), the arm64 libraries installed through
# multiarch (/usr/lib/aarch64-linux-gnu, e.g. libfmt-dev:arm64), and qemu user-mode emulation to
# run what was built (gtest discovery and ctest go through CMAKE_CROSSCOMPILING_EMULATOR).
#   cmake -S . -B build-aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Packages are found under /usr as on the host, but only in the arm64 multiarch folders:
# lib/aarch64-linux-gnu for libraries and CMake packages, and arch-independent ones (header-only
# nlohmann-json, CLI11) under share. Programs (pkg-config) are the host's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# qemu-user (static or not), emulating the newest ARM CPU qemu knows (-cpu max: SVE, dotprod,
# i8mm, ... for the NEON tables of issue 14). The arm64 loader and libraries come from multiarch
# (/lib/ld-linux-aarch64.so.1), so no QEMU_LD_PREFIX is needed.
find_program(CORELM_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${CORELM_QEMU_AARCH64};-cpu;max")
