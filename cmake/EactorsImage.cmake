# eactors_add_image(<name> SOURCES <src>... [LINK <libs>...])
#
# Builds an enclave image: a shared object <name>.so holding actor types
# declared with EA_ACTOR(). The image links against libeactors for the actor
# API. Deployment files name the image by its file name (<name>.so), resolved
# relative to the deployment file's directory, then EACTORS_IMAGE_PATH.
function(eactors_add_image name)
  cmake_parse_arguments(IMG "" "OUTPUT_DIRECTORY" "SOURCES;LINK" ${ARGN})
  if(NOT IMG_SOURCES)
    message(FATAL_ERROR "eactors_add_image(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${IMG_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "" SUFFIX ".so"
                        C_VISIBILITY_PRESET hidden)
  if(IMG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${IMG_OUTPUT_DIRECTORY})
  endif()
  if(TARGET eactors)
    target_link_libraries(${name} PRIVATE eactors ${IMG_LINK})
  else()
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(EACTORS REQUIRED IMPORTED_TARGET eactors)
    target_link_libraries(${name} PRIVATE PkgConfig::EACTORS ${IMG_LINK})
  endif()
  # An image must not have unresolved symbols beyond libeactors and libc.
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
endfunction()
