# cmake/sanitizers.cmake — LOWBIT_SANITIZE=address (ASan + UBSan, any UB aborts) or =thread (TSan), applied
# to every target of the build. The GPU drivers (lavapipe, PoCL) are not instrumented: their known reports
# are handled by the suppression files in tests/sanitizers/, never by hiding lowbit's own code.
set(LOWBIT_SANITIZE "" CACHE STRING "Sanitizers for the whole build: address (ASan+UBSan), thread (TSan) or empty")
set_property(CACHE LOWBIT_SANITIZE PROPERTY STRINGS "" address thread)
if(LOWBIT_SANITIZE STREQUAL "address")
  set(LOWBIT_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(LOWBIT_SANITIZE STREQUAL "thread")
  set(LOWBIT_SANITIZE_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT LOWBIT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "LOWBIT_SANITIZE='${LOWBIT_SANITIZE}': use address, thread or leave it empty")
endif()
if(LOWBIT_SANITIZE_FLAGS)
  add_compile_options(${LOWBIT_SANITIZE_FLAGS} -g)
  add_link_options(${LOWBIT_SANITIZE_FLAGS})
  message(STATUS "lowbit: sanitizers ${LOWBIT_SANITIZE_FLAGS}")
endif()
