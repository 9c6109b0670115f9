# Sourced by scripts/test: a headless browser for tests/web (the dashboard in a real browser).
#
# Debian's `chromium` and its `chromium-driver`, driven by Selenium (in the test extras). When they are
# missing and apt-get is usable (root), they are installed (`apt-get update` first). The tests find them
# through AZVM_TEST_CHROMIUM and AZVM_TEST_CHROMEDRIVER; when there is no browser, AZVM_TEST_BROWSER_MISSING
# says why and they skip. Nothing here fails the test run.
# AZVM_TEST_CHROMIUM=/path/to/chromium (with AZVM_TEST_CHROMEDRIVER) uses a browser of your own;
# AZVM_TEST_CHROMIUM=skip installs nothing (the browser tests skip).

azvm_find_browser() {
  local c d
  for c in "${AZVM_TEST_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && { AZVM_TEST_CHROMIUM=$(command -v "$c"); break; }
  done
  for d in "${AZVM_TEST_CHROMEDRIVER:-}" chromedriver /usr/lib/chromium/chromedriver; do
    [ -n "$d" ] && command -v "$d" >/dev/null 2>&1 && { AZVM_TEST_CHROMEDRIVER=$(command -v "$d"); break; }
  done
  [ -n "${AZVM_TEST_CHROMIUM:-}" ] && [ -x "${AZVM_TEST_CHROMIUM:-}" ] &&
    [ -n "${AZVM_TEST_CHROMEDRIVER:-}" ] && [ -x "${AZVM_TEST_CHROMEDRIVER:-}" ]
}

azvm_install_browser() {
  local log=${XDG_CACHE_HOME:-$HOME/.cache}/azvm-test/chromium-apt.log
  mkdir -p "$(dirname "$log")" 2>/dev/null || log=/dev/null
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  echo "scripts/test: installing chromium and chromium-driver with apt-get (once; a minute or two)" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      chromium chromium-driver; } >"$log" 2>&1
}

if [ "${AZVM_TEST_CHROMIUM:-}" = skip ]; then
  export AZVM_TEST_BROWSER_MISSING="AZVM_TEST_CHROMIUM=skip"
  unset AZVM_TEST_CHROMIUM
elif azvm_find_browser || { azvm_install_browser && azvm_find_browser; }; then
  export AZVM_TEST_CHROMIUM AZVM_TEST_CHROMEDRIVER
else
  export AZVM_TEST_BROWSER_MISSING="no chromium with chromium-driver found, and apt-get could not install them (not root, or no package index)"
  echo "scripts/test: $AZVM_TEST_BROWSER_MISSING; the browser tests will skip" >&2
  unset AZVM_TEST_CHROMIUM AZVM_TEST_CHROMEDRIVER
fi
true
