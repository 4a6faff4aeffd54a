#!/usr/bin/env bash
# Make sure Debian's TeX Live is there for the whole-book PDF (scripts/build_pdf.sh).
# Installs it with apt-get when this runs as root (as in CI) or with password-less sudo;
# otherwise says what to install and exits 1.
set -uo pipefail
packages=(latexmk xindy texlive-xetex texlive-latex-extra texlive-latex-recommended
          texlive-fonts-recommended texlive-plain-generic tex-gyre fonts-freefont-otf
          lmodern poppler-utils librsvg2-bin)
have_all() {
    command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v xindy >/dev/null &&
    command -v pdfinfo >/dev/null && command -v pdftotext >/dev/null &&
    command -v rsvg-convert >/dev/null &&
    kpsewhich fncychap.sty >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q FreeSerif
}
if have_all; then
    echo "== TeX: $(xelatex --version | head -n 1)"
    exit 0
fi
echo "== installing TeX Live for the PDF: apt-get install ${packages[*]}"
start=$(date +%s)
bash "$(dirname "$0")/apt_install.sh" "${packages[@]}"
case $? in
    0) echo "== TeX Live installed in $(( $(date +%s) - start )) s: $(xelatex --version | head -n 1)"
       exit 0 ;;
    1) echo "!! apt-get could not install TeX Live" >&2 ;;
esac
cat >&2 <<MSG
!! The whole-book PDF needs TeX Live (xelatex, latexmk, xindy), poppler-utils and librsvg2-bin.
!! On Debian or Ubuntu, as root:
!!   apt-get update && apt-get install -y --no-install-recommends ${packages[*]}
MSG
exit 1
