# Script mode (cmake -P): writes OUT with the source tree's commit hash, rewriting it only
# when the content changes so that a build without a new commit recompiles nothing.
execute_process(COMMAND git -C "${SRC}" rev-parse HEAD
                OUTPUT_VARIABLE hash OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR hash STREQUAL "")
  set(hash "unknown")
endif()
execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                OUTPUT_VARIABLE status RESULT_VARIABLE rc2 ERROR_QUIET)
if(rc2 EQUAL 0 AND NOT status STREQUAL "")
  set(dirty true)
else()
  set(dirty false)
endif()
set(content "// Generated at build time by cmake/GitVersion.cmake; do not edit.
namespace osv {
extern const char* const kGitHash = \"${hash}\";
extern const bool kGitDirty = ${dirty};
}  // namespace osv
")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
else()
  set(old "")
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()
