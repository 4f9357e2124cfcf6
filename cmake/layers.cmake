# Build layering that the compiler enforces. Each layer of libinfer is an object library whose
# sources compile against an include root of their own: a folder in the build tree that holds
# links to the source folders the layer may include from ("core" -> lib/core, ...) and nothing
# else. An include that runs backwards ("cpu/cpu_ops.h" from lib/runtime) finds no such file, and
# the build fails. tests/layering proves it on every test run.
#
# The layers, lowest first; each directory's CMakeLists.txt declares its own and what it sees:
#   core (lib/core with lib/gguf), graph, text, sample, models, runtime,
#   the backends cpu, cuda and vulkan (beside runtime, seeing only its interface headers),
#   backends (backends/backends.cpp, the registry's list: sees every backend), api.
#
# Object libraries rather than a static archive per layer: libinfer.so and libinfer.a are both
# the union of the layers' objects, so neither needs --whole-archive, libinfer.a is not an archive
# merged from archives, and the install still holds exactly the two libraries consumers link.
# Linking is not layered (runtime reaches the backends through the list in backends.cpp, whose
# objects are in the same library); includes are.

# infer_include_root(<name> SEES <prefix>... [SEES_FILES <prefix>/<header>...])
# Makes ${PROJECT_BINARY_DIR}/include/<name>: a link per prefix to its folder (lib/<prefix>,
# backends/<prefix> or <prefix> at the top), and for SEES_FILES a folder per prefix with links to
# only those headers. Remade at every configure, so a prefix taken out of SEES is gone.
function(infer_include_root name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SEES;SEES_FILES")
  set(root ${PROJECT_BINARY_DIR}/include/${name})
  file(REMOVE_RECURSE ${root}) # removes the links, never what they point to
  file(MAKE_DIRECTORY ${root})
  foreach(prefix IN LISTS arg_SEES)
    infer_prefix_dir(${prefix} dir)
    file(CREATE_LINK ${dir} ${root}/${prefix} SYMBOLIC)
  endforeach()
  foreach(header IN LISTS arg_SEES_FILES)
    get_filename_component(prefix ${header} DIRECTORY)
    get_filename_component(file ${header} NAME)
    infer_prefix_dir(${prefix} dir)
    file(MAKE_DIRECTORY ${root}/${prefix})
    file(CREATE_LINK ${dir}/${file} ${root}/${header} SYMBOLIC)
  endforeach()
endfunction()

# The source folder an include prefix names.
function(infer_prefix_dir prefix out)
  foreach(dir lib/${prefix} backends/${prefix} ${prefix})
    if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/${dir})
      set(${out} ${PROJECT_SOURCE_DIR}/${dir} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "include prefix '${prefix}': no folder lib/${prefix}, backends/${prefix} or ${prefix}")
endfunction()

# infer_layer(<name> SEES <prefix>... [SEES_FILES <prefix>/<header>...] [LINKS <library>...])
# The object library infer_<name>, compiled against its include root and include/ (infer.h).
# LINKS are what libinfer must link for this layer (PCRE2 for text, the CUDA runtime for cuda):
# the layer gets their headers, libinfer.so and libinfer.a get them at link time.
function(infer_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SEES;SEES_FILES;LINKS")
  infer_include_root(${name} SEES ${arg_SEES} SEES_FILES ${arg_SEES_FILES})
  set(target infer_${name})
  add_library(${target} OBJECT)
  target_include_directories(${target} PRIVATE ${PROJECT_BINARY_DIR}/include/${name}
                                               ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:${infer_warnings}>)
  # What this build has, for the few files that ask (the C API's backend queries, runtime's stubs).
  target_compile_definitions(${target} PRIVATE
    $<$<BOOL:${INFER_CUDA_BACKEND}>:INFER_HAVE_CUDA=1>
    $<$<BOOL:${INFER_VULKAN}>:INFER_HAVE_VULKAN=1>)
  target_link_libraries(${target} PRIVATE ${arg_LINKS})
  set_property(GLOBAL APPEND PROPERTY INFER_LAYERS ${target})
  set_property(GLOBAL APPEND PROPERTY INFER_LAYER_LINKS ${arg_LINKS})
endfunction()
