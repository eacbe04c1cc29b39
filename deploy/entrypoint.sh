#!/bin/sh
# deploy/entrypoint.sh: the container's entry command. Serves one patchbay server over streamable HTTP.
#
#   PATCHBAY_SERVER      which server (set by the image from its SERVER build argument), e.g. search
#   PATCHBAY_AUTH_TOKEN  bearer token clients must send (or PATCHBAY_AUTH_TOKEN_FILE); required unless
#                        PATCHBAY_OAUTH_ISSUER makes the server an OAuth resource server (deploy/README.md)
#   PORT                 port to listen on (default 8000); PATCHBAY_HOST overrides 0.0.0.0
#
# The generic variables below are passed on as the server's own PATCHBAY_<SERVER>_<FLAG> (unless that is
# set already), so one Deployment or compose file works for any server. The token travels in the
# environment, never on the command line (where `ps` would show it). Further arguments go to the server.
set -eu

server="${PATCHBAY_SERVER:-}"
case "$server" in
  "" | *[!a-z0-9-]*)
    echo "patchbay-entrypoint: error: set PATCHBAY_SERVER to a server name, e.g. search" >&2
    exit 2 ;;
esac
prefix="PATCHBAY_$(printf '%s' "$server" | tr 'a-z-' 'A-Z_')_"

for flag in AUTH_TOKEN AUTH_TOKEN_FILE ALLOWED_HOST ALLOWED_ORIGIN STATELESS JSON_RESPONSE LOG_LEVEL \
  LOG_FORMAT TOOL_TIMEOUT MAX_OUTPUT_CHARS OAUTH_ISSUER OAUTH_RESOURCE OAUTH_JWKS_URL \
  OAUTH_INTROSPECTION_URL OAUTH_CLIENT_FILE OAUTH_READ_SCOPE OAUTH_WRITE_SCOPE OAUTH_LEEWAY; do
  eval "generic=\${PATCHBAY_${flag}:-}"
  eval "specific=\${${prefix}${flag}:-}"
  if [ -n "$generic" ] && [ -z "$specific" ]; then
    export "${prefix}${flag}=${generic}"
  fi
done

eval "token=\${${prefix}AUTH_TOKEN:-}\${${prefix}AUTH_TOKEN_FILE:-}\${${prefix}OAUTH_ISSUER:-}"
if [ -z "$token" ]; then
  echo "patchbay-entrypoint: error: set PATCHBAY_AUTH_TOKEN (or PATCHBAY_AUTH_TOKEN_FILE, or" \
    "PATCHBAY_OAUTH_ISSUER): the server listens on all interfaces and refuses to run without authentication" >&2
  exit 2
fi

exec "patchbay-${server}" --transport streamable-http --host "${PATCHBAY_HOST:-0.0.0.0}" \
  --port "${PORT:-8000}" "$@"
