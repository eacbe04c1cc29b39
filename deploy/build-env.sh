#!/bin/sh
# deploy/build-env.sh SERVER TARGET: install one server (and patchbay-common) into a new virtual environment
# at TARGET, at exactly the versions uv.lock pins, with nothing from the other servers or the dev tools.
#
# The Dockerfile's build stage runs this; tests/test_deploy.py runs the same script outside Docker and
# then starts deploy/entrypoint.sh from the environment it made.
set -eu

server="${1:?usage: build-env.sh SERVER TARGET}"
target="${2:?usage: build-env.sh SERVER TARGET}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ ! -f "$root/servers/$server/pyproject.toml" ]; then
  echo "build-env.sh: error: no server '$server' (servers/$server/pyproject.toml is missing)" >&2
  exit 2
fi

cd "$root"
UV_PROJECT_ENVIRONMENT="$target" uv sync --frozen --no-default-groups --no-editable --compile-bytecode \
  --package "patchbay-$server" --quiet
