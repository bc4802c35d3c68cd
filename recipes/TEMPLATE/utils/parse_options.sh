#!/usr/bin/env bash
# Parses "--key value" and "--key=value" options into shell variables that already exist
# (dashes become underscores), Kaldi style. Source it after defining the defaults:
#   stage=0; __options="stage"; . utils/parse_options.sh "$@"
# "--help" prints the variables a script accepts with their current values. __options may span
# lines.
__options=$(echo ${__options:-})
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      echo "usage: $0 [--option value ...]; options (current values):"
      for __v in ${__options:-}; do printf '  --%s %q\n' "${__v//_/-}" "${!__v}"; done
      exit 0 ;;
    --*=*) __key="${1%%=*}"; __val="${1#*=}"; shift ;;
    --*)
      __key="$1"
      if [ $# -lt 2 ]; then echo "$0: error: option $1 needs a value" >&2; exit 2; fi
      __val="$2"; shift 2 ;;
    *) echo "$0: error: unexpected argument '$1'; options are --key value" >&2; exit 2 ;;
  esac
  __name="${__key#--}"; __name="${__name//-/_}"
  if ! declare -p "$__name" >/dev/null 2>&1 || [[ " ${__options:-} " != *" $__name "* ]]; then
    echo "$0: error: unknown option $__key; see $0 --help" >&2; exit 2
  fi
  printf -v "$__name" '%s' "$__val"
done
unset __key __val __name __v
