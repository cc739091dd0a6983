# Sourced by the other scripts: where the shared caches live. Nothing here writes.
: "${OSVBENCH_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/osvbench}"
_osv_scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${OSVBENCH_TORCH_VERSION:=$(sed -n 's/^torch==//p' "$_osv_scripts/requirements.txt")}"
: "${OSVBENCH_VENV:=$OSVBENCH_CACHE/venv-torch-$OSVBENCH_TORCH_VERSION}"
: "${OSVBENCH_CCACHE_DIR:=$OSVBENCH_CACHE/ccache}"
export OSVBENCH_CACHE OSVBENCH_TORCH_VERSION OSVBENCH_VENV OSVBENCH_CCACHE_DIR
export CCACHE_DIR="${CCACHE_DIR:-$OSVBENCH_CCACHE_DIR}"
