#!/usr/bin/env bash
# The layout rule (README "Layout"), checked: a method's folder under methods/ includes only
# methods/api, methods/svd, methods/distill and itself; methods/svd and methods/distill include no
# method; nothing under common/, models/, datasets/ or metrics/ includes methods/ or harness/; the
# harness includes a method's folder only where it registers methods, builds OSV's embedded backbone
# or measures the discriminators side by side (fig3), and sub-commands never include each other.
# Prints every violation and exits 1 if there is one.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bad=0
# What each room under methods/ may include besides itself.
allowed_for() {
  case "$1" in
    api) echo "api" ;;
    svd) echo "api svd" ;;
    distill) echo "api svd distill" ;;
    *) echo "api svd distill $1" ;;  # a method: the shared rooms and its own folder
  esac
}
while IFS= read -r line; do
  file="${line%%:*}"
  inc="$(sed -n 's/.*#include "\([^"]*\)".*/\1/p' <<<"$line")"
  case "$file" in
    methods/*)
      room="$(cut -d/ -f2 <<<"$file")"
      if [[ "$inc" == methods/* ]]; then
        target="$(cut -d/ -f2 <<<"$inc")"
        allowed=" $(allowed_for "$room") "
        if [[ "$allowed" != *" $target "* ]]; then
          echo "layout: $file includes $inc (methods/$room may include only methods/{${allowed// /,}})" | sed 's/{,/{/; s/,}/}/'
          bad=1
        fi
      elif [[ "$inc" == harness/* ]]; then
        echo "layout: $file includes $inc (methods never include the harness)"
        bad=1
      fi
      ;;
    harness/*)
      if [[ "$inc" =~ ^methods/(teacher|osv|animatelcm|sfv)/ ]]; then
        case "$file" in
          harness/builtin_methods.cpp|harness/disc_cost.cpp|harness/assets.cpp) ;;
          *) echo "layout: $file includes $inc (the harness reaches methods through the registry)"; bad=1 ;;
        esac
      fi
      if [[ "$file" == *_command.cpp && "$inc" == harness/*_command.h && "$inc" != "${file%.cpp}.h" ]]; then
        echo "layout: $file includes $inc (sub-commands never include each other)"
        bad=1
      fi
      ;;
    common/*|dist/*|models/*|datasets/*|metrics/*)
      if [[ "$inc" == methods/* || "$inc" == harness/* ]]; then
        echo "layout: $file includes $inc (libraries below methods/ never include methods/ or harness/)"
        bad=1
      fi
      ;;
  esac
done < <(grep -rn --include=*.h --include=*.cpp '#include "' common dist models datasets metrics methods harness)
if ((bad)); then exit 1; fi
echo "layout: ok (methods include only methods/{api,svd,distill} and their own folder)"
