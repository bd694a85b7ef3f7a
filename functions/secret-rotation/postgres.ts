// The PostgreSQL port over node-postgres: passwords are sent as SCRAM-SHA-256 verifiers (the plaintext never
// reaches the server's statement log), and every change is fenced by the rotation version kept on the role.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { AuthenticationError, StaleError, type PostgresConnection, type PostgresPort } from "./ports.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 15_000;
const FENCE = /rotation-version=(\d+)/;

/** The verifier PostgreSQL stores for SCRAM-SHA-256 (RFC 5802/7677), as `ALTER ROLE ... PASSWORD` accepts it. */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

function client(c: PostgresConnection): pg.Client {
  return new pg.Client({
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: c.password,
    ssl: c.sslmode === "disable" ? false : { rejectUnauthorized: c.sslmode === "verify-full" || c.sslmode === "verify-ca" },
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    application_name: "azplatform-secret-rotation",
  });
}

async function withClient<T>(c: PostgresConnection, what: string, f: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = client(c);
  db.on("error", () => undefined);
  try {
    await db.connect();
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === "28P01" || err.code === "28000") {
      throw new AuthenticationError(`PostgreSQL at ${c.host}:${c.port} refused the login of "${c.user}" (${err.code}) to ${what}`);
    }
    throw new Error(`cannot connect to PostgreSQL at ${c.host}:${c.port} to ${what}: ${err.code ?? err.message ?? String(e)}`, { cause: e });
  }
  try {
    return await f(db);
  } finally {
    await db.end().catch(() => undefined);
  }
}

export function postgresPort(): PostgresPort {
  return {
    async setPassword(admin, role, password, version, memberOf) {
      await withClient(admin, `set the password of role "${role}"`, async (db) => {
        const ident = db.escapeIdentifier(role);
        await db.query("BEGIN");
        try {
          // One rotation at a time per role, across all replicas and all callers.
          await db.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`azplatform.io/rotation/${role}`]);
          const found = await db.query<{ comment: string | null }>("SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1", [role]);
          const verifier = db.escapeLiteral(scramVerifier(password));
          if (found.rowCount === 0) {
            if (memberOf === undefined) throw new Error(`role "${role}" does not exist`);
            await db.query(`CREATE ROLE ${ident} LOGIN PASSWORD ${verifier} IN ROLE ${db.escapeIdentifier(memberOf)}`);
          } else {
            const fenced = Number(FENCE.exec(found.rows[0]?.comment ?? "")?.[1] ?? 0);
            if (fenced > version) throw new StaleError(`role ${role} is at rotation version ${fenced}`);
            await db.query(`ALTER ROLE ${ident} WITH LOGIN PASSWORD ${verifier}`);
          }
          await db.query(`COMMENT ON ROLE ${ident} IS ${db.escapeLiteral(`managed by azplatform.io SecretRotation; rotation-version=${version}`)}`);
          await db.query("COMMIT");
        } catch (e) {
          await db.query("ROLLBACK").catch(() => undefined);
          if (e instanceof StaleError) throw e;
          const err = e as { code?: string; message?: string };
          throw new Error(`PostgreSQL refused to set the password of role "${role}": ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ""}`, { cause: e });
        }
      });
    },
    async testLogin(c) {
      await withClient(c, "test the new password", async (db) => {
        await db.query("SELECT 1");
      });
    },
  };
}
