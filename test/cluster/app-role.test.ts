// A Database made before the application role moves over to it, through real Crossplane core and a real API server,
// against a real PostgreSQL whose admin has Azure's privileges (CREATEROLE, not superuser). The tests play
// provider-sql as it behaves: it connects with the ProviderConfig's admin Secret, creates the Role once, with the
// password its passwordSecretRef holds then, and runs each Grant's statements. All along, a reader that plays the
// app checks that every value the Secret apps read ever holds logs in.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { compositionVariant } from "./composition.ts";
import { cluster, conditionOf, eventually } from "./context.ts";
import { waitFor } from "./processes.ts";
import { composedOf, provideUntilReady, reconcileAsProvider } from "./provider.ts";

const { admin } = cluster();
const NS = "team-books";
const ENGINEER = "argocd-controller";
const COMPOSITION = { apiVersion: "apiextensions.crossplane.io/v1", kind: "Composition", name: "database-postgres-before-roles" };
const XR = { apiVersion: "azplatform.io/v1alpha1", kind: "Database", namespace: NS, name: "books" };
const secretRef = (name: string) => ({ apiVersion: "v1", kind: "Secret", namespace: NS, name });
const decode = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

let pg: TestPostgres;

/** The shipped Composition as it was before the role (applicationRole off), or with it on again. */
const compositionBeforeRoles = (enabled: boolean) => compositionVariant(admin, COMPOSITION.name, NS, { applicationRole: { enabled } });

/** The credentials a Secret holds now. */
async function credentialsIn(name: string): Promise<{ user: string; password: string }> {
  const s = await admin.get(secretRef(name));
  return { user: decode(s.data?.username), password: decode(s.data?.password) };
}

/**
 * One pass of provider-sql: each Role and Grant not ready yet is made in PostgreSQL as the admin its ProviderConfig
 * names, then reported ready. A Role is created once, with what its passwordSecretRef holds at that moment.
 */
async function provideSql(): Promise<void> {
  const composed = await composedOf(admin, NS, XR.name);
  const config = composed["sql-provider-config"];
  const sqlObjects = Object.values(composed).filter((o) => (o.kind === "Role" || o.kind === "Grant") && conditionOf(o, "Ready")?.status !== "True");
  if (config === undefined || sqlObjects.length === 0) return;
  const adminCredentials = await credentialsIn(config.spec.credentials.connectionSecretRef.name);
  for (const o of sqlObjects.sort((a, b) => (a.kind === "Role" ? -1 : b.kind === "Role" ? 1 : 0))) {
    const p = o.spec.forProvider;
    if (o.kind === "Role") {
      const name = o.metadata.annotations["crossplane.io/external-name"];
      const exists = (await pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name])).rowCount === 1;
      const from = await admin.get(secretRef(p.passwordSecretRef.name));
      const password = decode(from.data?.[p.passwordSecretRef.key]);
      if (password === "") continue; // provider-sql would generate one; the function never lets it come to that
      const literal = `'${password.replaceAll("'", "''")}'`;
      // It creates a role with the password, and sets the password of one that exists only while the Role has a
      // connection Secret to write (getPassword, pkg/controller/namespaced/postgresql/role).
      const statement = !exists
        ? `CREATE ROLE "${name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD ${literal}`
        : o.spec.writeConnectionSecretToRef !== undefined
          ? `ALTER ROLE "${name}" PASSWORD ${literal}`
          : undefined;
      if (statement !== undefined) {
        const session = await pg.connect(adminCredentials.user, adminCredentials.password);
        try {
          await session.query(statement);
        } finally {
          await session.end();
        }
        // And publishes the connection details of the role it set, where the Role asks for them.
        const to = o.spec.writeConnectionSecretToRef?.name as string | undefined;
        if (to !== undefined) {
          const data = { username: name, password, endpoint: "127.0.0.1", port: "5432" };
          await admin.apply({ apiVersion: "v1", kind: "Secret", metadata: { name: to, namespace: NS }, type: "connection.crossplane.io/v1alpha1", stringData: data }, { fieldManager: "provider-sql", force: true });
        }
      }
    } else {
      const role = (await pg.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [p.role])).rowCount === 1;
      if (!role) continue;
      const session = await pg.connect(adminCredentials.user, adminCredentials.password, p.database);
      try {
        const on = p.schema === undefined ? `DATABASE "${p.database}"` : `SCHEMA "${p.schema}"`;
        await session.query(`GRANT ${p.privileges.join(",")} ON ${on} TO "${p.role}"`);
      } finally {
        await session.end();
      }
    }
    await reconcileAsProvider(admin, o);
  }
}

beforeAll(async () => {
  pg = await startPostgres();
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, { fieldManager: "platform" });
  await admin.apply(await compositionBeforeRoles(false), { fieldManager: "dba-team" });
  const database = {
    apiVersion: XR.apiVersion,
    kind: XR.kind,
    metadata: { name: XR.name, namespace: NS, labels: { "azplatform.io/cost-center": "cc-2002" } },
    spec: { team: "books", size: "small", databases: ["books"], crossplane: { compositionRef: { name: COMPOSITION.name } } },
  };
  await admin.apply(database, { fieldManager: ENGINEER });
  const composed = await waitFor("the Database's server and Secret", async () => {
    const c = await composedOf(admin, NS, XR.name);
    return c.server !== undefined && c["connection-secret"] !== undefined ? c : undefined;
  }, 90_000);
  // The provider creates the server with the admin password from the Secret it names, and each database, owned by
  // that admin as Azure's are.
  const from = composed.server?.spec.forProvider.administratorPasswordSecretRef.name;
  const { password } = await credentialsIn(from);
  await pg.query(`CREATE ROLE pgadmin LOGIN CREATEROLE PASSWORD '${password.replaceAll("'", "''")}'`);
  await pg.query("CREATE DATABASE books OWNER pgadmin");
  await provideUntilReady(admin, XR);
}, 300_000);

afterAll(async () => {
  await admin.delete(XR);
  await pg?.stop();
});

/** The app: reads the Secret over and over while `reading`, and logs in with what it finds; stopped after each test. */
const app = { seen: [] as Array<{ user: string; ok: boolean }>, reading: false, done: Promise.resolve() };
function startApp(): void {
  app.reading = true;
  app.done = (async () => {
    while (app.reading) {
      const c = await credentialsIn("books-db");
      app.seen.push({ user: c.user, ok: await pg.canLogin(c.user, c.password) });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
}
async function stopApp(): Promise<void> {
  app.reading = false;
  await app.done;
}
afterEach(async () => {
  app.reading = false;
  await app.done.catch(() => undefined);
});

describe("a Database made before the application role", () => {
  it("apps read the admin, as before", async () => {
    const apps = await credentialsIn("books-db");
    expect(apps.user).toBe("pgadmin");
    expect(await pg.canLogin(apps.user, apps.password)).toBe(true);
    expect(await admin.find(secretRef("books-db-admin"))).toBeUndefined();
  });

  it("moves over to the role once the DBA policy turns it on: at every moment the Secret apps read logs in", async () => {
    startApp();

    // A role of that name is left in the server from before (a Database deleted and made again), with another
    // password: the role must take the one staged for it.
    await pg.query("CREATE ROLE books_app LOGIN PASSWORD 'left-from-before-Passw0rd'");
    await pg.query("GRANT books_app TO pgadmin WITH ADMIN OPTION");
    await admin.apply(await compositionBeforeRoles(true), { fieldManager: "dba-team" });
    // Core picks the new revision on its next reconcile of the Database; a touch makes that now.
    await admin.mergePatch(XR, { metadata: { annotations: { "azplatform.io/touched": new Date().toISOString() } } });
    // The stages, as they are seen from outside: the role's password staged in the admin Secret, the role and its
    // grants made, then the Database waiting for its team (the admin owns the tables apps use now).
    let staged = false;
    await waitFor("the role, its grants and provider-sql's record of the staged password", async () => {
      const adminSecret = await admin.find(secretRef("books-db-admin"));
      const stagedPassword = adminSecret?.data?.["application-password"];
      if (stagedPassword !== undefined) staged = true;
      await provideSql();
      const c = await composedOf(admin, NS, XR.name);
      const sqlReady = Object.values(c).filter((o) => o.kind === "Role" || o.kind === "Grant");
      const synced = await admin.find(secretRef("books-db-role"));
      const ready = sqlReady.length === 3 && sqlReady.every((o) => conditionOf(o, "Ready")?.status === "True");
      return ready && stagedPassword !== undefined && synced?.data?.password === stagedPassword ? true : undefined;
    }, 120_000);
    // Everything is made, but the admin owns the tables apps use: without the team's word, apps stay on the admin.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect((await credentialsIn("books-db")).user).toBe("pgadmin");
    await admin.mergePatch(XR, { metadata: { annotations: { "azplatform.io/application-role": "switch" } } });
    const switched = await waitFor("apps reading the role", async () => {
      const adminSecret = await admin.find(secretRef("books-db-admin"));
      if (adminSecret?.data?.["application-password"] !== undefined) staged = true;
      await provideSql();
      const c = await credentialsIn("books-db");
      return c.user === "books_app" ? c : undefined;
    }, 120_000);
    expect(staged).toBe(true);
    const xr = await eventually(admin, XR, "Ready with the role", (o) => conditionOf(o, "Ready")?.status === "True" && o.status?.applicationRole === "books_app", 90_000);
    // A few more reads after the switch.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await stopApp();

    // Enough reads on both sides of the switch that a moment with a refused value would have been seen.
    expect(app.seen.length).toBeGreaterThan(20);
    expect(app.seen.filter((s) => !s.ok)).toEqual([]);
    expect([...new Set(app.seen.map((s) => s.user))]).toEqual(["pgadmin", "books_app"]);
    expect(xr.status).toMatchObject({ applicationRole: "books_app", adminSecretName: "books-db-admin", connectionSecretName: "books-db" });

    // The role apps read logs in and may create its tables in its database; the admin is in its own Secret.
    const session = await pg.connect(switched.user, switched.password, "books");
    try {
      await session.query("CREATE TABLE shelves (id int primary key)");
      await session.query("INSERT INTO shelves VALUES (1)");
    } finally {
      await session.end();
    }
    const adminNow = await credentialsIn("books-db-admin");
    expect(adminNow.user).toBe("pgadmin");
    expect(await pg.canLogin(adminNow.user, adminNow.password)).toBe(true);
    const composed = await composedOf(admin, NS, XR.name);
    expect(composed.server?.spec.forProvider.administratorPasswordSecretRef).toEqual({ name: "books-db-admin", key: "password" });
    expect(composed["application-role"]?.spec.forProvider.passwordSecretRef).toEqual({ name: "books-db", key: "password" });
    // The staged copy of the role's password is gone from the admin Secret.
    expect(Object.keys((await admin.get(secretRef("books-db-admin"))).data).sort()).toEqual(["database", "host", "password", "port", "sslmode", "uri", "username"]);
  });

  it("the role stays, though the DBA policy turns it off again", async () => {
    await admin.apply(await compositionBeforeRoles(false), { fieldManager: "dba-team" });
    await admin.mergePatch(XR, { metadata: { annotations: { "azplatform.io/touched": new Date().toISOString() } } });
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await eventually(admin, XR, "Ready", (o) => conditionOf(o, "Ready")?.status === "True" && conditionOf(o, "Synced")?.status === "True", 60_000);
    const apps = await credentialsIn("books-db");
    expect(apps.user).toBe("books_app");
    expect(await pg.canLogin(apps.user, apps.password)).toBe(true);
    expect((await composedOf(admin, NS, XR.name))["application-role"]).toBeDefined();
  });
});
