// The official TypeScript SDK client against one server: connect, list tools, call one, print JSON.
//
//   node ts_client.mjs stdio '["patchbay-sqlite", "--db", "x"]' '{"VAR": "value"}' list_tables '{}'
//   node ts_client.mjs http http://127.0.0.1:PORT/mcp '{}' list_tables '{}'
//
// The SDK is imported from PATCHBAY_TS_SDK (its package folder), since ES modules ignore NODE_PATH.
// Prints {"server": {...}, "tools": [names], "call": {"isError": bool, "text": "..."}} on stdout.
import { pathToFileURL } from "node:url";
import path from "node:path";

const [transportKind, target, envJson, toolName, argsJson] = process.argv.slice(2);
const sdk = process.env.PATCHBAY_TS_SDK;
const load = (file) => import(pathToFileURL(path.join(sdk, "dist", "esm", ...file.split("/"))).href);

const { Client } = await load("client/index.js");
const client = new Client({ name: "patchbay-ts-check", version: "1.0.0" });
let transport;
if (transportKind === "stdio") {
  const { StdioClientTransport } = await load("client/stdio.js");
  const [command, ...args] = JSON.parse(target);
  transport = new StdioClientTransport({
    command,
    args,
    env: { ...process.env, ...JSON.parse(envJson) },
    stderr: "ignore",
  });
} else {
  const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
  transport = new StreamableHTTPClientTransport(new URL(target));
}

const timer = setTimeout(() => {
  console.error("timed out after 60 s");
  process.exit(3);
}, 60_000);
await client.connect(transport);
const server = client.getServerVersion();
const { tools } = await client.listTools();
const out = { server, tools: tools.map((t) => t.name), call: null };
if (toolName) {
  const result = await client.callTool({ name: toolName, arguments: JSON.parse(argsJson || "{}") });
  const text = (result.content || [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
  out.call = { isError: Boolean(result.isError), text };
}
if (transportKind !== "stdio" && transport.sessionId) {
  await transport.terminateSession();
}
await client.close();
clearTimeout(timer);
process.stdout.write(JSON.stringify(out) + "\n");
