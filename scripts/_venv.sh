# Shared by scripts/run and scripts/test: make .venv with Python 3.11+ and install the project.
# Usage: . scripts/_venv.sh EXTRAS   (EXTRAS like "" or "[test]")
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed; set PYTHON=/path/to/python3.11 (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
echo "installing the shop$1 into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1"
