// SecretRotation's protocol end to end against the real Kubernetes API server: this project's server process called
// over gRPC with a client built from the upstream proto, as core calls it (core itself is left out, so each test
// decides when the next call comes), a real PostgreSQL, and the Azure stand-in (Key Vault, ARM, Entra ID) reached
// through the production endpoints via HTTPS_PROXY. The function holds the token of its ServiceAccount, bound by
// examples/install/rbac.yaml alone, and impersonates the rotation identity of the namespace: the real authorizer,
// server-side apply (managedFields, shared ownership) and optimistic concurrency (409) are what it meets. Each
// response's desired XR status is fed back as the next observed status, as Crossplane does.
//
// Each SecretRotation also exists in the cluster, paused (crossplane.io/paused) so that core leaves it alone: its
// real uid owns the state Secret, and the real garbage collector keeps that Secret, or deletes it with its owner.
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PostgreSQLManagementFlexibleServerClient } from "@azure/arm-postgresql-flexible";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIELD_MANAGER } from "../../functions/secret-rotation/kubernetes.ts";
import { identityIn } from "../../functions/secret-rotation/identity.ts";
import { startAzureFake, trustCaInThisProcess, type AzureFake } from "../servers/azure/index.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { connect, type JsonObject, type PlainRequest, type PlainResponse, type RunFunctionClient } from "../support/proto-client.ts";
import { startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";
import { cluster, conditionOf, eventually, optIn } from "./context.ts";
import { KubeError, keyOwners, type Obj } from "./kube.ts";
import { waitFor } from "./processes.ts";

const { info, admin } = cluster();
// Namespaces of this file alone: every cluster file shares the one API server.
const NS = "rotation-protocol";
const OTHER = "rotation-protocol-other";
const SUB = "00000000-0000-0000-0000-000000000001";
const SERVER = "pg-payments-orders-prod-edfe87";
// The field manager core applies the composed resources of Database "orders" with (its ComposedFieldOwnerName).
const CROSSPLANE = `apiextensions.crossplane.io/composed/${createHash("sha256").update("ordersDatabase.azplatform.io").digest("hex")}`;
const XR_API = "azplatform.io/v1alpha1";
const CREATOR = "kubectl-create";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: unknown) => Buffer.from(String(s ?? ""), "base64").toString();

let pg: TestPostgres;
let azure: AzureFake;
let client: RunFunctionClient;
let fn: RunningServer;
let env: Record<string, string>;
/** The test's own ARM client: someone else working on a server (a scale, say) while a rotation runs. */
let arm: PostgreSQLManagementFlexibleServerClient;
let untrust: () => void = () => undefined;
/** What OTHER holds before any rotation ran. */
let otherBefore: Obj;

/** Holds an operation open: Azure works on it until the test opens the gate. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}
let scaleGate = gate();

const policy = {
  apiVersion: "fn.azplatform.io/v1alpha1",
  kind: "SecretRotationPolicy",
  subscriptionId: SUB,
  tenants: [{ namespaces: [NS], keyVaults: ["kv-payments"] }],
  allowedRoles: ["*_app"],
  fastestSchedule: "1h",
  credentials: { azure: "azure" },
};

/** A Flexible Server in the Azure stand-in whose admin is a real PostgreSQL role: a new admin password changes it. */
function addAdminServer(name: string, role: string, then: (password: string) => void = () => undefined): void {
  azure.addServer({
    subscriptionId: SUB,
    resourceGroup: "rg-data-prod",
    name,
    // As the Database function tags what it composes: the namespace of the Database.
    tags: { team: "payments", "azplatform-namespace": NS },
    onAdminPasswordChange: async (password: string) => {
      await pg.query(`ALTER ROLE ${role} PASSWORD '${password.replaceAll("'", "''")}'`);
      then(password);
    },
  });
}

const secretRef = (ns: string, name: string) => ({ apiVersion: "v1", kind: "Secret", namespace: ns, name });
const deploymentRef = (ns: string, name: string) => ({ apiVersion: "apps/v1", kind: "Deployment", namespace: ns, name });
function secret(ns: string, name: string, data: Record<string, string>) {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, type: "Opaque", data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}
function deployment(ns: string, name: string, container: JsonObject) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: "example/app:1", ...container }] } } },
  };
}
const conn = (user: string, password: string) => ({
  host: "127.0.0.1",
  port: String(pg.admin.port),
  database: "postgres",
  username: user,
  password,
  sslmode: "disable",
  uri: `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${pg.admin.port}/postgres?sslmode=disable`,
});

beforeAll(async () => {
  for (const name of [NS, OTHER]) await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } }, { fieldManager: "platform" });
  await admin.apply(optIn(NS), { fieldManager: "platform" });
  pg = await startPostgres();
  await pg.query("CREATE ROLE pgadmin LOGIN CREATEROLE PASSWORD 'admin-Old-Passw0rd'");
  await pg.query("CREATE ROLE orders_app LOGIN PASSWORD 'app-Old-Passw0rd'");
  await pg.query("GRANT orders_app TO pgadmin WITH ADMIN OPTION");
  azure = await startAzureFake({ vaults: ["kv-payments"], retryAfterSeconds: 1 });
  azure.addServer({
    subscriptionId: SUB,
    resourceGroup: "rg-data-prod",
    name: SERVER,
    tags: { team: "payments", "azplatform-namespace": NS },
    // The "server" really changes its admin password.
    onAdminPasswordChange: async (password: string) => {
      await pg.query(`ALTER ROLE pgadmin PASSWORD '${password.replaceAll("'", "''")}'`);
    },
    // A scale takes as long as the test holds `scaleGate`.
    onUpdate: ({ sku }) => (sku === undefined ? undefined : scaleGate.wait),
  });
  untrust = trustCaInThisProcess(azure.caPem);
  const credential = new ClientSecretCredential(azure.tenantId, azure.clientId, azure.clientSecret, { authorityHost: azure.authorityHost, disableInstanceDiscovery: true });
  arm = new PostgreSQLManagementFlexibleServerClient(credential, SUB, { endpoint: azure.armEndpoint });

  // The Database's Secret, applied by its Crossplane composition; an app's Secret and Deployments, created by an
  // engineer.
  await seedApply(conn("pgadmin", "admin-Old-Passw0rd"));
  await database("orders", SERVER, "orders-db");
  await create(secret(NS, "orders-app-db", conn("orders_app", "app-Old-Passw0rd")));
  await create(deployment(NS, "api", { env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "orders-app-db", key: "password" } } }] }));
  await create(deployment(NS, "admin-tool", { envFrom: [{ secretRef: { name: "orders-db" } }] }));
  await create(deployment(NS, "unrelated", {}));
  // Another namespace, not opted in, with the same names: nothing of NS may ever reach it.
  await create(secret(OTHER, "orders-app-db", conn("orders_app", "app-Old-Passw0rd")));
  await create(deployment(OTHER, "api", { envFrom: [{ secretRef: { name: "orders-app-db" } }] }));
  otherBefore = await otherNamespace();

  const kubeconfig = info.functionKubeconfig;
  env = { KUBECONFIG: kubeconfig, NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: "127.0.0.1,localhost", METRICS_ADDRESS: "off" };
  fn = await startServer({ insecure: true, env, readyTimeoutMs: 60_000 });
  client = connect(fn.address);
}, 120_000);

afterAll(async () => {
  client?.close();
  if (fn !== undefined) await writeFile(join(info.dir, "logs", `function-${fn.port}.log`), `${fn.logs().join("\n")}\n`).catch(() => undefined);
  await stopAllServers();
  untrust();
  await azure?.close();
  await pg?.stop();
});

/** What `kubectl create` does: a POST, recorded in managedFields as an Update by its field manager. */
async function create(o: Obj): Promise<void> {
  await admin.create(o, CREATOR);
}

/** What the Database's Crossplane composition does: server-side apply of its desired Secret as its field manager. */
async function seedApply(data: Record<string, string>) {
  await admin.apply(secret(NS, "orders-db", data), { fieldManager: CROSSPLANE, force: true });
}

/**
 * The SecretRotation as core observes it: the object in the cluster (applied paused, so core leaves it to the test)
 * with its real uid, and the annotations and status the test gives.
 */
async function xr(name: string, spec: JsonObject, annotations: Record<string, string> = {}, namespace = NS): Promise<JsonObject> {
  const full = { team: "payments", rotateEvery: "720h", ...spec };
  const paused = { name, namespace, annotations: { "crossplane.io/paused": "true" } };
  const inCluster = await admin.apply({ apiVersion: XR_API, kind: "SecretRotation", metadata: paused, spec: full }, { fieldManager: "engineer" });
  return { apiVersion: XR_API, kind: "SecretRotation", metadata: { name, namespace, annotations, uid: inCluster.metadata.uid }, spec: full };
}
const withStatus = (resource: JsonObject, status: JsonObject | undefined): JsonObject => (status === undefined ? resource : { ...resource, status });

const credentials = () => ({
  azure: { credentialData: { data: { clientId: Buffer.from(azure.clientId), clientSecret: Buffer.from(azure.clientSecret), tenantId: Buffer.from(azure.tenantId) } } },
});

/**
 * A paused Database whose status names its server, as core leaves it once the function composed it: what a
 * SecretRotation's databaseRef resolves to.
 */
async function database(name: string, serverName: string, connectionSecretName: string): Promise<void> {
  const ref = { apiVersion: XR_API, kind: "Database", namespace: NS, name };
  const spec = { team: "payments", size: "small", version: "16", storageGB: 32, highAvailability: false, databases: [name], connectionSecretName };
  await admin.apply({ apiVersion: XR_API, kind: "Database", metadata: { name, namespace: NS, annotations: { "crossplane.io/paused": "true" } }, spec }, { fieldManager: "engineer" });
  await admin.mergePatch(ref, { status: { serverName, resourceGroupName: "rg-data-prod", connectionSecretName } }, "status");
}

/** One reconcile's calls, as core makes them: call, fetch the required resources it names, call again until they settle. */
async function call(resource: JsonObject, through = client): Promise<PlainResponse> {
  const req: PlainRequest = { meta: { tag: "cluster-rotation" }, observed: { composite: { resource } }, input: policy, credentials: credentials() };
  let rsp = await through.runFunction(req, { deadlineMs: 60_000 });
  for (let i = 0; i < 5 && Object.keys(rsp.requirements?.resources ?? {}).length > 0; i++) {
    const wanted = Object.entries(rsp.requirements?.resources ?? {});
    const found = await Promise.all(wanted.map(async ([key, sel]) => [key, await admin.find({ apiVersion: sel.apiVersion ?? "", kind: sel.kind ?? "", namespace: sel.namespace ?? "", name: sel.matchName ?? "" })] as const));
    const requiredResources = Object.fromEntries(found.map(([key, o]) => [key, { items: o === undefined ? [] : [{ resource: o as JsonObject }] }]));
    const again = await through.runFunction({ ...req, requiredResources }, { deadlineMs: 60_000 });
    const settled = JSON.stringify(again.requirements) === JSON.stringify(rsp.requirements);
    rsp = again;
    if (settled) break;
  }
  return rsp;
}

/** Crossplane's loop: call, apply the desired status, call again, until Idle (or the limit). */
async function reconcile(name: string, spec: JsonObject, annotations: Record<string, string> = {}, status?: JsonObject, limit = 4) {
  const resource = await xr(name, spec, annotations);
  let observed = status;
  let rsp: PlainResponse | undefined;
  for (let i = 0; i < limit; i++) {
    rsp = await call(withStatus(resource, observed));
    observed = statusOf(rsp);
    if (observed?.phase === "Idle" || observed?.phase === "Failed") break;
  }
  return { rsp: rsp as PlainResponse, status: observed as JsonObject };
}

const appSpec = {
  secretRef: { name: "orders-app-db", key: "password" },
  targets: { postgresRole: { name: "orders_app", strategy: "alternating", adminSecretRef: { name: "orders-db" } }, keyVault: { vaultName: "kv-payments", secretName: "orders-app-password" } },
};
const adminSpec = {
  secretRef: { name: "orders-db", key: "password" },
  targets: { flexibleServerAdmin: { databaseRef: { name: "orders" } }, keyVault: { vaultName: "kv-payments", secretName: "orders-db-admin" } },
};
const statusOf = (rsp: PlainResponse) => (rsp.desired?.composite?.resource as JsonObject).status as JsonObject;
const data = async (ns: string, name: string): Promise<Record<string, string>> =>
  Object.fromEntries(Object.entries(((await admin.get(secretRef(ns, name))).data ?? {}) as Record<string, string>).map(([k, v]) => [k, unb64(v)]));
const podAnnotations = async (ns: string, name: string): Promise<Record<string, string>> => (await admin.get(deploymentRef(ns, name))).spec.template.metadata.annotations ?? {};
const armPatches = (server: string) => azure.calls().filter((c) => c.method === "PATCH" && c.path.endsWith(`/flexibleServers/${server}`)).map((c) => c.status);

/** What waiting out the back-off does, without the wait: the retry time, in the state Secret and in the status, is now. */
async function retryNow(name: string, status: JsonObject): Promise<JsonObject> {
  const now = new Date().toISOString();
  await admin.mergePatch(secretRef(NS, `${name}-rotation-state`), { metadata: { annotations: { "rotation.azplatform.io/retry-at": now } } });
  return { ...status, retryAt: now };
}

/** Who owns which data keys of a Secret, by field manager, as the API server records it. */
/** The objects of OTHER, with their resourceVersions: any write to them changes these. */
async function otherNamespace(): Promise<Obj> {
  const s = await admin.get(secretRef(OTHER, "orders-app-db"));
  const d = await admin.get(deploymentRef(OTHER, "api"));
  return {
    secret: { resourceVersion: s.metadata.resourceVersion, labels: s.metadata.labels, annotations: s.metadata.annotations, data: await data(OTHER, "orders-app-db") },
    deployment: { resourceVersion: d.metadata.resourceVersion, generation: d.metadata.generation, podAnnotations: d.spec.template.metadata.annotations },
  };
}

describe("SecretRotation over gRPC against the real API server, with real PostgreSQL and the Azure stand-in", () => {
  let appStatus: JsonObject;

  it("rotates an application role with alternating users: both credentials valid, Secret, Key Vault and consumers updated", async () => {
    const { rsp, status } = await reconcile("orders-app-password", appSpec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 1, schedule: "720h" });
    expect(rsp.conditions?.[0]).toMatchObject({ type: "RotationSucceeded", status: "STATUS_CONDITION_TRUE", reason: "Rotated" });
    const app = await data(NS, "orders-app-db");
    expect(app.username).toBe("orders_app_clone");
    expect(app.uri).toBe(conn("orders_app_clone", app.password ?? "").uri);
    expect(await pg.canLogin("orders_app_clone", app.password ?? "")).toBe(true);
    expect(await pg.canLogin("orders_app", "app-Old-Passw0rd")).toBe(true);
    expect(azure.vault("kv-payments").versions("orders-app-password").map((v) => ({ value: v.value, tags: v.tags }))).toEqual([
      { value: app.password, tags: { "rotation-id": "initial", "rotation-version": "1", "rotated-by": `${NS}/orders-app-password`, "managed-by": "azplatform.io" } },
    ]);
    expect(await podAnnotations(NS, "api")).toEqual({ "rotation.azplatform.io/orders-app-db": "v1" });
    expect(await podAnnotations(NS, "unrelated")).toEqual({});
    // Applied with the rotation's marks, so a WatchOperation can select rotated Secrets by label.
    const appSecret = await admin.get(secretRef(NS, "orders-app-db"));
    expect(appSecret.metadata).toMatchObject({
      labels: { "rotation.azplatform.io/managed": "true" },
      annotations: { "rotation.azplatform.io/rotated-by": "orders-app-password", "rotation.azplatform.io/version": "1" },
    });
    // Server-side apply with new values took the keys it rotates from their creator, who keeps the others.
    expect(keyOwners(appSecret)).toEqual({ [CREATOR]: ["database", "host", "port", "sslmode"], [FIELD_MANAGER]: ["password", "uri", "username"] });
    // No value in the response.
    expect(JSON.stringify(rsp)).not.toContain(app.password);
    // The state Secret belongs to the XR, by the uid the API server gave it; core saw the XR and left it alone.
    const ref = { apiVersion: XR_API, kind: "SecretRotation", namespace: NS, name: "orders-app-password" };
    const { uid } = (await eventually(admin, ref, "paused by core", (o) => conditionOf(o, "Synced")?.reason === "ReconcilePaused")).metadata;
    expect((await admin.get(secretRef(NS, "orders-app-password-rotation-state"))).metadata.ownerReferences).toEqual([
      { apiVersion: XR_API, kind: "SecretRotation", name: "orders-app-password", uid, blockOwnerDeletion: false, controller: false },
    ]);
    appStatus = status;
  });

  it("asks to be called at its next drift check when nothing is due, touching neither Azure, PostgreSQL nor any object", async () => {
    // That an idle call makes no connection at all, Kubernetes included, is test/e2e/rotation-idle.test.ts.
    azure.resetCalls();
    const logged = pg.log.length;
    const state = await admin.get(secretRef(NS, "orders-app-password-rotation-state"));
    const rsp = await call(withStatus(await xr("orders-app-password", appSpec), appStatus));
    expect(azure.calls()).toEqual([]);
    expect(pg.log.length).toBe(logged);
    expect((await admin.get(secretRef(NS, "orders-app-password-rotation-state"))).metadata.resourceVersion).toBe(state.metadata.resourceVersion);
    // The drift check comes first: ten minutes after the rotation (the policy's default driftCheckEvery).
    expect(Date.parse(String(appStatus.nextCheckAt))).toBeLessThan(Date.parse(String(appStatus.nextRotationAt)));
    expect(rsp.meta?.ttl?.seconds).toBe(Math.ceil((Date.parse(String(appStatus.nextCheckAt)) - Date.now()) / 1000));
    expect(statusOf(rsp)).toEqual(appStatus);
  });

  it("rotates again once per distinct rotate-now value, back to the first role", async () => {
    const { status } = await reconcile("orders-app-password", appSpec, { "azplatform.io/rotate-now": "1" }, appStatus);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 2, handledTrigger: "1" });
    const app = await data(NS, "orders-app-db");
    expect(app.username).toBe("orders_app");
    expect(await pg.canLogin("orders_app", app.password ?? "")).toBe(true);
    expect(await pg.canLogin("orders_app", "app-Old-Passw0rd")).toBe(false);
    expect(await podAnnotations(NS, "api")).toEqual({ "rotation.azplatform.io/orders-app-db": "v2" });
    const again = await reconcile("orders-app-password", appSpec, { "azplatform.io/rotate-now": "1" }, status);
    expect(again.status).toMatchObject({ currentVersion: 2 });
  });

  it("takes the Database's admin password over from its composition's field manager, then rotates it through ARM", async () => {
    const first = await call(await xr("orders-admin-password", adminSpec));
    expect(statusOf(first)).toMatchObject({ phase: "Waiting", currentVersion: 0 });
    expect(first.conditions?.[0]?.message).toBe(
      `waiting for ${CROSSPLANE} (data.password), ${CROSSPLANE} (data.uri) to stop writing Secret orders-db; a Database hands its keys over on its next reconcile, any other writer must stop applying them`,
    );
    const marked = await admin.get(secretRef(NS, "orders-db"));
    expect(marked.metadata).toMatchObject({ annotations: { "rotation.azplatform.io/rotated-by": "orders-admin-password", "rotation.azplatform.io/owned-keys": "password,uri" } });
    // Applying the same values, the rotation shares the keys with Crossplane's manager: no conflict, no takeover yet.
    expect(keyOwners(marked)).toEqual({ [CROSSPLANE]: ["database", "host", "password", "port", "sslmode", "uri", "username"], [FIELD_MANAGER]: ["password", "uri"] });
    // The Database function sees the mark and applies its Secret without the keys it handed over; the values stay,
    // owned by the rotation alone.
    const { password: _p, uri: _u, ...rest } = conn("pgadmin", "admin-Old-Passw0rd");
    await seedApply(rest);
    const handedOver = await admin.get(secretRef(NS, "orders-db"));
    expect(unb64(handedOver.data.password)).toBe("admin-Old-Passw0rd");
    expect(keyOwners(handedOver)).toEqual({ [CROSSPLANE]: ["database", "host", "port", "sslmode", "username"], [FIELD_MANAGER]: ["password", "uri"] });

    const { status } = await reconcile("orders-admin-password", adminSpec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const rotated = await data(NS, "orders-db");
    expect(await pg.canLogin("pgadmin", rotated.password ?? "")).toBe(true);
    expect(await pg.canLogin("pgadmin", "admin-Old-Passw0rd")).toBe(false);
    expect(rotated.uri).toBe(conn("pgadmin", rotated.password ?? "").uri);
    expect(azure.calls().filter((c) => c.service === "arm" && c.method === "PATCH")).toHaveLength(1);
    expect(await podAnnotations(NS, "admin-tool")).toEqual({ "rotation.azplatform.io/orders-db": "v1" });
    // Key Vault returns values by design; no function log line ever carries one.
    const logs = fn.logs().join("\n");
    for (const v of [rotated.password, (await data(NS, "orders-app-db")).password, "admin-Old-Passw0rd", "app-Old-Passw0rd"]) expect(logs).not.toContain(v);
    // The app role rotation keeps working with the rotated admin Secret.
    const { status: s3 } = await reconcile("orders-app-password", appSpec, { "azplatform.io/rotate-now": "2" }, appStatus);
    expect(s3).toMatchObject({ phase: "Idle", currentVersion: 3 });
  });

  it("an app Secret edited by hand is written back at the next drift check, naming the field manager that wrote it", async () => {
    const trigger = { "azplatform.io/rotate-now": "2" };
    const { status } = await reconcile("orders-app-password", appSpec, trigger);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 3 });
    const before = await data(NS, "orders-app-db");
    // What `kubectl edit` sends: an update recorded under its own field manager.
    await admin.mergePatch(secretRef(NS, "orders-app-db"), { data: { password: b64("edited-by-Hand-1") } }, undefined, "kubectl-edit");
    // The check is due (driftCheckEvery after the last one), without the wait.
    const past = new Date(Date.now() - 1000).toISOString();
    await admin.mergePatch(secretRef(NS, "orders-app-password-rotation-state"), { metadata: { annotations: { "rotation.azplatform.io/verified-at": "2026-01-01T00:00:00.000Z" } } });
    const rsp = await call(withStatus(await xr("orders-app-password", appSpec, trigger), { ...status, nextCheckAt: past }));
    const message =
      "data.password held another value than version 3, last written by field manager(s) kubectl-edit; version 3 was written back. " +
      "A writer that keeps applying these keys must stop, or apps will read a value the target rejects between drift checks";
    expect(rsp.results).toEqual([{ severity: "SEVERITY_WARNING", reason: "DriftRepaired", message, target: "TARGET_COMPOSITE" }]);
    expect(await data(NS, "orders-app-db")).toEqual(before);
    expect(statusOf(rsp)).toMatchObject({ phase: "Idle", currentVersion: 3 });
  });

  it("a SecretRotation renamed in Git: the new one waits while the old exists, then takes the Secret and the role over from its version", async () => {
    const claim = "Secret orders-app-db is already rotated by SecretRotation orders-app-password; a Secret can have only one rotation (delete orders-app-password to hand it over)";
    const before = await admin.get(secretRef(NS, "orders-app-db"));
    const { rsp: refused, status: waiting } = await reconcile("orders-app-rotation", appSpec);
    expect(refused.results).toEqual([{ severity: "SEVERITY_WARNING", reason: "SecretClaimed", message: claim, target: "TARGET_COMPOSITE" }]);
    expect(waiting).toMatchObject({ phase: "Failed", lastError: claim });
    expect((await admin.get(secretRef(NS, "orders-app-db"))).metadata.resourceVersion).toBe(before.metadata.resourceVersion);

    await admin.delete({ apiVersion: XR_API, kind: "SecretRotation", namespace: NS, name: "orders-app-password" });
    const gone = { apiVersion: XR_API, kind: "SecretRotation", namespace: NS, name: "orders-app-password" };
    await waitFor("SecretRotation orders-app-password to be deleted", async () => ((await admin.find(gone)) === undefined ? true : undefined), 60_000);
    const { status } = await reconcile("orders-app-rotation", appSpec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 4 });
    const app = await data(NS, "orders-app-db");
    // Version 3 was on the clone; version 4 goes to orders_app, fenced now by the successor.
    expect(app.username).toBe("orders_app");
    expect(await pg.canLogin("orders_app", app.password ?? "")).toBe(true);
    const comment = await pg.query("SELECT shobj_description(oid, 'pg_authid') AS c FROM pg_roles WHERE rolname = 'orders_app'");
    expect(comment.rows[0]?.c).toBe(`[azplatform.io/rotation ${NS}/orders-app-rotation v=4]`);
    expect(await podAnnotations(NS, "api")).toEqual({ "rotation.azplatform.io/orders-app-db": "v4" });
    expect(azure.vault("kv-payments").versions("orders-app-password").at(-1)?.tags).toEqual({
      "rotation-id": "initial",
      "rotation-version": "4",
      "rotated-by": `${NS}/orders-app-rotation`,
      "managed-by": "azplatform.io",
    });
  });

  it("two simultaneous calls for a new SecretRotation make exactly one rotation", async () => {
    await create(secret(NS, "reports-db", conn("reports_app", "rep-Old-Passw0rd")));
    await pg.query("CREATE ROLE reports_app LOGIN PASSWORD 'rep-Old-Passw0rd'");
    await pg.query("GRANT reports_app TO pgadmin WITH ADMIN OPTION");
    const spec = { secretRef: { name: "reports-db", key: "password" }, targets: { postgresRole: { name: "reports_app", adminSecretRef: { name: "orders-db" } }, keyVault: { vaultName: "kv-payments", secretName: "reports" } } };
    const resource = await xr("reports-password", spec);
    const [a, b] = await Promise.all([call(resource), call(resource)]);
    for (const r of [a, b]) expect(statusOf(r)).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const value = (await data(NS, "reports-db")).password ?? "";
    expect(await pg.canLogin("reports_app", value)).toBe(true);
    expect(new Set(azure.vault("kv-payments").versions("reports").map((v) => v.value))).toEqual(new Set([value]));
  });

  it("an unreachable PostgreSQL fails in plain words before anything changes, and keeps the current value", async () => {
    await create(secret(NS, "broken-admin", { ...conn("pgadmin", "x"), port: "1" }));
    await create(secret(NS, "broken-db", conn("orders_app", "unchanged-Passw0rd")));
    const spec = { secretRef: { name: "broken-db", key: "password" }, targets: { postgresRole: { name: "orders_app", adminSecretRef: { name: "broken-admin" } } } };
    const before = await data(NS, "broken-db");
    const rsp = await call(await xr("broken", spec));
    expect(statusOf(rsp)).toMatchObject({ phase: "Failed", currentVersion: 0 });
    expect(rsp.results?.[0]).toMatchObject({ severity: "SEVERITY_WARNING", reason: "RotationFailed" });
    expect(rsp.results?.[0]?.message).toMatch(/^Pending failed: cannot connect to PostgreSQL at 127\.0\.0\.1:1 to read the rotation fence of role "orders_app": ECONNREFUSED; the apps keep version 0, retrying at .* \(attempt 1\)$/);
    expect(await data(NS, "broken-db")).toEqual(before);
  });

  it("a scale that outlasts the wait for a busy server fails the Set in plain words; the retry from the saved phase sets the same value", async () => {
    const before = await data(NS, "orders-db");
    const trigger = { "azplatform.io/rotate-now": "arm-1" };
    scaleGate = gate();
    const scaling = await arm.servers.beginUpdate("rg-data-prod", SERVER, { sku: { name: "Standard_D4ds_v5", tier: "GeneralPurpose" } });
    azure.resetCalls();

    const rsp = await call(await xr("orders-admin-password", adminSpec, trigger));
    const failedStatus = statusOf(rsp);
    expect(failedStatus).toMatchObject({ phase: "Failed", currentVersion: 1 });
    const cause = `Set failed: Azure Resource Manager: cannot set the admin password of rg-data-prod/${SERVER}, which was still busy with another operation after 14 s: HTTP 409 ServerBusy Server '${SERVER}' is busy with another operation. Please try again later.`;
    const [reported, retry] = (rsp.results?.[0]?.message ?? "").split("; the apps keep ");
    expect(reported).toBe(cause);
    expect(retry).toMatch(/^version 1, retrying at \S+ \(attempt 1\)$/);
    expect(rsp.conditions?.[0]).toMatchObject({ type: "RotationSucceeded", status: "STATUS_CONDITION_FALSE", reason: "RotationFailed" });
    expect(armPatches(SERVER)).toEqual([409, 409, 409, 409]); // waited 2 + 4 + 8 s between them
    // Nothing promoted: the apps and the server keep the current value; the pending one is saved for the retry.
    expect(await data(NS, "orders-db")).toEqual(before);
    expect(await pg.canLogin("pgadmin", before.password ?? "")).toBe(true);
    expect(azure.vault("kv-payments").versions("orders-db-admin")).toHaveLength(1);
    const state = await admin.get(secretRef(NS, "orders-admin-password-rotation-state"));
    expect(state.metadata).toMatchObject({ annotations: { "rotation.azplatform.io/phase": "Pending" } });
    const pending = unb64(state.data.pending);
    expect(pending).not.toBe("");
    for (const value of [pending, before.password ?? ""]) {
      expect(JSON.stringify(rsp)).not.toContain(value);
      expect(fn.logs().join("\n")).not.toContain(value);
    }

    // The scale ends; at the retry time the rotation continues from its saved phase, with the saved value.
    scaleGate.open();
    await scaling.pollUntilDone();
    const { status } = await reconcile("orders-admin-password", adminSpec, trigger, await retryNow("orders-admin-password", failedStatus));
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 2, handledTrigger: "arm-1" });
    expect((await data(NS, "orders-db")).password).toBe(pending);
    expect(await pg.canLogin("pgadmin", pending)).toBe(true);
    expect(azure.vault("kv-payments").versions("orders-db-admin").map((v) => v.value)).toEqual([before.password, pending]);
    expect(armPatches(SERVER)).toEqual([409, 409, 409, 409, 202]);
  }, 60_000);

  it("two simultaneous calls for a Flexible Server admin rotation make exactly one rotation, though Azure refuses the second PATCH while the first runs", async () => {
    await pg.query("CREATE ROLE twinadmin LOGIN CREATEROLE PASSWORD 'twin-Old-Passw0rd'");
    await create(secret(NS, "twin-db", conn("twinadmin", "twin-Old-Passw0rd")));
    await database("twin", "pg-payments-twin-3c4d5e", "twin-db");
    const seen: string[] = [];
    addAdminServer("pg-payments-twin-3c4d5e", "twinadmin", (password) => seen.push(password));
    const spec = {
      secretRef: { name: "twin-db", key: "password" },
      targets: { flexibleServerAdmin: { databaseRef: { name: "twin" } }, keyVault: { vaultName: "kv-payments", secretName: "twin-admin" } },
    };
    const resource = await xr("twin-password", spec);

    const [a, b] = await Promise.all([call(resource), call(resource)]);

    for (const r of [a, b]) expect(statusOf(r)).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const value = (await data(NS, "twin-db")).password ?? "";
    expect(await pg.canLogin("twinadmin", value)).toBe(true);
    // However the two calls interleave (the second may find the first's PATCH running, answered 409, and wait it
    // out), every PATCH Azure accepted set the one value.
    expect(armPatches("pg-payments-twin-3c4d5e").filter((s) => s !== 409 && s !== 202)).toEqual([]);
    expect(new Set(seen)).toEqual(new Set([value]));
    // Key Vault has no conditional write: two calls publishing at once may each add a version, of the same value.
    expect(new Set(azure.vault("kv-payments").versions("twin-admin").map((v) => v.value))).toEqual(new Set([value]));
  });

  it("a Database whose status names another namespace's server (a namespace editor may write it): Azure's namespace tag refuses it, and nothing is set", async () => {
    const foreign = "pg-ledger-books-prod-9f8e7d";
    const seen: string[] = [];
    azure.addServer({ subscriptionId: SUB, resourceGroup: "rg-data-prod", name: foreign, tags: { team: "ledger", "azplatform-namespace": "team-ledger" }, onAdminPasswordChange: (p) => void seen.push(p) });
    await create(secret(NS, "books-db", conn("pgadmin", "unused-Passw0rd")));
    await database("books", foreign, "books-db");
    const spec = { secretRef: { name: "books-db", key: "password" }, targets: { flexibleServerAdmin: { databaseRef: { name: "books" } } } };

    const { status } = await reconcile("books-password", spec);

    expect(status).toMatchObject({ phase: "Failed", currentVersion: 0 });
    expect(status.lastError).toMatch(
      new RegExp(`^Pending failed: Flexible Server rg-data-prod/${foreign} carries another namespace's Azure tag azplatform-namespace, not ${NS}: .*; nothing was changed;`),
    );
    const reads = azure.calls().filter((c) => c.service === "arm" && c.path.endsWith(`/flexibleServers/${foreign}`));
    expect(reads.map((c) => [c.method, c.status])).toEqual([["GET", 200]]);
    expect(seen).toEqual([]);
    expect((await data(NS, "books-db")).password).toBe("unused-Passw0rd");
  });

  it("a wrong Azure client secret fails in plain words and touches nothing", async () => {
    await create(secret(NS, "kv-only", { password: "kv-Old-Passw0rd" }));
    const spec = { secretRef: { name: "kv-only", key: "password" }, targets: { keyVault: { vaultName: "kv-payments", secretName: "kv-only" } } };
    const req: PlainRequest = {
      meta: { tag: "cluster-rotation" },
      observed: { composite: { resource: await xr("kv-only", spec) } },
      input: policy,
      credentials: { azure: { credentialData: { data: { clientId: Buffer.from(azure.clientId), clientSecret: Buffer.from("wrong"), tenantId: Buffer.from(azure.tenantId) } } } },
    };
    const rsp = await client.runFunction(req, { deadlineMs: 60_000 });
    expect(statusOf(rsp)).toMatchObject({ phase: "Failed" });
    expect(rsp.results?.[0]?.message).toMatch(/^Pending failed: Key Vault kv-payments: cannot read secret kv-only: .*(invalid_client|AADSTS7000215|authentication)/i);
    expect(rsp.results?.[0]?.message).not.toContain("wrong");
    expect((await data(NS, "kv-only")).password).toBe("kv-Old-Passw0rd");
  });

  it("the function process is killed right after Azure accepted the new admin password: a new process finishes with the same value, sending no second PATCH", async () => {
    await pg.query("CREATE ROLE crashadmin LOGIN CREATEROLE PASSWORD 'crash-Old-Passw0rd'");
    await create(secret(NS, "crash-db", conn("crashadmin", "crash-Old-Passw0rd")));
    await database("crash", "pg-payments-crash-0a1b2c", "crash-db");
    const doomed = await startServer({ insecure: true, env, readyTimeoutMs: 60_000 });
    const seen: string[] = [];
    addAdminServer("pg-payments-crash-0a1b2c", "crashadmin", (password) => {
      seen.push(password);
      if (seen.length === 1) doomed.process.kill("SIGKILL");
    });
    const spec = {
      secretRef: { name: "crash-db", key: "password" },
      targets: { flexibleServerAdmin: { databaseRef: { name: "crash" } }, keyVault: { vaultName: "kv-payments", secretName: "crash-admin" } },
    };
    const c1 = connect(doomed.address);
    const lost = await call(await xr("crash-password", spec), c1).then(
      () => "answered",
      () => "lost",
    );
    c1.close();
    expect(lost).toBe("lost");
    // The database now accepts only the new value, which exists nowhere but in the durable pending state.
    expect(await pg.canLogin("crashadmin", "crash-Old-Passw0rd")).toBe(false);
    expect((await data(NS, "crash-db")).password).toBe("crash-Old-Passw0rd");

    const { status } = await reconcile("crash-password", spec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const now = (await data(NS, "crash-db")).password ?? "";
    // The new process finds the server already accepting the pending value: it sends no second PATCH.
    expect(seen).toEqual([now]);
    expect(armPatches("pg-payments-crash-0a1b2c")).toEqual([202]);
    expect(await pg.canLogin("crashadmin", now)).toBe(true);
    expect(azure.vault("kv-payments").versions("crash-admin").map((v) => v.value)).toEqual([now]);
  });

  it("deleting a SecretRotation deletes its stored values: the real garbage collector follows the state Secret's owner", async () => {
    const state = secretRef(NS, "reports-password-rotation-state");
    expect(await admin.find(state)).toBeDefined();
    await admin.delete({ apiVersion: XR_API, kind: "SecretRotation", namespace: NS, name: "reports-password" });
    await waitFor("the garbage collector to delete Secret reports-password-rotation-state", async () => ((await admin.find(state)) === undefined ? true : undefined), 90_000);
    // The app's Secret is not the XR's: it stays, with the rotated value.
    expect(await pg.canLogin("reports_app", (await data(NS, "reports-db")).password ?? "")).toBe(true);
  });

  it("never reaches another namespace: its objects are untouched, and the API server refuses the function's identities there", async () => {
    expect(await otherNamespace()).toEqual(otherBefore);
    const fnKube = admin.as(info.functionToken);
    const status = async (p: Promise<unknown>) => p.then(() => 200, (e: unknown) => (e instanceof KubeError ? e.status : -1));
    const asNs = fnKube.impersonate(identityIn(NS));
    const asOther = fnKube.impersonate(identityIn(OTHER));
    expect({
      readAsNs: await status(asNs.get(secretRef(OTHER, "orders-app-db"))),
      rollAsNs: await status(asNs.mergePatch(deploymentRef(OTHER, "api"), { spec: { template: { metadata: { annotations: { roll: "v9" } } } } })),
      readAsOther: await status(asOther.get(secretRef(OTHER, "orders-app-db"))),
      readInNs: await status(asNs.get(secretRef(NS, "orders-app-db"))),
    }).toEqual({ readAsNs: 403, rollAsNs: 403, readAsOther: 403, readInNs: 200 });

    // The policy grants Key Vault kv-payments to NS alone: from OTHER it is refused before any call.
    const vault = await call(await xr("orders-app-password", appSpec, {}, OTHER));
    expect(vault.results).toEqual([
      {
        severity: "SEVERITY_FATAL",
        reason: "TargetNotAllowed",
        message: `spec.targets.keyVault.vaultName "kv-payments" is not granted to namespace ${OTHER} by the policy; granted: none`,
        target: "TARGET_COMPOSITE",
      },
    ]);
    // A SecretRotation of the namespace that did not opt in: the function's first call there is refused.
    const roleOnly = { ...appSpec, targets: { postgresRole: appSpec.targets.postgresRole } };
    const rsp = await call(await xr("orders-app-password", roleOnly, {}, OTHER));
    const message =
      `cannot rotate now: Kubernetes refused to read Secret orders-app-password-rotation-state in namespace ${OTHER} (403): ` +
      `secrets "orders-app-password-rotation-state" is forbidden: User "${identityIn(OTHER)}" cannot get resource "secrets" in API group "" in the namespace "${OTHER}"; ` +
      `bind ClusterRole function-azure-platform-rotation to ServiceAccount azplatform-secret-rotation in namespace ${OTHER} (examples/install/rbac.yaml); ` +
      "the rotation resumes from its last saved step, retrying in 30 s";
    expect(rsp.conditions).toEqual([
      { type: "RotationSucceeded", status: "STATUS_CONDITION_FALSE", reason: "StateUnavailable", message, target: "TARGET_COMPOSITE" },
    ]);
    expect(await otherNamespace()).toEqual(otherBefore);
  });
});
