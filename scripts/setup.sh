#!/usr/bin/env bash
# scripts/setup.sh: install what `make test` needs, idempotently (run by `make setup`, hence by CI).
#
#   uv                      python3 -m pip install uv            (when `uv` is missing)
#   the workspace           uv sync --all-packages --frozen      (when uv.lock exists)
#   redis-server            apt-get install redis-server         (real Redis for the redis server's tests)
#   chromium                apt-get install chromium             (the browser server's tests)
#   postgresql-15           apt-get install postgresql-15        (only when `dpkg -s postgresql-15` fails)
#   hypopg                  apt-get install postgresql-15-hypopg (the postgres server's index advice)
#   node >= 20, npm         apt-get install nodejs npm           (client-side checks use the official npm tools)
#   nginx                   apt-get install nginx                (tests/test_replicas.py: TLS, rate limit, replicas)
#   buildah podman runc     apt-get install buildah podman runc debootstrap  (the image: make stress builds
#     debootstrap                                                  and runs deploy/Dockerfile, tests/test_image.py;
#                                                                  only with PATCHBAY_SETUP_LONG=1, as make stress/bench set)
#   prometheus              apt-get install prometheus           (the telemetry tests scrape a server with it)
#   tinyproxy, microsocks   apt-get install tinyproxy microsocks (a real HTTP proxy and SOCKS5 server for the proxy tests)
#   wrk                     apt-get install wrk                  (the HTTP load generator of bench/http_vs_official.py;
#                                                                  only with PATCHBAY_SETUP_LONG=1)
#   ripgrep                 apt-get install ripgrep              (the anchor of bench/filesystem_search.py;
#                                                                  only with PATCHBAY_SETUP_LONG=1)
#   openssl                 apt-get install openssl              (a test TLS origin's certificate, proxy tests)
#
# Debian packages are installed with --no-install-recommends (one apt-get update, one apt-get install, and
# only when something is missing). When everything is present it only checks (well under 2 s) and prints one line per component.
# Without root or apt-get it installs nothing system-wide: it prints the exact commands and exits 1.
# PATCHBAY_SETUP_DRY_RUN=1 checks only (installs and syncs nothing), as a non-root user would.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

PYTHON="${PATCHBAY_PYTHON:-python3}"
DRY_RUN="${PATCHBAY_SETUP_DRY_RUN:-0}"
NODE_MIN_MAJOR=20

can_install_system=1
if [ "$DRY_RUN" = 1 ] || [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  can_install_system=0
fi

say() { printf '%-14s %s\n' "$1:" "$2"; }

apt_missing=()   # Debian packages still to install
todo=()          # commands a person must run when we cannot

# ---------------------------------------------------------------------------------------------------- uv
UV_BIN=""       # the uv executable this script uses
ORIG_PATH="$PATH"

find_uv() {
  local bin
  hash -r
  if bin="$(command -v uv 2>/dev/null)"; then UV_BIN="$bin"; return 0; fi
  # pip puts the binary in the interpreter's scripts dir (or the user base with --user), which need not be
  # on PATH (pyenv before a rehash, ~/.local/bin): the uv package itself knows where its binary is.
  if bin="$("$PYTHON" -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" && [ -x "$bin" ]; then
    PATH="$(dirname "$bin"):$PATH"
    export PATH
    UV_BIN="$bin"
    return 0
  fi
  return 1
}

if ! find_uv; then
  if [ "$DRY_RUN" = 1 ]; then
    todo+=("$PYTHON -m pip install uv")
  else
    say uv "missing, installing: $PYTHON -m pip install uv"
    pip_log="$(mktemp)"
    if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check uv >"$pip_log" 2>&1; then
      # Not our interpreter to write to (a Debian system python refuses with PEP 668, or a root-owned
      # pyenv for a normal user): a user install is the usual fallback.
      "$PYTHON" -m pip install --quiet --disable-pip-version-check --user uv >>"$pip_log" 2>&1 || true
    fi
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
    if ! find_uv; then
      say uv "pip could not install it: $(grep -m1 -iE '^error' "$pip_log" || tail -n1 "$pip_log")"
      todo+=("$PYTHON -m pip install --user uv   (a Debian system python refuses it: use \`pipx install uv\`)")
    fi
    rm -f "$pip_log"
  fi
fi

if [ -n "$UV_BIN" ]; then
  note=""
  # `make` runs a plain `uv` after this script, with the caller's PATH: make sure that finds it too.
  if ! PATH="$ORIG_PATH" command -v uv >/dev/null 2>&1; then
    if [ "$DRY_RUN" != 1 ] && [ "$(id -u)" -eq 0 ] && [ -d /usr/local/bin ] \
      && printf '%s' ":$ORIG_PATH:" | grep -q ":/usr/local/bin:"; then
      ln -sf "$UV_BIN" /usr/local/bin/uv
      note=", linked from /usr/local/bin/uv"
    else
      todo+=("export PATH=\"$(dirname "$UV_BIN"):\$PATH\"   (so that \`make\` finds uv)")
    fi
  fi
  say uv "ok ($UV_BIN, $("$UV_BIN" --version 2>/dev/null | head -n1)$note)"
else
  say uv "MISSING"
fi

# --------------------------------------------------------------------------------------------- workspace
if [ -z "$UV_BIN" ]; then
  say workspace "not synced (uv is missing)"
elif [ ! -f uv.lock ]; then
  say workspace "not synced (no uv.lock yet: run \`make lock\`)"
elif [ "$DRY_RUN" = 1 ]; then
  say workspace "not synced (dry run; would run: uv sync --all-packages --frozen)"
else
  if "$UV_BIN" sync --all-packages --frozen --quiet; then
    say workspace "ok (uv sync --all-packages --frozen, .venv)"
  else
    status=$?
    say workspace "FAILED (uv sync --all-packages --frozen exited $status; its errors are above)"
    exit 1
  fi
fi

# ------------------------------------------------------------------------------------- system packages
deb_installed() { dpkg -s "$1" >/dev/null 2>&1; }

check_redis() { command -v redis-server 2>/dev/null; }
check_chromium() {
  local c
  for c in "${PATCHBAY_CHROMIUM:-}" /usr/bin/chromium; do
    if [ -n "$c" ] && [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}
check_postgres() {
  # Never reinstall postgresql-15 when dpkg knows it (that upgrades the cluster packages); any other
  # installed server version with initdb is good enough for the tests too.
  local d
  if deb_installed postgresql-15; then echo "postgresql-15, /usr/lib/postgresql/15/bin"; return 0; fi
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)"
  if [ -x "$d" ]; then dirname "$d"; return 0; fi
  if d="$(command -v initdb 2>/dev/null)"; then dirname "$d"; return 0; fi
  return 1
}
check_hypopg() {
  # hypothetical indexes for the postgres server's index advice (its tests use the real extension)
  local f
  for f in /usr/share/postgresql/*/extension/hypopg.control; do
    if [ -f "$f" ]; then echo "$f"; return 0; fi
  done
  return 1
}
node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
check_node() {
  local major
  command -v node >/dev/null 2>&1 || return 1
  major="$(node_major)"
  [ -n "$major" ] && [ "$major" -ge "$NODE_MIN_MAJOR" ] && echo "$(command -v node), $(node --version)"
}
check_npm() { command -v npm 2>/dev/null; }
check_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
check_tool() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }
check_buildah() { check_tool buildah; }
check_podman() { check_tool podman; }
check_runc() { check_tool runc; }
check_debootstrap() { check_tool debootstrap; }
check_wrk() { command -v wrk 2>/dev/null; }
check_rg() { command -v rg 2>/dev/null; }
check_prometheus() { command -v prometheus 2>/dev/null; }
check_tinyproxy() { command -v tinyproxy 2>/dev/null || { [ -x /usr/bin/tinyproxy ] && echo /usr/bin/tinyproxy; }; }
check_microsocks() { command -v microsocks 2>/dev/null; }
check_openssl() { command -v openssl 2>/dev/null; }

# name | Debian package | check (prints where it is found)
components=(
  "redis-server|redis-server|check_redis"
  "chromium|chromium|check_chromium"
  "postgresql-15|postgresql-15|check_postgres"
  "hypopg|postgresql-15-hypopg|check_hypopg"
  "node|nodejs|check_node"
  "npm|npm|check_npm"
  "prometheus|prometheus|check_prometheus"
  "tinyproxy|tinyproxy|check_tinyproxy"
  "microsocks|microsocks|check_microsocks"
  "openssl|openssl|check_openssl"
  "nginx|nginx|check_nginx"
)
# Only `make bench` and `make stress` use these (PATCHBAY_SETUP_LONG=1): `make test` does not install them.
if [ "${PATCHBAY_SETUP_LONG:-0}" = 1 ]; then
  components+=(
    "wrk|wrk|check_wrk"
    "ripgrep|ripgrep|check_rg"
    "buildah|buildah|check_buildah"
    "podman|podman|check_podman"
    "runc|runc|check_runc"
    "debootstrap|debootstrap|check_debootstrap"
  )
fi

declare -A found=() problem=()
node_too_old() {
  found[node]=""
  problem[node]="TOO OLD ($(node --version); need >= $NODE_MIN_MAJOR)"
  # Debian 12's own nodejs is 18, so apt-get cannot fix this one.
  todo+=("install Node.js >= $NODE_MIN_MAJOR (e.g. from NodeSource): $(command -v node) is $(node --version)")
}
for entry in "${components[@]}"; do
  IFS='|' read -r name pkgs check <<<"$entry"
  if where="$($check)"; then
    found[$name]="$where"
  elif [ "$name" = node ] && command -v node >/dev/null 2>&1; then
    node_too_old
  else
    apt_missing+=("$pkgs")
  fi
done

if [ "${#apt_missing[@]}" -gt 0 ] && [ "$can_install_system" = 1 ]; then
  say apt-get "installing ${apt_missing[*]} (--no-install-recommends)"
  apt_log="$(mktemp)"
  # --no-install-recommends for all: chromium's recommends alone pull in ~115 packages (systemd included),
  # and nothing the tests use is only a recommendation of the others.
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"; } \
    >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    say apt-get "FAILED (output above)"
    rm -f "$apt_log"
    exit 1
  fi
  rm -f "$apt_log"
  hash -r
  apt_missing=()
  for entry in "${components[@]}"; do
    IFS='|' read -r name pkgs check <<<"$entry"
    if [ -n "${found[$name]+x}" ]; then continue; fi
    if where="$($check)"; then
      found[$name]="$where"
    elif [ "$name" = node ] && command -v node >/dev/null 2>&1; then
      node_too_old
    else
      todo+=("apt-get install $pkgs   (installed, but its check still fails)")
    fi
  done
fi

for entry in "${components[@]}"; do
  IFS='|' read -r name pkgs check <<<"$entry"
  if [ -n "${found[$name]:-}" ]; then
    say "$name" "ok (${found[$name]})"
  elif [ -n "${problem[$name]:-}" ]; then
    say "$name" "${problem[$name]}"
  else
    say "$name" "MISSING (Debian package: $pkgs)"
  fi
done

if [ "${#apt_missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo "
    todo+=("${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${apt_missing[*]}")
  else
    todo+=("install with your package manager: ${apt_missing[*]} (Debian names; Node.js must be >= $NODE_MIN_MAJOR)")
  fi
fi

if [ "${#todo[@]}" -gt 0 ]; then
  echo
  echo "setup: not everything the tests need is installed. Run:"
  printf '  %s\n' "${todo[@]}"
  echo "then run \`make setup\` again."
  exit 1
fi

# ---------------------------------------------------------------- npm tools for the hardening checks (issue 14)
# Node 22 (the conformance suite needs >= 22; Debian's is older) as the npm package `node`, into .cache/node22,
# and the official tools the cross-cutting tests drive every server with, into .cache/npm (gitignored):
#   @modelcontextprotocol/conformance   tests/test_conformance.py (see tests/CONFORMANCE.md)
#   @modelcontextprotocol/inspector     tests/test_independent_clients.py (its CLI mode)
#   @modelcontextprotocol/sdk           tests/ts_client.mjs, bench/transport_vs_official.py
#   oidc-provider                       tests/test_oauth.py (a certified OpenID provider as the authorization server)
#   @octokit/graphql-schema             servers/github/tests (GitHub's published GraphQL schema, for the stand-in)
# Only what is missing is installed; when everything is present this is a few `test -e`.
NODE22_VERSION=22
NPM_TOOLS=(
  "@modelcontextprotocol/conformance@0.1.16|@modelcontextprotocol/conformance/dist/index.js"
  "@modelcontextprotocol/inspector@0.15.0|@modelcontextprotocol/inspector-cli/build/index.js"
  "@modelcontextprotocol/sdk@1.32.2|@modelcontextprotocol/sdk/dist/esm/client/index.js"
  "oidc-provider@9.13.3|oidc-provider/lib/index.js"
  "@octokit/graphql-schema@15.26.1|@octokit/graphql-schema/schema.graphql"
)
node22=.cache/node22/node_modules/.bin/node
npm_missing=()
for entry in "${NPM_TOOLS[@]}"; do
  IFS='|' read -r spec file <<<"$entry"
  [ -e ".cache/npm/node_modules/$file" ] || npm_missing+=("$spec")
done
if [ "$DRY_RUN" = 1 ]; then
  [ -x "$node22" ] && say node22 "ok ($("$node22" --version))" || say node22 "MISSING (npm install --prefix .cache/node22 node@$NODE22_VERSION)"
  [ "${#npm_missing[@]}" -eq 0 ] && say npm-tools "ok (.cache/npm)" || say npm-tools "MISSING: ${npm_missing[*]}"
else
  if [ ! -x "$node22" ]; then
    say node22 "installing node@$NODE22_VERSION into .cache/node22"
    npm install --silent --no-audit --no-fund --prefix .cache/node22 "node@$NODE22_VERSION" >/dev/null
  fi
  say node22 "ok ($("$node22" --version), $node22)"
  if [ "${#npm_missing[@]}" -gt 0 ]; then
    say npm-tools "installing ${npm_missing[*]} into .cache/npm"
    npm install --silent --no-audit --no-fund --prefix .cache/npm "${npm_missing[@]}" >/dev/null
  fi
  say npm-tools "ok (conformance, inspector, sdk, oidc-provider in .cache/npm)"
fi
