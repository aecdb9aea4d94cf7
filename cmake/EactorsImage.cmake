# eactors_add_image(<name> SOURCES <src>... [LINK <libs>...]
#                   [PRODID <n>] [SVN <n>] [DEBUG] [KEY <key.pem>]
#                   [OUTPUT_DIRECTORY <dir>])
#
# Builds an enclave image: a shared object <name>.so holding actor types
# declared with EA_ACTOR(), and signs it: <name>.so.sig (the SIGSTRUCT analog:
# MRENCLAVE, ISVPRODID, ISVSVN, attributes, signer key, Ed25519 signature).
# Without KEY it signs with the per-checkout development key
# ${EACTORS_SIGNING_KEY} (default <source dir>/.eactors/dev-signing-key.pem),
# which the build creates on first use. Deployment files name the image by its
# file name (<name>.so), resolved relative to the deployment file's directory,
# then EACTORS_IMAGE_PATH.
set(EACTORS_SIGNING_KEY "${CMAKE_SOURCE_DIR}/.eactors/dev-signing-key.pem"
    CACHE FILEPATH "Key that signs enclave images built without KEY")

function(eactors_add_image name)
  cmake_parse_arguments(IMG "DEBUG" "OUTPUT_DIRECTORY;PRODID;SVN;KEY" "SOURCES;LINK" ${ARGN})
  if(NOT IMG_SOURCES)
    message(FATAL_ERROR "eactors_add_image(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${IMG_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "" SUFFIX ".so" C_VISIBILITY_PRESET hidden)
  if(IMG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${IMG_OUTPUT_DIRECTORY})
  endif()
  # The image is not linked against libeactors: its ea_ symbols bind to the
  # runtime inside the `eactors` launcher that loads it, so no library is
  # loaded from disk into an enclave after EINIT and every byte of code an
  # enclave maps is its measured image or the launcher's own (the trusted
  # base). An image needs no library the launcher has not loaded (libc,
  # libcrypto, libssl): an enclave can open no file to load one.
  if(TARGET eactors)
    target_include_directories(${name} PRIVATE ${EA_INCLUDE_DIR})
    target_link_libraries(${name} PRIVATE ${IMG_LINK})
    set(tool $<TARGET_FILE:eactors_tool>)
    set(tool_dep eactors_tool)
  else()
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(EACTORS REQUIRED eactors)
    target_include_directories(${name} PRIVATE ${EACTORS_INCLUDE_DIRS})
    target_link_libraries(${name} PRIVATE ${IMG_LINK})
    find_program(EACTORS_TOOL eactors HINTS ${EACTORS_PREFIX}/bin REQUIRED)
    set(tool ${EACTORS_TOOL})
    set(tool_dep "")
  endif()

  if(IMG_KEY)
    set(key ${IMG_KEY})
  else()
    set(key ${EACTORS_SIGNING_KEY})
    if(NOT TARGET eactors_dev_key)
      get_filename_component(keydir ${EACTORS_SIGNING_KEY} DIRECTORY)
      add_custom_command(OUTPUT ${EACTORS_SIGNING_KEY}
                         COMMAND ${CMAKE_COMMAND} -E make_directory ${keydir}
                         COMMAND ${tool} keygen --out ${EACTORS_SIGNING_KEY}
                         COMMENT "Creating the development signing key ${EACTORS_SIGNING_KEY}")
      add_custom_target(eactors_dev_key DEPENDS ${EACTORS_SIGNING_KEY})
      # Built after the tool, but an existing key is never made again.
      if(tool_dep)
        add_dependencies(eactors_dev_key ${tool_dep})
      endif()
    endif()
    add_dependencies(${name} eactors_dev_key)
  endif()
  set(sign_args --key ${key})
  if(DEFINED IMG_PRODID)
    list(APPEND sign_args --prodid ${IMG_PRODID})
  endif()
  if(DEFINED IMG_SVN)
    list(APPEND sign_args --svn ${IMG_SVN})
  endif()
  if(IMG_DEBUG)
    list(APPEND sign_args --debug)
  endif()
  if(tool_dep)
    add_dependencies(${name} ${tool_dep})
  endif()
  add_custom_command(TARGET ${name} POST_BUILD
                     COMMAND ${tool} sign ${sign_args} $<TARGET_FILE:${name}> > /dev/null
                     COMMENT "Signing ${name}.so" VERBATIM)
endfunction()
