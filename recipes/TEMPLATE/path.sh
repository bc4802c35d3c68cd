# Puts the repository's virtual environment (made by `make setup`) on PATH when there is one.
__root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -x "$__root/.venv/bin/vaesep" ]; then export PATH="$__root/.venv/bin:$PATH"; fi
if ! command -v vaesep >/dev/null; then
  echo "vaesep is not installed: run 'make setup' in $__root (or pip install -e .)" >&2; exit 2
fi
export PYTHONUNBUFFERED=1
unset __root
