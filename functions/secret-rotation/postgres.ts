// The PostgreSQL port over node-postgres: passwords are sent as SCRAM-SHA-256 verifiers (the plaintext never
// reaches the server's statement log), and every change is fenced by a marker in the role's comment naming the
// SecretRotation that owns the role and the version it last set.
//
// Written for Azure's administrator, which is no superuser: it has CREATEROLE, and PostgreSQL 16+ lets it alter,
// comment on or grant a role only WITH ADMIN OPTION on that role (implicit for the roles it created).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type { ConnectionOptions } from "node:tls";
import pg from "pg";
import {
  AuthenticationError,
  RoleBusyError,
  RoleClaimedError,
  StaleError,
  type PostgresConnection,
  type PostgresPort,
  type RoleFence,
} from "./ports.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 15_000;
const ATTEMPTS = 2;
const MARKER = /\s*\[azplatform\.io\/rotation ([^\s\]]+) v=(\d+)\]/g;
/** The whole comment this port wrote before markers: ours, so it is replaced rather than kept as the DBA's text. */
const LEGACY_COMMENT = /^managed by azplatform\.io SecretRotation; rotation-version=\d+$/;
/** Settings whose value is a list of identifiers: set element by element, as pg_dump does (dumputils.c). */
const LIST_QUOTED = new Set(["local_preload_libraries", "search_path", "session_preload_libraries", "shared_preload_libraries", "temp_tablespaces"]);

/** The verifier PostgreSQL stores for SCRAM-SHA-256 (RFC 5802/7677), as `ALTER ROLE ... PASSWORD` accepts it. */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** The fence in a role's comment (the first marker), if a rotation left one. */
export function fenceIn(comment: string | null): RoleFence | undefined {
  const [, rotation, version] = new RegExp(MARKER.source).exec(comment ?? "") ?? [];
  return rotation === undefined ? undefined : { rotation, version: Number(version) };
}

/** The comment with `fence` as its only marker, after whatever the DBA wrote. */
export function withFence(comment: string | null, fence: RoleFence): string {
  if (!/^[^\s\]]+$/.test(fence.rotation)) throw new Error(`rotation ${JSON.stringify(fence.rotation)} cannot be written into a role comment`);
  const text = (comment ?? "").replace(MARKER, "").trim();
  const kept = LEGACY_COMMENT.test(text) ? "" : text;
  return `${kept} [azplatform.io/rotation ${fence.rotation} v=${fence.version}]`.trim();
}

/** `disable` is the one way to go without TLS; TLS always verifies the chain and host name unless tlsVerify is false. */
export function tlsOptions(c: PostgresConnection): false | ConnectionOptions {
  if (c.sslmode === "disable") return false;
  return { rejectUnauthorized: c.tlsVerify !== false };
}

function client(c: PostgresConnection): pg.Client {
  return new pg.Client({
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: c.password,
    ssl: tlsOptions(c),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    application_name: "azplatform-secret-rotation",
  });
}

function connectError(c: PostgresConnection, what: string, e: unknown): Error {
  const err = e as { code?: string; message?: string; syscall?: string };
  if (err.code === "28P01" || err.code === "28000") {
    return new AuthenticationError(`PostgreSQL at ${c.host}:${c.port} refused the login of "${c.user}" (${err.code}) to ${what}`);
  }
  // A socket error's code says it all; a refused certificate needs its reason (untrusted issuer, other host name).
  const why = err.syscall !== undefined || err.code === undefined ? (err.code ?? err.message ?? String(e)) : `${err.message} (${err.code})`;
  return new Error(`cannot connect to PostgreSQL at ${c.host}:${c.port} to ${what}: ${why}`, { cause: e });
}

async function withClient<T>(c: PostgresConnection, what: string, f: (db: pg.Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  const db = client(c);
  db.on("error", () => undefined);
  // Best effort: end() drops the socket under a running query, and the server rolls back what is not committed.
  const cancel = () => void db.end().catch(() => undefined);
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    try {
      await db.connect();
    } catch (e) {
      signal?.throwIfAborted();
      throw connectError(c, what, e);
    }
    return await f(db);
  } catch (e) {
    signal?.throwIfAborted();
    throw e;
  } finally {
    signal?.removeEventListener("abort", cancel);
    await db.end().catch(() => undefined);
  }
}

async function inTransaction<T>(db: pg.Client, f: () => Promise<T>): Promise<T> {
  // Read committed whatever the admin's default: the fence must be read with a snapshot taken after the role's row
  // was locked, not at the transaction's first statement.
  await db.query("BEGIN ISOLATION LEVEL READ COMMITTED");
  try {
    const result = await f();
    await db.query("COMMIT");
    return result;
  } catch (e) {
    await db.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

/** Another transaction changed the role's row (or created the role) between our look and our write. */
function concurrentChange(e: unknown): boolean {
  const err = e as { code?: string; message?: string; constraint?: string };
  if (err.code === "XX000") return /concurrently/.test(err.message ?? "");
  return err.code === "23505" && err.constraint === "pg_authid_rolname_index";
}

/**
 * Whether `role` exists. First refuses, before any change, what PostgreSQL would refuse the admin, with the grant
 * that would allow it: ADMIN OPTION on the role (to alter it and comment on it) or on `memberOf` (to create a member).
 */
async function roleExists(db: pg.Client, role: string, memberOf: string | undefined): Promise<boolean> {
  const found = await db.query<{ rolname: string; administered: boolean; self: boolean }>(
    `SELECT rolname, pg_has_role(oid, 'MEMBER WITH ADMIN OPTION') AS administered, rolname = current_user AS self
       FROM pg_roles WHERE rolname = ANY($1)`,
    [[role, memberOf ?? role]],
  );
  const row = (name: string) => found.rows.find((r) => r.rolname === name);
  const target = row(role);
  if (target?.self && !target.administered) {
    throw new Error(
      "it is the admin's own role, and PostgreSQL lets only a superuser comment on its own role, where the rotation fence is kept; " +
        "rotate the admin with a flexibleServerAdmin target",
    );
  }
  const needed = target ?? (memberOf === undefined ? undefined : row(memberOf));
  if (needed !== undefined && !needed.administered) {
    const grant = `GRANT ${db.escapeIdentifier(needed.rolname)} TO ${db.escapeIdentifier(db.user ?? "")} WITH ADMIN OPTION`;
    throw new Error(`the admin has no ADMIN OPTION on role "${needed.rolname}"; a superuser or a role holding that option must run ${grant}`);
  }
  return target !== undefined;
}

function checkFence(role: string, stored: RoleFence | undefined, fence: RoleFence): void {
  if (stored === undefined) return;
  if (stored.rotation !== fence.rotation && stored.rotation !== fence.takesOver) {
    const marker = `[azplatform.io/rotation ${stored.rotation} v=${stored.version}]`;
    throw new RoleClaimedError(`role "${role}" is rotated by SecretRotation ${stored.rotation}; to hand it over, remove ${marker} from its comment`);
  }
  if (stored.version > fence.version) throw new StaleError(`role ${role} is at rotation version ${stored.version}`);
}

async function commentOf(db: pg.Client, role: string): Promise<string | null> {
  const found = await db.query<{ comment: string | null }>(
    "SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1",
    [role],
  );
  return found.rows[0]?.comment ?? null;
}

/** The SQL value of a setting as pg_db_role_setting stores it (`name=value`), for `ALTER ROLE ... SET name = <here>`. */
function settingValue(db: pg.Client, name: string, value: string): string {
  if (!LIST_QUOTED.has(name.toLowerCase())) return db.escapeLiteral(value);
  const items = [...value.matchAll(/\s*(?:"((?:[^"]|"")*)"|([^,]*?))\s*(?:,|$)/gy)].filter((m) => m[0] !== "");
  return items.map((m) => db.escapeLiteral(m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] ?? ""))).join(", ");
}

/**
 * Makes `clone` behave like `base` for apps: the same per-role settings, in every database, and acting as `base`
 * (`SET role`) so that what it creates belongs to `base`, unless `base` itself acts as another role.
 */
async function mirrorSettings(db: pg.Client, clone: string, base: string): Promise<void> {
  const settings = async (name: string) =>
    (
      await db.query<{ datname: string | null; setconfig: string[] }>(
        `SELECT d.datname, s.setconfig FROM pg_db_role_setting s
           JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
          WHERE r.rolname = $1`,
        [name],
      )
    ).rows;
  const alter = (datname: string | null) =>
    `ALTER ROLE ${db.escapeIdentifier(clone)}${datname === null ? "" : ` IN DATABASE ${db.escapeIdentifier(datname)}`}`;
  for (const { datname } of await settings(clone)) await db.query(`${alter(datname)} RESET ALL`);
  const copied = await settings(base);
  const actsAs = copied.some((s) => s.datname === null && s.setconfig.some((c) => c.startsWith("role=")));
  if (!actsAs) copied.push({ datname: null, setconfig: [`role=${base}`] });
  for (const { datname, setconfig } of copied) {
    for (const setting of setconfig) {
      const [name = "", value = ""] = setting.split(/=(.*)/s);
      await db.query(`${alter(datname)} SET ${db.escapeIdentifier(name)} = ${settingValue(db, name, value)}`);
    }
  }
}

interface Change {
  role: string;
  password: string;
  fence: RoleFence;
  memberOf: string | undefined;
  signal: AbortSignal | undefined;
}

async function setFenced(db: pg.Client, { role, password, fence, memberOf, signal }: Change): Promise<void> {
  const ident = db.escapeIdentifier(role);
  const verifier = db.escapeLiteral(scramVerifier(password));
  const exists = await roleExists(db, role, memberOf);
  if (!exists && memberOf === undefined) throw new Error(`role "${role}" does not exist`);
  signal?.throwIfAborted();
  let comment: string | null = null;
  if (exists) {
    // The row update comes first: it waits for any other transaction changing the role, from any database, and
    // fails if that one committed; so the fence read next is the latest, and no one writes it in between.
    await db.query(`ALTER ROLE ${ident} PASSWORD ${verifier}`);
    comment = await commentOf(db, role);
    checkFence(role, fenceIn(comment), fence);
  } else {
    await db.query(`CREATE ROLE ${ident} LOGIN PASSWORD ${verifier} IN ROLE ${db.escapeIdentifier(memberOf ?? "")}`);
  }
  if (memberOf !== undefined) await mirrorSettings(db, role, memberOf);
  await db.query(`COMMENT ON ROLE ${ident} IS ${db.escapeLiteral(withFence(comment, fence))}`);
}

async function setRetrying(db: pg.Client, change: Change): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(db, () => setFenced(db, change));
    } catch (e) {
      change.signal?.throwIfAborted();
      if (e instanceof StaleError || e instanceof RoleClaimedError) throw e;
      // The other transaction has committed by now: one more attempt reads its fence and decides.
      if (concurrentChange(e) && attempt < ATTEMPTS) continue;
      const role = `role "${change.role}"`;
      if (concurrentChange(e)) throw new RoleBusyError(`other sessions changed ${role} at the same time, ${ATTEMPTS} times in a row; try again`);
      const err = e as { code?: string; message?: string };
      throw new Error(`PostgreSQL refused to set the password of ${role}: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ""}`, { cause: e });
    }
  }
}

export function postgresPort(): PostgresPort {
  return {
    async setPassword(admin, role, password, fence, memberOf, signal) {
      const change = { role, password, fence, memberOf, signal };
      await withClient(admin, `set the password of role "${role}"`, (db) => setRetrying(db, change), signal);
    },
    async readFence(admin, role) {
      return withClient(admin, `read the rotation fence of role "${role}"`, async (db) => fenceIn(await commentOf(db, role)));
    },
    async testLogin(c, signal) {
      await withClient(
        c,
        "test the new password",
        async (db) => {
          await db.query("SELECT 1");
        },
        signal,
      );
    },
  };
}
