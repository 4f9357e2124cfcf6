include(CMakePackageConfigHelpers)

install(TARGETS infer infer_static EXPORT inferTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/infer.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(infer_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/infer)
install(EXPORT inferTargets NAMESPACE infer:: DESTINATION ${infer_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/inferConfig.cmake.in
  ${PROJECT_BINARY_DIR}/inferConfig.cmake INSTALL_DESTINATION ${infer_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/inferConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/inferConfig.cmake ${PROJECT_BINARY_DIR}/inferConfigVersion.cmake
  DESTINATION ${infer_cmake_dir})

# pkg-config: the shared library by default, `--static` adds what libinfer.a needs.
set(infer_pc_private_libs "-lpthread -ldl -lpcre2-8")
if(INFER_CUDA)
  string(APPEND infer_pc_private_libs " -L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -lrt")
endif()
if(INFER_VULKAN)
  string(APPEND infer_pc_private_libs " -lvulkan")
endif()
file(RELATIVE_PATH infer_pc_to_prefix /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/infer.pc.in ${PROJECT_BINARY_DIR}/infer.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/infer.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
