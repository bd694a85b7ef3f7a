// A fault proxy in front of the real API server: the function processes' kubeconfig points here. It ends TLS with a
// certificate the kubeconfig trusts and forwards each request to the API server over TLS, headers unchanged (the
// function's bearer token and its Impersonate-User header reach the real authenticator and authorizer). Per
// request, `decide` may delay a write before forwarding it (it lands late, maybe after its sender died), hold a
// read's answer (the caller acts on a view that is already old), or lose the reply of an applied request.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { Agent, createServer, request } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { HttpFault } from "./plan.ts";

export interface KubeProxy {
  /** `https://127.0.0.1:<port>`, for the function's kubeconfig. */
  url: string;
  close(): Promise<void>;
}

export interface KubeProxyOptions {
  /** The real API server, `https://127.0.0.1:<port>`. */
  upstream: string;
  upstreamCaPem: string;
  serving: { certPem: string; keyPem: string };
  decide(method: string, path: string): HttpFault | undefined;
}

interface Answer {
  status: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
// Headers that describe one hop's connection, not the message; the answer is re-framed with content-length.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startKubeFaultProxy(opts: KubeProxyOptions): Promise<KubeProxy> {
  const upstream = new URL(opts.upstream);
  const agent = new Agent({ keepAlive: true, ca: opts.upstreamCaPem });

  // The function makes only short requests (no watches), so answers are read whole before they are passed on.
  const forward = (req: IncomingMessage, body: Buffer): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
      const out = request(
        // The API server is reached by IP address: no SNI.
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...headers, host: upstream.host, "content-length": body.length }, agent, servername: "" },
        (res) => {
          readAll(res).then((answer) => {
            const passed = Object.fromEntries(Object.entries(res.headers).filter(([k]) => !HOP_BY_HOP.has(k)));
            resolve({ status: res.statusCode ?? 502, headers: { ...passed, "content-length": answer.length }, body: answer });
          }, reject);
        },
      );
      out.on("error", reject);
      out.end(body);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readAll(req);
    const fault = opts.decide(req.method ?? "GET", req.url ?? "/");
    if (fault?.kind === "delay") await sleep(fault.ms);
    let answer: Answer;
    try {
      answer = await forward(req, body);
    } catch (e) {
      answer = { status: 502, headers: { "content-type": "text/plain" }, body: Buffer.from(`fault proxy: ${e instanceof Error ? e.message : String(e)}`) };
    }
    if (fault?.kind === "hold") await sleep(fault.ms);
    if (fault?.kind === "loseReply") {
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, answer.headers).end(answer.body);
  };

  const sockets = new Set<Socket>();
  const server = createServer({ cert: opts.serving.certPem, key: opts.serving.keyPem }, (req, res) => {
    // A sender killed mid-request leaves a request that cannot be read: nothing to forward.
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      agent.destroy();
    },
  };
}
