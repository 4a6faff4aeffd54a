#!/usr/bin/env bash
# Install everything into .venv and run every test, in this order:
#   1. unit tests of s4_minimal (tests/),
#   2. strict nbval on every notebook in book/ (outputs must reproduce),
#   3. a clean book build with warnings as errors.
source "$(dirname "$0")/setup_env.sh"
python -m s4_minimal
echo "== 1/3 unit tests"
python -m pytest tests/
echo "== 2/3 nbval (strict) on every notebook in book/"
python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg book/
echo "== 3/3 book build, warnings are errors"
rm -rf _build/html
jupyter-book build . -W -n --keep-going --all
echo "All tests passed; the book is at file://$PWD/_build/html/index.html"
