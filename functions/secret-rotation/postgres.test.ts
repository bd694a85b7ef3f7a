// The PostgreSQL adapter against a real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type TestPostgres } from "../../test/support/postgres.ts";
import { AuthenticationError, StaleError } from "./ports.ts";
import { postgresPort, scramVerifier } from "./postgres.ts";

let db: TestPostgres;
const port = postgresPort();

beforeAll(async () => {
  db = await startPostgres();
  await db.query("CREATE ROLE orders_app LOGIN PASSWORD 'old-Passw0rd'");
}, 60_000);
afterAll(async () => db?.stop());

describe("postgres adapter on a real server", () => {
  it("sets a password: the new one logs in, the old one is refused, and the plaintext never reaches the log", async () => {
    await port.setPassword(db.admin, "orders_app", "new-Passw0rd-1", 1);
    expect(await db.canLogin("orders_app", "new-Passw0rd-1")).toBe(true);
    expect(await db.canLogin("orders_app", "old-Passw0rd")).toBe(false);
    expect(db.log.join("\n")).not.toContain("new-Passw0rd-1");
    const stored = await db.query("SELECT rolpassword, shobj_description(oid, 'pg_authid') AS comment FROM pg_authid WHERE rolname = 'orders_app'");
    expect(stored.rows[0]).toMatchObject({ comment: "managed by azplatform.io SecretRotation; rotation-version=1" });
    expect(String(stored.rows[0]?.rolpassword)).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  it("is fenced: a delayed call for an older version cannot undo a newer one; the same version repeats harmlessly", async () => {
    await port.setPassword(db.admin, "orders_app", "v2-Passw0rd", 2);
    await expect(port.setPassword(db.admin, "orders_app", "stale-Passw0rd", 1)).rejects.toEqual(new StaleError("role orders_app is at rotation version 2"));
    await port.setPassword(db.admin, "orders_app", "v2-Passw0rd", 2);
    expect(await db.canLogin("orders_app", "v2-Passw0rd")).toBe(true);
    expect(await db.canLogin("orders_app", "stale-Passw0rd")).toBe(false);
  });

  it("creates the alternate role as a login member of the original", async () => {
    await db.query("CREATE TABLE orders (id int)");
    await db.query("GRANT SELECT ON orders TO orders_app");
    await port.setPassword(db.admin, "orders_app_clone", "clone-Passw0rd", 3, "orders_app");
    expect(await db.canLogin("orders_app_clone", "clone-Passw0rd")).toBe(true);
    const c = { ...db.admin, user: "orders_app_clone", password: "clone-Passw0rd" };
    await port.testLogin(c);
    const member = await db.query("SELECT pg_has_role('orders_app_clone', 'orders_app', 'USAGE') AS m, has_table_privilege('orders_app_clone', 'orders', 'SELECT') AS s");
    expect(member.rows[0]).toEqual({ m: true, s: true });
  });

  const failures: Record<string, { run: () => Promise<unknown>; want: () => Error }> = {
    UnknownRoleWithoutMemberOf: {
      run: () => port.setPassword(db.admin, "nobody_app", "x-Passw0rd", 1),
      want: () => new Error('PostgreSQL refused to set the password of role "nobody_app": role "nobody_app" does not exist'),
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

  it("computes the SCRAM verifier PostgreSQL itself would store for a given salt", async () => {
    const salt = Buffer.from("0123456789abcdef");
    await db.query(`ALTER ROLE orders_app PASSWORD '${scramVerifier("check-Passw0rd", salt)}'`);
    expect(await db.canLogin("orders_app", "check-Passw0rd")).toBe(true);
  });
});
