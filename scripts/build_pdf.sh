#!/usr/bin/env bash
# The whole book as one PDF: _build/latex/s4_from_first_principles.pdf.
# Installs into .venv (scripts/setup_env.sh) and TeX Live with apt-get when it can
# (scripts/install_latex.sh), builds with Jupyter Book's LaTeX builder (xelatex, latexmk),
# then checks the result (scripts/check_pdf.py: page count, every chapter, no missing figure,
# no undefined reference). A later HTML build (scripts/build_book.sh) links to this PDF from
# every page's download menu and copies it into the site.
source "$(dirname "$0")/setup_env.sh"
bash scripts/install_latex.sh
echo "== building the PDF (jupyter-book build . --builder pdflatex)"
start=$(date +%s)
rm -rf _build/latex
jupyter-book build . --builder pdflatex
echo "== PDF built in $(( $(date +%s) - start )) s"
python scripts/check_pdf.py _build/latex/s4_from_first_principles.pdf
echo "The PDF is at: $PWD/_build/latex/s4_from_first_principles.pdf"
