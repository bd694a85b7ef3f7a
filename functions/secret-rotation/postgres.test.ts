// The PostgreSQL adapter against a real server, logged in as an administrator made the way Azure makes it
// (CREATEROLE CREATEDB, not a superuser); the superuser only sets the scene and checks.
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { makeTestPki, type TestPki } from "../../test/support/certs.ts";
import { startPostgres, type TestPostgres } from "../../test/support/postgres.ts";
import { trustCaInThisProcess } from "../../test/servers/azure/tls.ts";
import { AuthenticationError, RoleClaimedError, StaleError, type PostgresConnection, type RoleFence } from "./ports.ts";
import { fenceIn, postgresPort, scramVerifier, tlsOptions, withFence } from "./postgres.ts";

const port = postgresPort();
const ORDERS = "team-payments/orders-app-password";
const fence = (version: number, rotation = ORDERS): RoleFence => ({ rotation, version });

describe("the fence in a role's comment", () => {
  const next = fence(4, "team-a/foo");
  const cases: Record<string, { comment: string | null; stored: RoleFence | undefined; written: string }> = {
    NoComment: { comment: null, stored: undefined, written: "[azplatform.io/rotation team-a/foo v=4]" },
    DbaTextOnly: { comment: "owned by payments; ask #dba", stored: undefined, written: "owned by payments; ask #dba [azplatform.io/rotation team-a/foo v=4]" },
    DbaTextAndMarker: { comment: "owned by payments [azplatform.io/rotation team-a/foo v=3]", stored: fence(3, "team-a/foo"), written: "owned by payments [azplatform.io/rotation team-a/foo v=4]" },
    MarkerOnly: { comment: "[azplatform.io/rotation team-a/foo v=12]", stored: fence(12, "team-a/foo"), written: "[azplatform.io/rotation team-a/foo v=4]" },
    MarkerOfAnotherRotation: { comment: "app [azplatform.io/rotation team-b/bar v=7]", stored: fence(7, "team-b/bar"), written: "app [azplatform.io/rotation team-a/foo v=4]" },
    DbaTextAfterTheMarkerIsKept: { comment: "app [azplatform.io/rotation team-a/foo v=3] do not drop", stored: fence(3, "team-a/foo"), written: "app do not drop [azplatform.io/rotation team-a/foo v=4]" },
    OurCommentBeforeMarkersIsReplaced: { comment: "managed by azplatform.io SecretRotation; rotation-version=5", stored: undefined, written: "[azplatform.io/rotation team-a/foo v=4]" },
    BracketsThatAreNotAMarker: { comment: "[legacy] app", stored: undefined, written: "[legacy] app [azplatform.io/rotation team-a/foo v=4]" },
  };
  for (const [name, { comment, stored, written }] of Object.entries(cases)) {
    it(name, () => {
      expect({ stored: fenceIn(comment), written: withFence(comment, next) }).toEqual({ stored, written });
      expect(fenceIn(written)).toEqual(next);
    });
  }

  it("refuses a rotation name that could not be read back", () => {
    expect(() => withFence(null, fence(1, "team-a/x] y"))).toThrow('rotation "team-a/x] y" cannot be written into a role comment');
  });
});

describe("TLS options of a session", () => {
  const conn = (sslmode: string, tlsVerify?: boolean): PostgresConnection => ({ host: "h", port: 5432, database: "d", user: "u", password: "p", sslmode, tlsVerify });
  const cases: Array<[string, boolean | undefined, ReturnType<typeof tlsOptions>]> = [
    ["disable", undefined, false],
    ["disable", false, false],
    ["require", undefined, { rejectUnauthorized: true }],
    ["verify-ca", undefined, { rejectUnauthorized: true }],
    ["verify-full", undefined, { rejectUnauthorized: true }],
    ["prefer", undefined, { rejectUnauthorized: true }],
    ["", undefined, { rejectUnauthorized: true }],
    ["require", true, { rejectUnauthorized: true }],
    ["require", false, { rejectUnauthorized: false }],
  ];
  for (const [sslmode, tlsVerify, want] of cases) it(`sslmode=${sslmode || '""'} tlsVerify=${tlsVerify}`, () => expect(tlsOptions(conn(sslmode, tlsVerify))).toEqual(want));
});

describe("postgres adapter on a real server, as an Azure-like admin", () => {
  let db: TestPostgres;
  /** A session of the admin, as the DBA would open one to create the app's roles. */
  const asAdmin = async (sql: string) => {
    const c = await db.connect(db.admin.user, db.admin.password);
    await c.query(sql).finally(() => c.end());
  };
  const comment = async (role: string) => (await db.query("SELECT shobj_description(oid, 'pg_authid') AS c FROM pg_roles WHERE rolname = $1", [role])).rows[0]?.c;
  /** Waits until this many of the port's sessions wait for a lock. */
  const waiting = (n: number) =>
    vi.waitFor(
      async () => {
        const found = await db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'azplatform-secret-rotation' AND wait_event_type = 'Lock'");
        expect(found.rows[0]?.n).toBe(n);
      },
      { timeout: 10_000, interval: 20 },
    );
  /** A superuser transaction that has updated the role's row and holds it until `release`. */
  const holdRole = async (role: string): Promise<{ release: () => Promise<void> }> => {
    const blocker: pg.Client = await db.connect(db.superuser.user, db.superuser.password);
    await blocker.query("BEGIN");
    await blocker.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
    return {
      release: async () => {
        await blocker.query("ROLLBACK").finally(() => blocker.end());
      },
    };
  };

  beforeAll(async () => {
    db = await startPostgres();
    await db.query("CREATE DATABASE other");
    await asAdmin("CREATE ROLE orders_app LOGIN PASSWORD 'old-Passw0rd'");
    await asAdmin("COMMENT ON ROLE orders_app IS 'payments API; ask #dba-payments'");
    // Created by someone else: the admin has no ADMIN OPTION on these.
    await db.query("CREATE ROLE foreign_app LOGIN PASSWORD 'foreign-Passw0rd'");
    await db.query("CREATE ROLE ledger_app LOGIN PASSWORD 'ledger-Passw0rd'");
  }, 60_000);
  afterAll(async () => db?.stop());

  it("runs as a CREATEROLE admin that is no superuser", async () => {
    const admin = await db.query("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1", [db.admin.user]);
    expect(admin.rows[0]).toEqual({ rolsuper: false, rolcreaterole: true, rolcreatedb: true });
  });

  it("sets a password: the new one logs in, the old one is refused, the plaintext never reaches the log, the DBA's comment stays", async () => {
    await port.setPassword(db.admin, "orders_app", "new-Passw0rd-1", fence(1));
    expect(await db.canLogin("orders_app", "new-Passw0rd-1")).toBe(true);
    expect(await db.canLogin("orders_app", "old-Passw0rd")).toBe(false);
    expect(db.log.join("\n")).not.toContain("new-Passw0rd-1");
    const stored = await db.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'orders_app'");
    expect(String(stored.rows[0]?.rolpassword)).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(await comment("orders_app")).toBe(`payments API; ask #dba-payments [azplatform.io/rotation ${ORDERS} v=1]`);
    expect(await port.readFence(db.admin, "orders_app")).toEqual(fence(1));
  });

  it("is fenced: a delayed call for an older version cannot undo a newer one; the same version repeats harmlessly", async () => {
    await port.setPassword(db.admin, "orders_app", "v2-Passw0rd", fence(2));
    await expect(port.setPassword(db.admin, "orders_app", "stale-Passw0rd", fence(1))).rejects.toEqual(new StaleError("role orders_app is at rotation version 2"));
    await port.setPassword(db.admin, "orders_app", "v2-Passw0rd", fence(2));
    expect(await db.canLogin("orders_app", "v2-Passw0rd")).toBe(true);
    expect(await db.canLogin("orders_app", "stale-Passw0rd")).toBe(false);
    expect(await port.readFence(db.admin, "orders_app")).toEqual(fence(2));
  });

  it("refuses a role that another SecretRotation rotates, whatever the version, and changes nothing", async () => {
    const before = await comment("orders_app");
    const err = await port.setPassword(db.admin, "orders_app", "thief-Passw0rd", fence(9, "team-b/orders")).catch((e: unknown) => e);
    expect(err).toEqual(
      new RoleClaimedError(`role "orders_app" is rotated by SecretRotation ${ORDERS}; to hand it over, remove [azplatform.io/rotation ${ORDERS} v=2] from its comment`),
    );
    expect(err).toBeInstanceOf(RoleClaimedError);
    expect(await db.canLogin("orders_app", "v2-Passw0rd")).toBe(true);
    expect(await comment("orders_app")).toBe(before);
  });

  it("lets the successor of a deleted SecretRotation take its fence over, at no lower version; no other rotation", async () => {
    await asAdmin("CREATE ROLE renamed_app LOGIN PASSWORD 'first-Passw0rd'");
    await port.setPassword(db.admin, "renamed_app", "old-v3-Passw0rd", fence(3, "team-payments/old-name"));
    const successor = (version: number, takesOver: string) => ({ ...fence(version), takesOver });
    const claimed = new RoleClaimedError(
      'role "renamed_app" is rotated by SecretRotation team-payments/old-name; to hand it over, remove [azplatform.io/rotation team-payments/old-name v=3] from its comment',
    );
    await expect(port.setPassword(db.admin, "renamed_app", "x-Passw0rd", successor(4, "team-payments/someone-else"))).rejects.toEqual(claimed);
    await expect(port.setPassword(db.admin, "renamed_app", "x-Passw0rd", successor(2, "team-payments/old-name"))).rejects.toEqual(new StaleError("role renamed_app is at rotation version 3"));
    await port.setPassword(db.admin, "renamed_app", "new-v4-Passw0rd", successor(4, "team-payments/old-name"));
    expect(await port.readFence(db.admin, "renamed_app")).toEqual(fence(4));
    expect(await db.canLogin("renamed_app", "new-v4-Passw0rd")).toBe(true);
    // Taken over, the predecessor's fence is gone: it cannot come back, even through a successor of its own.
    await expect(port.setPassword(db.admin, "renamed_app", "back-Passw0rd", fence(5, "team-payments/old-name"))).rejects.toBeInstanceOf(RoleClaimedError);
  });

  it("reads no fence from a role without a marker, nor from a missing role", async () => {
    expect(await port.readFence(db.admin, "foreign_app")).toBeUndefined();
    expect(await port.readFence(db.admin, "nobody_app")).toBeUndefined();
  });

  // Two replicas, or a duplicate delivery, connected to different databases: an advisory lock would not serialise
  // them; the role's own row does. Each case holds the role first so that both calls are in flight together, then
  // lets them go in the order PostgreSQL queued them.
  const races: Record<string, { role: string; first: number; second: number; secondFails: boolean }> = {
    NewerFirstThenOlderIsStale: { role: "race_newer_first", first: 12, second: 11, secondFails: true },
    OlderFirstThenNewerWins: { role: "race_older_first", first: 11, second: 12, secondFails: false },
  };
  for (const [name, { role, first, second, secondFails }] of Object.entries(races)) {
    it(`concurrent calls from two databases: ${name}`, async () => {
      await asAdmin(`CREATE ROLE ${role} LOGIN PASSWORD 'race-Old-Passw0rd'`);
      const held = await holdRole(role);
      const call = (version: number, database: string) =>
        port.setPassword({ ...db.admin, database }, role, `race-v${version}-Passw0rd`, fence(version)).then(
          () => "done",
          (e: unknown) => e,
        );
      const a = call(first, "postgres");
      await waiting(1);
      const b = call(second, "other");
      await waiting(2);
      await held.release();

      expect([await a, await b]).toEqual(["done", secondFails ? new StaleError(`role ${role} is at rotation version ${first}`) : "done"]);
      expect(await db.canLogin(role, "race-v12-Passw0rd")).toBe(true);
      expect(await db.canLogin(role, "race-v11-Passw0rd")).toBe(false);
      expect(await comment(role)).toBe(`[azplatform.io/rotation ${ORDERS} v=12]`);
    });
  }

  it("reads the fence only once it may write: a fence committed while the call waits to change the role is respected", async () => {
    await asAdmin("CREATE ROLE race_late_fence LOGIN PASSWORD 'late-Old-Passw0rd'");
    // Holds off every change to pg_authid (not the role's row), so the call waits between its look and its write.
    const other = await db.connect(db.superuser.user, db.superuser.password);
    await other.query("BEGIN");
    await other.query("LOCK TABLE pg_authid IN SHARE MODE");
    const call = port.setPassword(db.admin, "race_late_fence", "late-v11-Passw0rd", fence(11)).catch((e: unknown) => e);
    await waiting(1);
    await other.query(`COMMENT ON ROLE race_late_fence IS '[azplatform.io/rotation ${ORDERS} v=12]'`);
    await other.query("COMMIT").finally(() => other.end());

    expect(await call).toEqual(new StaleError("role race_late_fence is at rotation version 12"));
    expect(await db.canLogin("race_late_fence", "late-Old-Passw0rd")).toBe(true);
    expect(await comment("race_late_fence")).toBe(`[azplatform.io/rotation ${ORDERS} v=12]`);
  });

  it("creates the alternate role as a login member of the base that acts as the base, with the base's settings in every database", async () => {
    await db.query("GRANT CREATE ON SCHEMA public TO orders_app");
    await db.query("CREATE TABLE orders (id int)");
    await db.query("GRANT SELECT ON orders TO orders_app");
    await asAdmin(`ALTER ROLE orders_app SET search_path = '$user', 'public', 'Sales Data'`);
    await asAdmin("ALTER ROLE orders_app IN DATABASE other SET statement_timeout = '7s'");

    await port.setPassword(db.admin, "orders_app_clone", "clone-Passw0rd", fence(3), "orders_app");

    expect(await db.canLogin("orders_app_clone", "clone-Passw0rd")).toBe(true);
    await port.testLogin({ ...db.admin, user: "orders_app_clone", password: "clone-Passw0rd" });
    const member = await db.query("SELECT pg_has_role('orders_app_clone', 'orders_app', 'USAGE') AS m, has_table_privilege('orders_app_clone', 'orders', 'SELECT') AS s");
    expect(member.rows[0]).toEqual({ m: true, s: true });
    expect(await comment("orders_app_clone")).toBe(`[azplatform.io/rotation ${ORDERS} v=3]`);
    const session = async (database: string, sql: string, password = "clone-Passw0rd") => {
      const c = await db.connect("orders_app_clone", password, database);
      return (await c.query(sql).finally(() => c.end())).rows[0];
    };
    expect(await session("postgres", "SELECT current_user AS acting, current_setting('search_path') AS path")).toEqual({ acting: "orders_app", path: '"$user", public, "Sales Data"' });
    expect(await session("other", "SELECT current_setting('statement_timeout') AS timeout")).toEqual({ timeout: "7s" });
    await session("postgres", "CREATE TABLE clone_made (id int)");
    expect((await db.query("SELECT tableowner FROM pg_tables WHERE tablename = 'clone_made'")).rows[0]).toEqual({ tableowner: "orders_app" });

    // The next rotation to the clone follows the base's settings as they are then.
    await asAdmin("ALTER ROLE orders_app RESET search_path");
    await port.setPassword(db.admin, "orders_app_clone", "clone-Passw0rd-2", fence(5), "orders_app");
    expect(await session("postgres", "SELECT current_setting('search_path') AS path", "clone-Passw0rd-2")).toEqual({ path: '"$user", public' });
  });

  it("works on a role the admin did not create once the DBA grants it ADMIN OPTION (which also allows the comment)", async () => {
    await db.query(`GRANT ledger_app TO ${db.admin.user} WITH ADMIN OPTION`);
    await port.setPassword(db.admin, "ledger_app", "ledger-New-Passw0rd", fence(1, "team-ledger/app"));
    expect(await db.canLogin("ledger_app", "ledger-New-Passw0rd")).toBe(true);
    expect(await port.readFence(db.admin, "ledger_app")).toEqual(fence(1, "team-ledger/app"));
  });

  it("a signal fired before the call: it rejects with the signal's reason and never connects", async () => {
    const controller = new AbortController();
    const reason = new Error("the step's deadline passed");
    controller.abort(reason);
    const logged = db.log.length;
    await expect(port.setPassword(db.admin, "orders_app", "late-Passw0rd", fence(6), undefined, controller.signal)).rejects.toBe(reason);
    await expect(port.testLogin(db.admin, controller.signal)).rejects.toBe(reason);
    expect(db.log.slice(logged).join("\n")).not.toMatch(/BEGIN|ALTER ROLE|SELECT 1/);
    expect(await db.canLogin("orders_app", "v2-Passw0rd")).toBe(true);
  });

  it("a signal fired while the ALTER ROLE waits: it rejects at once, and the server rolls the whole change back", async () => {
    const before = await comment("orders_app");
    const held = await holdRole("orders_app");
    const controller = new AbortController();
    const reason = new Error("the step's deadline passed");
    const call = port.setPassword(db.admin, "orders_app", "aborted-Passw0rd", fence(7), undefined, controller.signal).catch((e: unknown) => e);
    await waiting(1);
    controller.abort(reason);
    expect(await call).toBe(reason);
    // The server finishes the ALTER once the row is free, then finds the session gone and rolls back.
    await held.release();
    await vi.waitFor(async () => expect((await db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'azplatform-secret-rotation'")).rows[0]?.n).toBe(0));
    expect(await db.canLogin("orders_app", "aborted-Passw0rd")).toBe(false);
    expect(await db.canLogin("orders_app", "v2-Passw0rd")).toBe(true);
    expect(await comment("orders_app")).toBe(before);
  });

  const failures: Record<string, { run: () => Promise<unknown>; want: () => Error }> = {
    UnknownRoleWithoutMemberOf: {
      run: () => port.setPassword(db.admin, "nobody_app", "x-Passw0rd", fence(1)),
      want: () => new Error('PostgreSQL refused to set the password of role "nobody_app": role "nobody_app" does not exist'),
    },
    RoleWithoutAdminOptionNamesTheGrant: {
      run: () => port.setPassword(db.admin, "foreign_app", "x-Passw0rd", fence(1)),
      want: () =>
        new Error(
          'PostgreSQL refused to set the password of role "foreign_app": the admin has no ADMIN OPTION on role "foreign_app"; a superuser or a role holding that option must run GRANT "foreign_app" TO "dbadmin" WITH ADMIN OPTION',
        ),
    },
    BaseWithoutAdminOptionNamesTheGrant: {
      run: () => port.setPassword(db.admin, "foreign_app_clone", "x-Passw0rd", fence(1), "foreign_app"),
      want: () =>
        new Error(
          'PostgreSQL refused to set the password of role "foreign_app_clone": the admin has no ADMIN OPTION on role "foreign_app"; a superuser or a role holding that option must run GRANT "foreign_app" TO "dbadmin" WITH ADMIN OPTION',
        ),
    },
    AdminsOwnRoleSaysWhy: {
      run: () => port.setPassword(db.admin, "dbadmin", "x-Passw0rd", fence(1)),
      want: () =>
        new Error(
          `PostgreSQL refused to set the password of role "dbadmin": it is the admin's own role, and PostgreSQL lets only a superuser comment on its own role, where the rotation fence is kept; rotate the admin with a flexibleServerAdmin target`,
        ),
    },
    WrongPasswordIsAnAuthenticationError: {
      run: () => port.testLogin({ ...db.admin, user: "orders_app", password: "wrong" }),
      want: () => new AuthenticationError(`PostgreSQL at 127.0.0.1:${db.admin.port} refused the login of "orders_app" (28P01) to test the new password`),
    },
    UnreachableServerNamesHostAndCause: {
      run: () => port.testLogin({ ...db.admin, port: 1 }),
      want: () => new Error("cannot connect to PostgreSQL at 127.0.0.1:1 to test the new password: ECONNREFUSED"),
    },
  };
  for (const [name, { run, want }] of Object.entries(failures)) {
    it(name, async () => {
      const err = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(want().constructor);
      expect((err as Error).message).toBe(want().message);
    });
  }

  it("changes nothing when it refuses", async () => {
    expect(await db.canLogin("foreign_app", "foreign-Passw0rd")).toBe(true);
    expect(await db.canLogin("dbadmin", "x-Passw0rd")).toBe(false);
    expect((await db.query("SELECT count(*)::int AS n FROM pg_roles WHERE rolname = 'foreign_app_clone'")).rows[0]).toEqual({ n: 0 });
  });

  it("computes the SCRAM verifier PostgreSQL itself would store for a given salt", async () => {
    const salt = Buffer.from("0123456789abcdef");
    await db.query(`ALTER ROLE orders_app PASSWORD '${scramVerifier("check-Passw0rd", salt)}'`);
    expect(await db.canLogin("orders_app", "check-Passw0rd")).toBe(true);
  });
});

describe("TLS: sessions verify the server's certificate and host name unless told not to", () => {
  let db: TestPostgres;
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makeTestPki();
    // The certificate names 127.0.0.1 and localhost; 127.0.0.2 reaches the same server under a name it lacks.
    db = await startPostgres({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, moreHosts: ["127.0.0.2"] });
  }, 60_000);
  afterAll(async () => db?.stop());

  const cases: Record<string, { trusted: boolean; host: string; tlsVerify?: boolean; want: string | RegExp }> = {
    TrustedCaAndItsHostLogsIn: { trusted: true, host: "127.0.0.1", want: "logged in" },
    UntrustedCaIsRefused: { trusted: false, host: "127.0.0.1", want: /^cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ to test the new password: unable to verify the first certificate.*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/ },
    OtherHostNameIsRefused: {
      trusted: true,
      host: "127.0.0.2",
      want: /^cannot connect to PostgreSQL at 127\.0\.0\.2:\d+ to test the new password: Hostname\/IP does not match certificate's altnames: IP: 127\.0\.0\.2 is not in the cert's list: .*\(ERR_TLS_CERT_ALTNAME_INVALID\)$/,
    },
    VerificationOffAcceptsAnyCertificate: { trusted: false, host: "127.0.0.2", tlsVerify: false, want: "logged in" },
  };
  for (const [name, { trusted, host, tlsVerify, want }] of Object.entries(cases)) {
    it(name, async () => {
      const untrust = trusted ? trustCaInThisProcess(pki.ca.certPem) : () => undefined;
      try {
        const got = await port.testLogin({ ...db.admin, host, sslmode: "require", tlsVerify }).then(
          () => "logged in",
          (e: unknown) => (e as Error).message,
        );
        expect(got).toMatch(want);
      } finally {
        untrust();
      }
    });
  }
});
