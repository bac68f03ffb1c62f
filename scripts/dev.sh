#!/usr/bin/env bash
# CityAI developer entry point: installs what the project needs, then runs it.
#
#   bash scripts/dev.sh start [ARGS...]   serve the demo on http://127.0.0.1:8000
#   bash scripts/dev.sh test  [ARGS...]   run the test suite (ARGS go to pytest)
#
# Settings (environment): PYTHON (interpreter used to create .venv),
# CITYAI_HOME (data directory for `start`, default ./var).
# Re-runs are fast: system packages are checked with dpkg first, and pip is
# skipped while pyproject.toml and requirements.lock are unchanged.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Debian/Ubuntu packages: browser tests, HTTP benchmarks, OCR and PDF tools.
SYSTEM_PACKAGES=(chromium wrk tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd libtesseract-dev
                 libleptonica-dev pkg-config poppler-utils fonts-dejavu-core fonts-liberation2)
STAMP=.venv/.cityai-installed

log() { printf '[dev.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# (a) System packages, only on Debian/Ubuntu and only when something is missing.
install_system_packages() {
  command -v apt-get >/dev/null 2>&1 || return 0
  local wanted=("${SYSTEM_PACKAGES[@]}") missing=() pkg
  # python3-venv is only needed when the system python3 cannot create a venv.
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' >/dev/null 2>&1 \
    || wanted+=(python3-venv)
  for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0

  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      log "Missing system packages: ${missing[*]}"
      log "Install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
      log "Continuing without them; the tests that need them will be skipped."
      return 0
    fi
  fi
  log "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { "${sudo[@]}" apt-get update -q \
         && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; }; then
    log "WARNING: apt-get failed; continuing, the tests that need ${missing[*]} may be skipped."
  fi
}

# (b) A Python >= 3.11 interpreter: $PYTHON, else python3.11, else python3.
find_python() {
  PY="${PYTHON:-}"
  if [ -z "$PY" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
  fi
  command -v "$PY" >/dev/null 2>&1 || die "Python interpreter '$PY' not found; install Python >= 3.11 or set PYTHON."
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "CityAI needs Python >= 3.11, but $PY is $("$PY" -V 2>&1); set PYTHON=/path/to/python3.11."
}

# (c) ./.venv with the project installed; (d) activate it.
setup_venv() {
  if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    log "Creating .venv with $PY ($("$PY" -V 2>&1))"
    "$PY" -m venv --clear .venv
  fi
  # The stamp holds the sha256 of pyproject.toml (+ requirements.lock when present).
  local inputs=(pyproject.toml) pip_args=(-q --disable-pip-version-check) sum
  if [ -f requirements.lock ]; then
    inputs+=(requirements.lock); pip_args+=(-c requirements.lock)
  fi
  sum="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$sum" ]; then
    log "Installing Python packages into .venv: pip install ${pip_args[*]} -e '.[all,test]'"
    rm -f "$STAMP"
    .venv/bin/python -m pip install "${pip_args[@]}" -e '.[all,test]'
    echo "$sum" > "$STAMP"
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
}

install_everything() {
  find_python
  install_system_packages
  setup_venv
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  start)
    install_everything
    export CITYAI_HOME="${CITYAI_HOME:-$ROOT/var}"
    mkdir -p "$CITYAI_HOME"
    # A local MQTT broker (Mosquitto) turns on the sensing module's ingest consumer.
    if [ -z "${CITYAI_SENSING_MQTT_URL+x}" ] \
       && python -c 'import socket; socket.create_connection(("127.0.0.1", 1883), 1).close()' 2>/dev/null; then
      export CITYAI_SENSING_MQTT_URL=mqtt://127.0.0.1:1883
      log "MQTT broker on 127.0.0.1:1883: ingesting cityai/v1/# (live demo data: cityai sensing simulate)"
    fi
    log "Starting the demo on http://127.0.0.1:8000 unless ARGS override it (CITYAI_HOME=$CITYAI_HOME)"
    exec cityai serve --demo --host 127.0.0.1 --port 8000 "$@"
    ;;
  test)
    install_everything
    rc=0
    python -m pytest -n 2 -p no:cacheprovider "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
      log "FAILED: pytest collected no tests (exit code 5)."
      exit 1
    fi
    exit "$rc"
    ;;
  *)
    echo "usage: bash scripts/dev.sh {start|test} [ARGS...]" >&2
    exit 2
    ;;
esac
