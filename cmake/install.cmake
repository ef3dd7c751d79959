# cmake/install.cmake — the shared library (lowbit_shared: the whole static `lowbit` linked into one
# liblowbit.so) and `cmake --install`: both libraries, the public headers, the CLI, a relocatable CMake
# package (find_package(lowbit) -> lowbit::lowbit, lowbit::lowbit_static) and lowbit.pc. Every path
# installed is relative to the install prefix, so `cmake --install build --prefix DIR` works from DIR
# whatever prefix was configured.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# A shared library needs one source of its own; everything else comes whole from the static library.
add_library(lowbit_shared SHARED ${CMAKE_CURRENT_LIST_DIR}/shared_library.cpp)
target_link_libraries(lowbit_shared PRIVATE $<LINK_LIBRARY:WHOLE_ARCHIVE,lowbit> PUBLIC Threads::Threads)
target_include_directories(lowbit_shared PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/host/include>
                                                $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(lowbit_shared PROPERTIES OUTPUT_NAME lowbit EXPORT_NAME lowbit VERSION ${PROJECT_VERSION}
                                               SOVERSION ${PROJECT_VERSION_MAJOR})
set_target_properties(lowbit PROPERTIES EXPORT_NAME lowbit_static)

set(LOWBIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lowbit)
install(TARGETS lowbit lowbit_shared EXPORT lowbitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS lowbit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/host/include/lowbit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT lowbitTargets NAMESPACE lowbit:: DESTINATION ${LOWBIT_CMAKE_DIR})

set(LOWBIT_CONFIG_VULKAN ${LOWBIT_VULKAN})
set(LOWBIT_CONFIG_OPENCL ${LOWBIT_OPENCL})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/lowbitConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/lowbitConfig.cmake INSTALL_DESTINATION ${LOWBIT_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/lowbitConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/lowbitConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/lowbitConfigVersion.cmake
        DESTINATION ${LOWBIT_CMAKE_DIR})

# lowbit.pc: the prefix is found from the .pc file's own place (${pcfiledir}), never written in.
file(RELATIVE_PATH LOWBIT_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
# What a static link needs besides liblowbit.a (as -l flags, so that a shared consumer needs none of their .pc files).
set(LOWBIT_PC_LIBS_PRIVATE "-lspdlog")
if(TARGET fmt::fmt)  # spdlog built against an external fmt (Debian's)
  string(APPEND LOWBIT_PC_LIBS_PRIVATE " -lfmt")
endif()
if(LOWBIT_VULKAN)
  string(APPEND LOWBIT_PC_LIBS_PRIVATE " -lvulkan")
endif()
if(LOWBIT_OPENCL)
  string(APPEND LOWBIT_PC_LIBS_PRIVATE " -lOpenCL")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/lowbit.pc.in ${CMAKE_CURRENT_BINARY_DIR}/lowbit.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/lowbit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
