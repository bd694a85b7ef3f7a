// A SecretRotation taking the admin password of a Database's admin Secret over (its apps connect as its application
// role), under Crossplane's real field managers, through real Crossplane core: rotated through ARM (the local stand-in, which changes the password of a
// real PostgreSQL role as Azure would), proven by a real login over TLS, promoted into the Secret, a consumer
// rolled; and the Database never writes the rotated key back.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDocs } from "../../cli/yaml.ts";
import { startAzureFake, type AzureFake } from "../servers/azure/index.ts";
import { issueServingCert } from "../servers/azure/tls.ts";
import { makeTestPki } from "../support/certs.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { REPO_ROOT } from "../support/proto-client.ts";
import { cluster, conditionOf, eventually, optIn, useFunctionServer } from "./context.ts";
import { CROSSPLANE_NAMESPACE } from "./crossplane.ts";
import { keyOwners, type Obj } from "./kube.ts";
import { waitFor } from "./processes.ts";
import { composedOf, provideUntilReady } from "./provider.ts";

const { info, admin } = cluster();
const NS = "team-ledger";
const ENGINEER = "argocd-controller";
// Azure's private DNS resolves a server's FQDN to its private address; here the provider reports that address.
const PRIVATE_ADDRESS = "127.0.0.2";
const SUBSCRIPTION = (readDocs(join(REPO_ROOT, "compositions/secret-rotation.yaml"))[0] as Obj).spec.pipeline[0].input.subscriptionId as string;
const decode = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");
const secretRef = (name: string) => ({ apiVersion: "v1", kind: "Secret", namespace: NS, name });

let pg: TestPostgres;
let azure: AzureFake;
let restore: () => Promise<void>;
let serverName: string;

const database = {
  apiVersion: "azplatform.io/v1alpha1",
  kind: "Database",
  metadata: { name: "ledger", namespace: NS, labels: { "azplatform.io/cost-center": "cc-1001" } },
  spec: { team: "ledger", size: "small", version: "16", databases: ["ledger"], connectionSecretName: "ledger-db" },
};
const XR = { apiVersion: "azplatform.io/v1alpha1", kind: "Database", namespace: NS, name: "ledger" };
const ROTATION = { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", namespace: NS, name: "ledger-admin-password" };

beforeAll(async () => {
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, { fieldManager: "platform" });
  await admin.apply(optIn(NS), { fieldManager: "platform" });
  await portIsFree(PRIVATE_ADDRESS, 5432);
  // One test CA for Azure's endpoints and the server's certificate, which names the address its FQDN resolves to:
  // the function verifies both, with the CA added to its trust store as a public root would be.
  const pki = await makeTestPki();
  pg = await startPostgres({ host: PRIVATE_ADDRESS, port: 5432, tls: await issueServingCert(pki.ca, [PRIVATE_ADDRESS]) });
  azure = await startAzureFake({ vaults: ["kv-team-ledger"], retryAfterSeconds: 1, pki });
  // The Azure credential the Composition's step reads, as the platform team stores it.
  await admin.apply(
    { apiVersion: "v1", kind: "Secret", metadata: { name: "secret-rotation-azure", namespace: CROSSPLANE_NAMESPACE }, stringData: { clientId: azure.clientId, clientSecret: azure.clientSecret, tenantId: azure.tenantId } },
    { fieldManager: "platform" },
  );
  const kubeconfig = info.functionKubeconfig;
  ({ restore } = await useFunctionServer({ KUBECONFIG: kubeconfig, NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: `127.0.0.1,localhost,${PRIVATE_ADDRESS}` }));

  // The engineer's Database, and the provider creating the server with the admin password from its Secret.
  await admin.apply(database, { fieldManager: ENGINEER });
  const composed = await waitFor("the Database's server and Secret", async () => {
    const c = await composedOf(admin, NS, XR.name);
    return c.server !== undefined && c["admin-secret"] !== undefined ? c : undefined;
  }, 90_000);
  serverName = composed.server?.metadata.annotations["crossplane.io/external-name"];
  const initial = decode(composed["admin-secret"]?.data.password);
  await pg.query(`CREATE ROLE pgadmin LOGIN CREATEROLE PASSWORD '${initial.replaceAll("'", "''")}'`);
  azure.addServer({
    subscriptionId: SUBSCRIPTION,
    resourceGroup: "rg-data-prod",
    name: serverName,
    // The provider creates the server with the tags the function composed, the namespace tag among them.
    tags: composed.server?.spec.forProvider.tags,
    onAdminPasswordChange: async (password: string) => {
      await pg.query(`ALTER ROLE pgadmin PASSWORD '${password.replaceAll("'", "''")}'`);
    },
  });
  await provideUntilReady(admin, XR, { fqdn: PRIVATE_ADDRESS });
  // The provider creates each FlexibleServerDatabase in the server: here, in the real PostgreSQL.
  for (const d of database.spec.databases) await pg.query(`CREATE DATABASE ${d}`);
  await eventually(admin, XR, "Ready", (o) => conditionOf(o, "Ready")?.status === "True", 90_000);
  // A job that connects as the admin (schema migrations), reading the admin Secret.
  await admin.apply(
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "ledger-migrations", namespace: NS },
      spec: { selector: { matchLabels: { app: "ledger-migrations" } }, template: { metadata: { labels: { app: "ledger-migrations" } }, spec: { containers: [{ name: "app", image: "example/ledger:1", envFrom: [{ secretRef: { name: "ledger-db-admin" } }] }] } } },
    },
    { fieldManager: ENGINEER },
  );
}, 300_000);

afterAll(async () => {
  await restore?.();
  await azure?.close();
  await pg?.stop();
});

/** The Database's Secret names port 5432, so the PostgreSQL behind the server's address must listen there. */
async function portIsFree(host: string, port: number): Promise<void> {
  const { createServer } = await import("node:net");
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (e: Error) => reject(new Error(`this test runs PostgreSQL on ${host}:${port}, the port the Database's Secret names, and cannot listen there: ${e.message}. Stop what listens on port ${port} (on every address), then run it again`)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

describe("SecretRotation of a Database's admin password through real Crossplane", () => {
  it("takes the keys over from Crossplane's composed field manager, rotates through ARM, proves it, promotes it and rolls the consumer", async () => {
    const before = await admin.get(secretRef("ledger-db-admin"));
    const crossplaneManager = Object.keys(keyOwners(before)).find((m) => m.startsWith("apiextensions.crossplane.io/composed/"));
    expect(crossplaneManager, JSON.stringify(keyOwners(before))).toBeDefined();
    const oldPassword = decode(before.data.password);

    await admin.apply(
      {
        apiVersion: ROTATION.apiVersion,
        kind: ROTATION.kind,
        metadata: { name: ROTATION.name, namespace: NS },
        spec: {
          team: "ledger",
          secretRef: { name: "ledger-db-admin", key: "password" },
          rotateEvery: "720h",
          targets: { flexibleServerAdmin: { databaseRef: { name: XR.name } }, keyVault: { vaultName: "kv-team-ledger", secretName: "ledger-db-admin" } },
          consumers: "auto",
        },
      },
      { fieldManager: ENGINEER },
    );
    // Core applies the function's status and its conditions in separate writes: wait for both.
    const rotated = (o: Obj) => o.status?.phase === "Idle" && o.status?.currentVersion === 1 && conditionOf(o, "RotationSucceeded")?.status === "True";
    const rotation = await eventually(admin, ROTATION, "rotated once (phase Idle, version 1, RotationSucceeded)", rotated, 180_000);
    expect(conditionOf(rotation, "RotationSucceeded")).toMatchObject({ status: "True", reason: "Rotated" });

    const after = await admin.get(secretRef("ledger-db-admin"));
    const newPassword = decode(after.data.password);
    expect(newPassword).not.toBe(oldPassword);
    expect(await pg.canLogin("pgadmin", newPassword)).toBe(true);
    expect(await pg.canLogin("pgadmin", oldPassword)).toBe(false);
    expect(decode(after.data.uri)).toContain(encodeURIComponent(newPassword));
    // Crossplane's composed manager no longer owns the rotated keys; it still owns the rest.
    const owners = keyOwners(after);
    expect(owners[crossplaneManager as string]).toEqual(["database", "host", "port", "sslmode", "username"]);
    expect(Object.entries(owners).filter(([, keys]) => keys.includes("password")).map(([m]) => m)).not.toContain(crossplaneManager);
    expect(azure.vault("kv-team-ledger").versions("ledger-db-admin").map((v) => v.value)).toEqual([newPassword]);
    const deployment = await admin.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "ledger-migrations" });
    expect(deployment.spec.template.metadata.annotations).toEqual({ "rotation.azplatform.io/ledger-db-admin": "v1" });
    // No value in anything Crossplane shows.
    for (const o of [rotation, await admin.get(XR)]) expect(JSON.stringify(o)).not.toContain(newPassword);
  });

  it("the Database never writes the rotated key back, though Crossplane applies its Secret again", async () => {
    const before = await admin.get(secretRef("ledger-db-admin"));
    const rotated = decode(before.data.password);
    const crossplaneManager = Object.keys(keyOwners(before)).find((m) => m.startsWith("apiextensions.crossplane.io/composed/")) as string;
    // A new first database changes the Secret's `database` key: Crossplane must apply the Secret again.
    await admin.apply({ ...database, spec: { ...database.spec, databases: ["audit", ...database.spec.databases] } }, { fieldManager: ENGINEER });
    const after = await waitFor("Crossplane applying the Secret with the new first database", async () => {
      const s = await admin.get(secretRef("ledger-db-admin"));
      return decode(s.data.database) === "audit" ? s : undefined;
    }, 90_000);
    expect(decode(after.data.password)).toBe(rotated);
    expect(keyOwners(after)[crossplaneManager]).toEqual(["database", "host", "port", "sslmode", "username"]);
    expect(await pg.canLogin("pgadmin", rotated)).toBe(true);
    await eventually(admin, XR, "Synced", (o) => conditionOf(o, "Synced")?.status === "True");
  });

  it("a SecretRotation in another namespace naming this Database is refused by the function before it touches anything", async () => {
    const hostile = { ...ROTATION, namespace: "team-growth", name: "steal-ledger-admin" };
    await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: hostile.namespace } }, { fieldManager: "platform" });
    await admin.apply(optIn(hostile.namespace), { fieldManager: "platform" });
    const before = await admin.get(secretRef("ledger-db-admin"));
    const patches = azure.calls().length;
    await admin.apply(
      {
        apiVersion: hostile.apiVersion,
        kind: hostile.kind,
        metadata: { name: hostile.name, namespace: hostile.namespace },
        // It claims to be the ledger team and names its Database: neither gives it the server.
        spec: { team: "ledger", secretRef: { name: "ledger-db-admin", key: "password" }, rotateEvery: "720h", targets: { flexibleServerAdmin: { databaseRef: { name: XR.name } } } },
      },
      { fieldManager: ENGINEER },
    );
    const refused = await eventually(admin, hostile, "Synced=False", (o) => conditionOf(o, "Synced")?.status === "False", 60_000);
    expect(conditionOf(refused, "Synced")?.message).toContain('spec.targets.flexibleServerAdmin.databaseRef: Database "ledger" does not exist in namespace team-growth');
    expect(azure.calls().length).toBe(patches);
    expect((await admin.get(secretRef("ledger-db-admin"))).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(await admin.find({ apiVersion: "v1", kind: "Secret", namespace: hostile.namespace, name: "steal-ledger-admin-rotation-state" })).toBeUndefined();
  });

  it("deleting the SecretRotation gives the keys back to the Database as they are: its marks never silence the Database for good", async () => {
    const before = await admin.get(secretRef("ledger-db-admin"));
    const rotated = decode(before.data.password);
    const crossplaneManager = Object.keys(keyOwners(before)).find((m) => m.startsWith("apiextensions.crossplane.io/composed/")) as string;
    await admin.delete(ROTATION);
    const after = await waitFor("Crossplane applying password and uri again", async () => {
      const s = await admin.get(secretRef("ledger-db-admin"));
      return keyOwners(s)[crossplaneManager]?.includes("password") ? s : undefined;
    }, 90_000);
    expect(keyOwners(after)[crossplaneManager]).toEqual(["database", "host", "password", "port", "sslmode", "uri", "username"]);
    expect(decode(after.data.password)).toBe(rotated);
    expect(await pg.canLogin("pgadmin", rotated)).toBe(true);
  });

  it("a SecretRotation under a new name takes the Secret over once core reports the old one gone, and carries on from its version", async () => {
    const before = await admin.get(secretRef("ledger-db-admin"));
    // The deleted SecretRotation's marks are still on the Secret.
    expect(before.metadata.annotations).toMatchObject({ "rotation.azplatform.io/rotated-by": ROTATION.name, "rotation.azplatform.io/version": "1" });
    // The Database's first database is "audit" since the test before last: the login that proves a value connects there.
    await pg.query("CREATE DATABASE audit");
    const renamed = { ...ROTATION, name: "ledger-admin-rotation" };
    await admin.apply(
      {
        apiVersion: renamed.apiVersion,
        kind: renamed.kind,
        metadata: { name: renamed.name, namespace: NS },
        spec: {
          team: "ledger",
          secretRef: { name: "ledger-db-admin", key: "password" },
          rotateEvery: "720h",
          targets: { flexibleServerAdmin: { databaseRef: { name: XR.name } }, keyVault: { vaultName: "kv-team-ledger", secretName: "ledger-db-admin" } },
        },
      },
      { fieldManager: ENGINEER },
    );
    const rotated = (o: Obj) => o.status?.phase === "Idle" && o.status?.currentVersion === 2 && conditionOf(o, "RotationSucceeded")?.status === "True";
    await eventually(admin, renamed, "rotated (phase Idle, version 2, RotationSucceeded)", rotated, 100_000);
    const after = await admin.get(secretRef("ledger-db-admin"));
    expect(after.metadata.annotations).toMatchObject({
      "rotation.azplatform.io/rotated-by": renamed.name,
      "rotation.azplatform.io/took-over-from": ROTATION.name,
      "rotation.azplatform.io/version": "2",
    });
    const password = decode(after.data.password);
    expect(password).not.toBe(decode(before.data.password));
    expect(await pg.canLogin("pgadmin", password)).toBe(true);
    expect(azure.vault("kv-team-ledger").versions("ledger-db-admin").at(-1)?.tags).toMatchObject({ "rotated-by": `${NS}/${renamed.name}`, "rotation-version": "2" });
    // The Database handed the keys over again, to the new SecretRotation.
    const crossplaneManager = Object.keys(keyOwners(after)).find((m) => m.startsWith("apiextensions.crossplane.io/composed/")) as string;
    expect(keyOwners(after)[crossplaneManager]).toEqual(["database", "host", "port", "sslmode", "username"]);
    const deployment = await admin.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "ledger-migrations" });
    expect(deployment.spec.template.metadata.annotations).toEqual({ "rotation.azplatform.io/ledger-db-admin": "v2" });
  });
});
