#!/usr/bin/env bash
# Install everything into .venv and build the book (executing every chapter).
source "$(dirname "$0")/setup_env.sh"
echo "== building the book"
jupyter-book build . -W -n --keep-going
echo
echo "The book is at: file://$PWD/_build/html/index.html"
