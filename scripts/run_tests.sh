#!/usr/bin/env bash
# Install everything into .venv and run every test, in this order:
#   1. unit tests of s4_minimal and the notebook conventions (tests/, not tests/browser),
#   2. strict nbval on every notebook in book/ (outputs must reproduce),
#      then actionlint on .github/workflows and the whole-book PDF (scripts/build_pdf.sh, checked),
#   3. a clean book build with warnings as errors (it links to and copies in the PDF),
#   4. the browser suite (tests/browser): headless Chromium reads every page of that build,
#      offline; screenshots of every page land in _build/screenshots/.
source "$(dirname "$0")/setup_env.sh"
bash scripts/install_browser.sh
python -m s4_minimal
echo "== 1/4 unit tests and notebook conventions"
# Two worker processes (pytest-xdist): the tests' time is mostly XLA compilation, one
# core each. --durations lists the slowest tests, so the log says where the time went.
python -m pytest tests/ --ignore=tests/browser -n 2 --durations=25
echo "== 2/4 nbval (strict) on every notebook in book/"
# Two workers, each notebook whole on one of them (--dist loadfile: a notebook's cells share
# one kernel).
python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
    -n 2 --dist loadfile --durations=25 book/
echo "== 2b/4 actionlint on .github/workflows"
actionlint .github/workflows/*.yml
echo "workflows: no problems found"
echo "== 2c/4 the whole-book PDF (scripts/build_pdf.sh), checked"
bash scripts/build_pdf.sh
echo "== 3/4 book build, warnings are errors"
rm -rf _build/html
jupyter-book build . -W -n --keep-going --all
echo "== 4/4 browser suite on the book just built"
python -m pytest tests/browser
echo "All tests passed; the book is at file://$PWD/_build/html/index.html"
echo "Screenshots of every page (light and dark theme): $PWD/_build/screenshots/"
