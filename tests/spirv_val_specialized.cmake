# spirv_val_specialized.cmake — CTest script (cmake -P): specializes a SPIR-V module with each given set of
# specialization constants (spirv-opt --set-spec-const-default-value, then frozen and folded) and runs
# spirv-val on each result, so that the values the host really passes (fragment shapes, workgroup sizes,
# variants) give valid modules too, not only the defaults the build validated.
# Inputs: SPV, SPIRV_OPT, SPIRV_VAL, TARGET_ENV, SETS (list; each set "id:value id:value ..." with ',' for ' ').
set(failed 0)
set(i 0)
foreach(set IN LISTS SETS)
  string(REPLACE "," " " values "${set}")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/specialized_${i}.spv")
  execute_process(COMMAND ${SPIRV_OPT} --set-spec-const-default-value "${values}" --freeze-spec-const
                          --fold-spec-const-op-composite --eliminate-dead-code-aggressive ${SPV} -o ${out}
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(rc EQUAL 0)
    execute_process(COMMAND ${SPIRV_VAL} --target-env ${TARGET_ENV} ${out} RESULT_VARIABLE rc ERROR_VARIABLE err)
  endif()
  if(rc EQUAL 0)
    message(STATUS "valid: ${values}")
  else()
    message(SEND_ERROR "invalid after specializing ${values}: ${err}")
    set(failed 1)
  endif()
  file(REMOVE ${out})
  math(EXPR i "${i} + 1")
endforeach()
if(failed)
  message(FATAL_ERROR "some specializations of ${SPV} do not validate")
endif()
