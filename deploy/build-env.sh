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
# PATCHBAY_EXTRAS: the server's optional extras, space-separated (e.g. "otel"); uv sync is exact, so the
# same extras as the dependency layer's, or that layer's packages would be removed again.
extras=""
for extra in ${PATCHBAY_EXTRAS:-}; do extras="$extras --extra $extra"; done
# shellcheck disable=SC2086  # one word per extra flag
UV_PROJECT_ENVIRONMENT="$target" uv sync --frozen --no-default-groups --no-editable --compile-bytecode \
  --package "patchbay-$server" $extras --quiet
