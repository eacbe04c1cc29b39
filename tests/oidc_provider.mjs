// A real OAuth 2.1 / OpenID authorization server for the tests: `oidc-provider` (certified OpenID provider).
//
//   node oidc_provider.mjs CONFIG.json
//
// CONFIG: {"port": N, "keys": [private JWK, ...], "clients": [{"client_id", "client_secret", "alg",
//          "ttl", "format": "jwt"|"opaque", "hmac_key"?}], "scopes": ["mcp:read", "mcp:write"]}
// Tokens come from the client_credentials grant with RFC 8707 resource indicators: a token requested with
// `resource=URL` is bound to that audience, signed with the client's `alg` (the first key of that type),
// valid `ttl` seconds, as a JWT or an opaque token (then introspection answers for it).
// The module is imported from PATCHBAY_OIDC_PROVIDER (its package folder): ES modules ignore NODE_PATH.
// Prints "listening PORT" on stdout once it accepts connections.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { default: Provider } = await import(
  pathToFileURL(path.join(process.env.PATCHBAY_OIDC_PROVIDER, "lib", "index.js")).href
);
const issuer = `http://127.0.0.1:${config.port}`;
const scopes = config.scopes.join(" ");
const byId = Object.fromEntries(config.clients.map((c) => [c.client_id, c]));

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: scopes,
    id_token_signed_response_alg: c.alg.startsWith("HS") ? "ES256" : c.alg,
  })),
  jwks: { keys: config.keys },
  scopes: ["openid", ...config.scopes],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf ?? undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, client) => {
        const c = byId[client.clientId];
        const sign = c.alg.startsWith("HS")
          ? { alg: c.alg, key: Buffer.from(c.hmac_key) }
          : { alg: c.alg };
        return {
          scope: scopes,
          audience: resourceIndicator,
          accessTokenTTL: c.ttl,
          accessTokenFormat: c.format,
          ...(c.format === "jwt" ? { jwt: { sign } } : {}),
        };
      },
    },
  },
  ttl: {
    ClientCredentials: (ctx, token, client) => token.resourceServer?.accessTokenTTL ?? byId[client.clientId].ttl,
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ["HS256", "RS256", "PS256", "ES256", "EdDSA"],
  },
});
provider.proxy = false;
const server = provider.listen(config.port, "127.0.0.1", () => {
  process.stdout.write(`listening ${config.port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
