// Request/response plumbing shared by the fake's services: one `Exchange` per HTTP request, which records what
// the fake answered (status and body text) so tests can inspect every response.

import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export type Service = "token" | "keyvault" | "arm";

/** One request the fake received, as `calls()` reports it. */
export interface AzureCall {
  service: Service;
  method: string;
  /** The URL path, without the query string. */
  path: string;
  /** The `api-version` query parameter, if any. */
  apiVersion: string | undefined;
  /** The status the fake answered; absent while a request is unanswered (e.g. a `hang` fault). */
  status?: number;
  /** Key Vault calls only: the vault the request addressed. */
  vault?: string;
}

export type HeaderMap = Record<string, string>;

export interface Exchange {
  readonly req: IncomingMessage;
  readonly url: URL;
  /** `https://<Host header>`: the origin the client addressed (direct `https://localhost:<port>` or, through the proxy, the Azure host name). */
  readonly origin: string;
  readonly call: AzureCall;
  /** The request body as text (read once, then cached). */
  text(): Promise<string>;
  /** Sends the response: objects are JSON-encoded, strings sent as they are, `undefined` sends no body. */
  reply(status: number, body?: unknown, headers?: HeaderMap): void;
}

export function createExchange(
  req: IncomingMessage,
  res: ServerResponse,
  call: AzureCall,
  onReply: (body: string) => void,
  /** Close the connection instead of answering: the request was applied, its reply is lost (a fault harness's). */
  loseReply = false,
): Exchange {
  const origin = `https://${req.headers.host ?? "localhost"}`;
  const url = new URL(req.url ?? "/", origin);
  let bodyText: Promise<string> | undefined;
  return {
    req,
    url,
    origin,
    call,
    text() {
      bodyText ??= readBody(req);
      return bodyText;
    },
    reply(status, body, headers = {}) {
      if (res.headersSent || res.destroyed) return;
      const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
      const contentType = typeof body === "string" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8";
      call.status = status;
      onReply(text);
      if (loseReply) {
        res.socket?.destroy();
        return;
      }
      res.writeHead(status, {
        "x-ms-request-id": randomUUID(),
        ...(text === "" ? {} : { "content-type": contentType }),
        "content-length": String(Buffer.byteLength(text)),
        ...headers,
      });
      res.end(text);
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Parses a JSON request body; `undefined` when it is empty or not JSON. */
export async function jsonBody(x: Exchange): Promise<unknown> {
  const text = await x.text();
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The bearer token in the Authorization header, if any. */
export function bearerToken(x: Exchange): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(x.req.headers.authorization ?? "");
  return match?.[1];
}

/** `{"error":{"code","message"}}`: the error shape both ARM and Key Vault use. */
export function azureError(code: string, message: string, extra: Record<string, unknown> = {}): unknown {
  return { error: { code, message, ...extra } };
}

/** Default error code per HTTP status, for injected faults. */
export function defaultErrorCode(status: number): string {
  const codes: Record<number, string> = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
  };
  return codes[status] ?? `Http${status}`;
}

/** Answers a request the fake does not model: loud, and never retried by the SDKs (they do not retry 501). */
export function notImplemented(x: Exchange): void {
  x.reply(501, azureError("NotImplementedInFake", `The Azure fake does not implement ${x.req.method} ${x.url.pathname}.`));
}
