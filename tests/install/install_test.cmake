# Installs corelm into a temporary prefix, builds examples/generate against the installed CMake
# package (and a one-file program against the pkg-config file), runs the example on stories260K
# and compares its greedy ids with llama2.c's run.c (reference_outputs.json).
# Variables: BUILD_DIR, SOURCE_DIR, CLI, DATA, WORK, LIBDIR.
if(DEFINED ENV{CORELM_TEST_DATA})
  set(DATA "$ENV{CORELM_TEST_DATA}")
endif()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}/prefix")
foreach(f include/corelm/corelm.h include/corelm/tensor.h ${LIBDIR}/cmake/corelm/corelmConfig.cmake
          ${LIBDIR}/pkgconfig/corelm.pc)
  if(NOT EXISTS "${WORK}/prefix/${f}")
    message(FATAL_ERROR "the install lacks ${f}")
  endif()
endforeach()
# Nothing internal is installed.
file(GLOB_RECURSE installed_headers RELATIVE "${WORK}/prefix/include" "${WORK}/prefix/include/*")
foreach(h ${installed_headers})
  if(NOT h MATCHES "^corelm/[a-z_]+\\.h$")
    message(FATAL_ERROR "unexpected installed file include/${h}")
  endif()
endforeach()

run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/generate" -B "${WORK}/example" -G Ninja
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${WORK}/prefix")
run(${CMAKE_COMMAND} --build "${WORK}/example")

# The same through pkg-config, with a program that only includes the umbrella header.
file(WRITE "${WORK}/pc.cpp" "#include <corelm/corelm.h>\nint main() { return corelm::argmax(corelm::Tensor::from_vector(std::vector<float>{1.f, 3.f, 2.f}, {3})).item<int32_t>() == 1 ? 0 : 1; }\n")
set(ENV{PKG_CONFIG_PATH} "${WORK}/prefix/${LIBDIR}/pkgconfig")
run(pkg-config --cflags --libs corelm)
separate_arguments(pc_flags UNIX_COMMAND "${out}")
run(c++ "${WORK}/pc.cpp" -o "${WORK}/pc" ${pc_flags} "-Wl,-rpath,${WORK}/prefix/${LIBDIR}")
run("${WORK}/pc")

run("${CLI}" convert "${DATA}/tiny-models/stories260K-hf" -o "${WORK}/stories.clm" --quant f32)
run("${WORK}/example/generate_example" "${WORK}/stories.clm" "Once upon a time" 24)
string(REGEX MATCH "^[0-9 ]+" got "${out}")
file(READ "${DATA}/tiny-models/stories260K/reference_outputs.json" ref)
string(JSON n LENGTH "${ref}" greedy_with_prompt ids_after_bos)
set(expected "")
# ids_after_bos holds the 4 prompt tokens after BOS, then the continuation.
foreach(i RANGE 4 27)
  string(JSON id GET "${ref}" greedy_with_prompt ids_after_bos ${i})
  string(APPEND expected " ${id}")
endforeach()
string(STRIP "${expected}" expected)
if(NOT got STREQUAL expected)
  message(FATAL_ERROR "the example's greedy ids differ from run.c's\n  got      ${got}\n  expected ${expected}")
endif()
message(STATUS "installed package OK; example generated: ${out}")
