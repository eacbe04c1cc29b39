// The official TypeScript SDK's server doing echo-sized work: one `echo` tool, over stdio or streamable HTTP.
//
//   node transport_echo_official.mjs stdio
//   node transport_echo_official.mjs http PORT          (stateful: one transport per session, SSE answers)
//   node transport_echo_official.mjs stateless PORT     (stateless, JSON answers: a server and transport per
//                                                        request, the SDK's documented stateless pattern)
//
// PATCHBAY_NPM points at .cache/npm/node_modules (ES modules ignore NODE_PATH, so imports are by path).
import http from "node:http";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";

const modules = process.env.PATCHBAY_NPM;
const load = (file) => import(pathToFileURL(path.join(modules, file)).href);
const sdk = (file) => load(path.join("@modelcontextprotocol", "sdk", "dist", "esm", file));

const { McpServer } = await sdk("server/mcp.js");
const { z } = await load("zod/index.js");

function build() {
  const server = new McpServer({ name: "ts-echo", version: "1.0.0" });
  server.registerTool(
    "echo",
    { description: "Return the text.", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  return server;
}

const [mode, port] = process.argv.slice(2);
if (mode === "stdio") {
  const { StdioServerTransport } = await sdk("server/stdio.js");
  await build().connect(new StdioServerTransport());
} else if (mode === "stateless") {
  const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
  const httpServer = http.createServer(async (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const server = build();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  httpServer.listen(Number(port), "127.0.0.1");
  process.on("SIGTERM", () => httpServer.close(() => process.exit(0)));
} else {
  const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
  const sessions = new Map();
  const httpServer = http.createServer(async (req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const id = req.headers["mcp-session-id"];
    let transport = id ? sessions.get(id) : undefined;
    if (!transport) {
      if (id || !body || body.method !== "initialize") {
        res.writeHead(404).end();
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => sessions.set(sid, transport),
      });
      transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
      await build().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  httpServer.listen(Number(port), "127.0.0.1");
  process.on("SIGTERM", () => httpServer.close(() => process.exit(0)));
}
