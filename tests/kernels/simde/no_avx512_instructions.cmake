# cmake -DOBJDUMP=objdump -DLIBRARY=libcorelm_avx512_simde.a -P no_avx512_instructions.cmake
# Fails when the emulated AVX-512 table's library holds an AVX-512 instruction: a zmm register, an
# opmask register or one of the EVEX-only ymm16-31. It must run on AVX2 alone; its 256-bit code
# (ymm0-15) shows the check read real code.
execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn ${LIBRARY}
                OUTPUT_VARIABLE asm ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} -d ${LIBRARY} failed (${rc}): ${err}")
endif()
string(FIND "${asm}" "%ymm" ymm)
if(ymm EQUAL -1)
  message(FATAL_ERROR "${LIBRARY}: no 256-bit instruction found; is it the emulated table?")
endif()
string(REGEX MATCH "%zmm|%k[0-7]|%ymm(1[6-9]|2[0-9]|3[01])" hit "${asm}")
if(hit)
  string(FIND "${asm}" "${hit}" at)
  math(EXPR from "${at} - 60")
  if(from LESS 0)
    set(from 0)
  endif()
  string(SUBSTRING "${asm}" ${from} 120 context)
  message(FATAL_ERROR "${LIBRARY} holds an AVX-512 instruction (${hit}):\n...${context}...")
endif()
message(STATUS "${LIBRARY}: AVX2 code only")
