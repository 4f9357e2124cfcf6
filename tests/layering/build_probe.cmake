# Builds the probe target TARGET in BUILD_DIR (tests/layering/CMakeLists.txt). Without REFUSED the
# build must succeed. With REFUSED=<header> it must fail, and because <header> was not found (GCC:
# "<header>: No such file or directory", clang: "'<header>' file not found"), not for another reason.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT DEFINED REFUSED)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${output}\n${TARGET}: headers this layer may include did not compile")
  endif()
  message(STATUS "${TARGET}: compiles")
  return()
endif()
if(result EQUAL 0)
  message(FATAL_ERROR "${TARGET}: #include \"${REFUSED}\" compiled; the layer must not see it")
endif()
string(REPLACE "." "\\." header "${REFUSED}")
if(NOT output MATCHES "${header}'?:? (No such file or directory|file not found)")
  message(FATAL_ERROR "${output}\n${TARGET}: failed, but not because ${REFUSED} was not found")
endif()
message(STATUS "${TARGET}: #include \"${REFUSED}\" refused: not found")
