# Cross-build runtime/cpp for 64-bit ARM Linux (every Jetson's CPU) on an x86-64 host, with the GNU aarch64 toolchain
# (Debian/Ubuntu: apt-get install g++-aarch64-linux-gnu) against an arm64 sysroot that holds OpenCV (libopencv-dev)
# and nlohmann-json: a Jetson's root file system copied off the board, or the Debian one that
# `python -m benchmarks.emulation.arm64 prepare` unpacks (its root/ folder).
#
#   cmake -S runtime/cpp -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=runtime/cpp/cmake/aarch64-linux-gnu.cmake \
#         -DSWINPOSE_SYSROOT=/path/to/arm64/root
#   cmake --build build-arm64 -j
#
# -DSWINPOSE_EMULATOR="qemu-aarch64;-cpu;cortex-a57;-L;/path/to/arm64/root" makes ctest run the tests under that
# emulator (CMAKE_CROSSCOMPILING_EMULATOR). The libraries are linked as they are in the sysroot: copy the binaries to
# a board with the same libraries, or run them there under qemu-aarch64 -L.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES SWINPOSE_SYSROOT)

if(NOT SWINPOSE_SYSROOT OR NOT EXISTS "${SWINPOSE_SYSROOT}/usr/include")
  message(FATAL_ERROR "SWINPOSE_SYSROOT is '${SWINPOSE_SYSROOT}': pass -DSWINPOSE_SYSROOT=DIR, an arm64 root file "
                      "system with OpenCV (python -m benchmarks.emulation.arm64 prepare makes one; use its root/)")
endif()

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# headers, libraries and CMake packages from the sysroot only; programs (cmake, pkg-config) from the host
set(CMAKE_FIND_ROOT_PATH "${SWINPOSE_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# the linker follows the sysroot's libraries' own dependencies (OpenCV's on BLAS, GDAL ...) through these folders
foreach(dir lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu usr/lib)
  string(APPEND CMAKE_EXE_LINKER_FLAGS_INIT " -Wl,-rpath-link,${SWINPOSE_SYSROOT}/${dir}")
  string(APPEND CMAKE_SHARED_LINKER_FLAGS_INIT " -Wl,-rpath-link,${SWINPOSE_SYSROOT}/${dir}")
endforeach()

if(SWINPOSE_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${SWINPOSE_EMULATOR}")
endif()
