// A real PostgreSQL login, as an app makes it (TLS, server certificate verified), telling a refusal of the
// credentials apart from anything else that can go wrong (the server busy, the network).
import pg from "pg";

export interface PostgresServer {
  host: string;
  port: number;
  caPem: string;
}

export async function tryLogin(server: PostgresServer, user: string, password: string): Promise<"ok" | "refused" | "error"> {
  const client = new pg.Client({ host: server.host, port: server.port, database: "postgres", user, password, ssl: { ca: server.caPem }, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return "ok";
  } catch (e) {
    // 28P01: wrong password; 28000: no such role, or it may not log in.
    const code = (e as { code?: string }).code;
    return code === "28P01" || code === "28000" ? "refused" : "error";
  } finally {
    await client.end().catch(() => undefined);
  }
}
