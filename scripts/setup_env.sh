# Sourced by the other scripts: create .venv (if missing) and install the pinned
# requirements and the package, editable. Needs Python 3.11 (3.10+ works).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), f"Python 3.10+ needed, found {sys.version}"'
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
echo "== installing requirements.txt and s4_minimal (editable)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
export PATH="$PWD/.venv/bin:$PATH"
