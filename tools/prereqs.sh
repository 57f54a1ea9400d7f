#!/usr/bin/env bash
# Installs what `make run` and `make test` need on a bare Debian 12 machine: the PostgreSQL
# server package (unless a database is configured), poppler-utils, the notice's fonts, jq, the
# seal images' Chinese font (Noto CJK), for the tests libnss3-tools, qpdf, zbar-tools, softhsm2 and Chromium
# (the workbench is tested in a real browser), gcc and libturbojpeg0-dev (JPEG pages are decoded
# with libjpeg-turbo), and the Go modules. `bench` (what `make bench` needs) is `test` plus a
# JDK, Apache PDFBox 2 and Bouncy Castle for the PDFBox peer of the signing-engine benchmarks
# (tools/pdfbox-bench); `test` needs no Java. As root it installs with apt-get;
# otherwise it says what to install. With CI=true nothing is optional.
set -euo pipefail
mode=${1:-run} # run | test | bench
case $mode in
  run | test | bench) ;;
  *) echo "prereqs: unknown mode $mode (run, test or bench)" >&2; exit 2 ;;
esac

need=()
have_pg() {
  [ -n "${SEALVAULT_PG_BINDIR:-}" ] && [ -x "${SEALVAULT_PG_BINDIR}/initdb" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
case $mode in
  run) [ -z "${DATABASE_URL:-}${SEALVAULT_DATABASE_URL:-}${SEALVAULT_DATABASE_URL_FILE:-}" ] && ! have_pg && need+=(postgresql) ;;
  test | bench)
    [ -z "${SEALVAULT_TEST_DATABASE_URL:-}" ] && ! have_pg && need+=(postgresql) ;;
esac
# Page workers decode JPEG scans with libjpeg-turbo through cgo: the build needs a C compiler
# and the TurboJPEG header and library.
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ -f /usr/include/turbojpeg.h ] || need+=(libturbojpeg0-dev)
# The service renders thumbnails of uploaded PDFs with poppler's pdftoppm; the tests check
# PDFs with pdfinfo as well.
command -v pdfinfo >/dev/null && command -v pdftoppm >/dev/null || need+=(poppler-utils)
# The one-time notice embeds Droid Sans Fallback (Chinese) and DejaVu Sans (Latin).
[ -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-droid-fallback fonts-dejavu-core)
# The seal tests check signed PDFs with poppler's pdfsig, trusting a test root through an NSS
# database made with certutil, and with qpdf --check.
if [ "$mode" = test ] || [ "$mode" = bench ]; then
  command -v certutil >/dev/null || need+=(libnss3-tools)
  command -v qpdf >/dev/null || need+=(qpdf)
  # The workbench tests drive one headless Chromium through its pages.
  command -v chromium >/dev/null || need+=(chromium)
  # The scan-to-verify tests read the stamp's QR code back from the rendered page with zbarimg.
  command -v zbarimg >/dev/null || need+=(zbar-tools)
  # PKCS#11 key custody is tested against a SoftHSM2 token (softhsm2-util makes it).
  command -v softhsm2-util >/dev/null || need+=(softhsm2)
fi
# The PDFBox peer of BenchmarkSign (tools/pdfbox-bench) is compiled with javac against the
# Debian jars in /usr/share/java and run with java: PDFBox 2 (with FontBox and Commons
# Logging, its dependencies) and Bouncy Castle's provider, PKIX and util jars.
if [ "$mode" = bench ]; then
  command -v java >/dev/null && command -v javac >/dev/null || need+=(default-jdk-headless)
  [ -f /usr/share/java/pdfbox2.jar ] || need+=(libpdfbox2-java)
  [ -f /usr/share/java/bcprov.jar ] || need+=(libbcprov-java)
  [ -f /usr/share/java/bcpkix.jar ] || need+=(libbcpkix-java)
  [ -f /usr/share/java/bcutil.jar ] || need+=(libbcutil-java)
fi
# Seal images are drawn in Noto Serif CJK; the browser tests check that the workbench's
# Chinese is drawn in a CJK font, not as boxes.
compgen -G '/usr/share/fonts/opentype/noto/NotoSerifCJK-*.ttc' >/dev/null && compgen -G '/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc' >/dev/null || need+=(fonts-noto-cjk)
# The README's walkthroughs (and the test that runs them) use curl and jq.
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if ! command -v runuser >/dev/null; then need+=(util-linux); fi

if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
