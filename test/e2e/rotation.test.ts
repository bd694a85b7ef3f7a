// SecretRotation end to end: the real server process over gRPC (client from the upstream proto), a real
// PostgreSQL, and local Kubernetes API / Key Vault / ARM / Entra ID servers reached through the production
// endpoints (vault.azure.net, management.azure.com, login.microsoftonline.com) via HTTPS_PROXY. Each response's
// desired XR status is fed back as the next observed status, as Crossplane does.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PostgreSQLManagementFlexibleServerClient } from "@azure/arm-postgresql-flexible";
import { ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startAzureFake, trustCaInThisProcess, type AzureFake } from "../servers/azure/index.ts";
import { startKubeFake, type KubeFake } from "../servers/kubernetes.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { connect, type JsonObject, type PlainRequest, type PlainResponse, type RunFunctionClient } from "../support/proto-client.ts";
import { startServer, stopAllServers, type RunningServer } from "../support/server-process.ts";

const SUB = "00000000-0000-0000-0000-000000000001";
const SERVER = "pg-payments-orders-prod-edfe87";
const NS = "team-payments";
const CROSSPLANE = "apiextensions.crossplane.io/composed/3f2a9c";
const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: unknown) => Buffer.from(String(s ?? ""), "base64").toString();

let pg: TestPostgres;
let kube: KubeFake;
let azure: AzureFake;
let client: RunFunctionClient;
let fn: RunningServer;
/** The test's own ARM client: someone else working on a server (a scale, say) while a rotation runs. */
let arm: PostgreSQLManagementFlexibleServerClient;
let untrust: () => void = () => undefined;

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
  allowedVaults: ["kv-payments"],
  allowedServers: [{ resourceGroupName: "rg-data-prod", serverName: "pg-payments-*" }],
  allowedRoles: ["*_app"],
  fastestSchedule: "1h",
  credentials: { azure: "azure" },
};

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
  pg = await startPostgres();
  await pg.query("CREATE ROLE pgadmin LOGIN CREATEROLE PASSWORD 'admin-Old-Passw0rd'");
  await pg.query("CREATE ROLE orders_app LOGIN PASSWORD 'app-Old-Passw0rd'");
  await pg.query("GRANT orders_app TO pgadmin WITH ADMIN OPTION");
  kube = await startKubeFake();
  azure = await startAzureFake({ vaults: ["kv-payments"], retryAfterSeconds: 1 });
  azure.addServer({
    subscriptionId: SUB,
    resourceGroup: "rg-data-prod",
    name: SERVER,
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
  // The Database's Secret, applied by its Crossplane composition; an app Secret; consumers.
  kube.put(secret(NS, "orders-db", conn("pgadmin", "admin-Old-Passw0rd")), { fieldManager: CROSSPLANE });
  await seedApply(NS, "orders-db", conn("pgadmin", "admin-Old-Passw0rd"));
  kube.put(secret(NS, "orders-app-db", conn("orders_app", "app-Old-Passw0rd")));
  kube.put(deployment(NS, "api", { env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "orders-app-db", key: "password" } } }] }));
  kube.put(deployment(NS, "admin-tool", { envFrom: [{ secretRef: { name: "orders-db" } }] }));
  kube.put(deployment(NS, "unrelated", {}));
  // Another namespace with the same names: a SecretRotation in team-payments must never touch it.
  kube.put(secret("team-other", "orders-app-db", conn("orders_app", "app-Old-Passw0rd")));
  kube.put(deployment("team-other", "api", { envFrom: [{ secretRef: { name: "orders-app-db" } }] }));

  const kubeconfig = join(tmpdir(), `kubeconfig-${process.pid}`);
  writeFileSync(kubeconfig, kube.kubeconfigYaml());
  fn = await startServer({
    insecure: true,
    env: { KUBECONFIG: kubeconfig, NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: "127.0.0.1,localhost" },
  });
  client = connect(fn.address);
}, 90_000);

afterAll(async () => {
  client?.close();
  await stopAllServers();
  untrust();
  await azure?.close();
  await kube?.close();
  await pg?.stop();
});

/** What the Database's Crossplane composition does: server-side apply of its desired Secret as its field manager. */
async function seedApply(ns: string, name: string, data: Record<string, string>) {
  const res = await fetch(`${kube.url}/api/v1/namespaces/${ns}/secrets/${name}?fieldManager=${encodeURIComponent(CROSSPLANE)}&force=true`, {
    method: "PATCH",
    headers: { "Content-Type": "application/apply-patch+yaml", Authorization: `Bearer ${kube.token}` },
    body: JSON.stringify(secret(ns, name, data)),
  });
  expect(res.status).toBe(200);
}

function xr(name: string, spec: JsonObject, status?: JsonObject, annotations: Record<string, string> = {}): JsonObject {
  return {
    apiVersion: "azplatform.io/v1alpha1",
    kind: "SecretRotation",
    metadata: { name, namespace: NS, annotations, uid: `uid-${name}` },
    spec: { team: "payments", rotateEvery: "720h", ...spec },
    ...(status ? { status } : {}),
  };
}

const credentials = () => ({
  azure: { credentialData: { data: { clientId: Buffer.from(azure.clientId), clientSecret: Buffer.from(azure.clientSecret), tenantId: Buffer.from(azure.tenantId) } } },
});

async function call(resource: JsonObject): Promise<PlainResponse> {
  const req: PlainRequest = { meta: { tag: "e2e-rotation" }, observed: { composite: { resource } }, input: policy, credentials: credentials() };
  return client.runFunction(req, { deadlineMs: 60_000 });
}

/** Crossplane's loop: call, apply the desired status, call again, until Idle (or the limit). */
async function reconcile(name: string, spec: JsonObject, annotations: Record<string, string> = {}, status?: JsonObject, limit = 4) {
  let st = status;
  let rsp: PlainResponse | undefined;
  for (let i = 0; i < limit; i++) {
    rsp = await call(xr(name, spec, st, annotations));
    st = (rsp.desired?.composite?.resource as JsonObject | undefined)?.status as JsonObject;
    if (st?.phase === "Idle" || st?.phase === "Failed") break;
  }
  return { rsp: rsp as PlainResponse, status: st as JsonObject };
}

const appSpec = {
  secretRef: { name: "orders-app-db", key: "password" },
  targets: { postgresRole: { name: "orders_app", strategy: "alternating", adminSecretRef: { name: "orders-db" } }, keyVault: { vaultName: "kv-payments", secretName: "orders-app-password" } },
};
const data = (ns: string, name: string) => Object.fromEntries(Object.entries((kube.get(ns, "Secret", name)?.data ?? {}) as Record<string, string>).map(([k, v]) => [k, unb64(v)]));
/** What waiting out the back-off does, without the wait: the retry time, in the state Secret and in the status, is now. */
function retryNow(name: string, status: JsonObject): JsonObject {
  const now = new Date().toISOString();
  const state = kube.get(NS, "Secret", `${name}-rotation-state`) as { metadata: { annotations: Record<string, string> } };
  state.metadata.annotations["rotation.azplatform.io/retry-at"] = now;
  kube.put(state);
  return { ...status, retryAt: now };
}
const armPatches = (server: string) => azure.calls().filter((c) => c.method === "PATCH" && c.path.endsWith(`/flexibleServers/${server}`)).map((c) => c.status);
const statusOf = (rsp: PlainResponse) => (rsp.desired?.composite?.resource as JsonObject).status as JsonObject;
const podAnnotations = (ns: string, name: string) => ((kube.get(ns, "Deployment", name) as { spec: { template: { metadata: { annotations?: Record<string, string> } } } }).spec.template.metadata.annotations ?? {});

describe("SecretRotation over gRPC with real PostgreSQL, Kubernetes, Key Vault and ARM protocols", () => {
  let appStatus: JsonObject;

  it("rotates an application role with alternating users: both credentials valid, Secret, Key Vault and consumers updated", async () => {
    const { rsp, status } = await reconcile("orders-app-password", appSpec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 1, schedule: "720h" });
    expect(rsp.conditions?.[0]).toMatchObject({ type: "RotationSucceeded", status: "STATUS_CONDITION_TRUE", reason: "Rotated" });
    const app = data(NS, "orders-app-db");
    expect(app.username).toBe("orders_app_clone");
    expect(app.uri).toBe(conn("orders_app_clone", app.password ?? "").uri);
    expect(await pg.canLogin("orders_app_clone", app.password ?? "")).toBe(true);
    expect(await pg.canLogin("orders_app", "app-Old-Passw0rd")).toBe(true);
    expect(azure.vault("kv-payments").versions("orders-app-password").map((v) => ({ value: v.value, tags: v.tags }))).toEqual([
      { value: app.password, tags: { "rotation-id": "initial", "rotation-version": "1", "managed-by": "azplatform.io" } },
    ]);
    expect(podAnnotations(NS, "api")).toEqual({ "rotation.azplatform.io/orders-app-db": "v1" });
    expect(podAnnotations(NS, "unrelated")).toEqual({});
    // Applied with the rotation's marks, so a WatchOperation can select rotated Secrets by label.
    expect(kube.get(NS, "Secret", "orders-app-db")?.metadata).toMatchObject({
      labels: { "rotation.azplatform.io/managed": "true" },
      annotations: { "rotation.azplatform.io/rotated-by": "orders-app-password", "rotation.azplatform.io/version": "1" },
    });
    // Namespace isolation: the same names in team-other were never read or written.
    expect(kube.calls().filter((c) => c.path.includes("/namespaces/team-other"))).toEqual([]);
    expect(data("team-other", "orders-app-db").password).toBe("app-Old-Passw0rd");
    // No value in the response.
    expect(JSON.stringify(rsp)).not.toContain(app.password);
    // The state Secret belongs to the XR: deleting the SecretRotation deletes the stored values too.
    expect(kube.get(NS, "Secret", "orders-app-password-rotation-state")?.metadata).toMatchObject({
      ownerReferences: [{ apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", name: "orders-app-password", uid: "uid-orders-app-password", blockOwnerDeletion: false, controller: false }],
    });
    appStatus = status;
  });

  it("makes zero calls to Kubernetes, Azure or PostgreSQL when nothing is due, and asks to be called at the due time", async () => {
    kube.resetCalls();
    azure.resetCalls();
    const logged = pg.log.length;
    const rsp = await call(xr("orders-app-password", appSpec, appStatus));
    expect(kube.calls()).toEqual([]);
    expect(azure.calls()).toEqual([]);
    expect(pg.log.length).toBe(logged);
    expect(rsp.meta?.ttl?.seconds).toBe(86_400);
    expect((rsp.desired?.composite?.resource as JsonObject).status).toEqual(appStatus);
  });

  it("rotates again once per distinct rotate-now value, back to the first role", async () => {
    const { status } = await reconcile("orders-app-password", appSpec, { "azplatform.io/rotate-now": "1" }, appStatus);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 2, handledTrigger: "1" });
    const app = data(NS, "orders-app-db");
    expect(app.username).toBe("orders_app");
    expect(await pg.canLogin("orders_app", app.password ?? "")).toBe(true);
    expect(await pg.canLogin("orders_app", "app-Old-Passw0rd")).toBe(false);
    expect(podAnnotations(NS, "api")).toEqual({ "rotation.azplatform.io/orders-app-db": "v2" });
    const again = await reconcile("orders-app-password", appSpec, { "azplatform.io/rotate-now": "1" }, status);
    expect(again.status).toMatchObject({ currentVersion: 2 });
  });

  it("takes the Database's admin password over from its composition, then rotates it through ARM", async () => {
    const adminSpec = {
      secretRef: { name: "orders-db", key: "password" },
      targets: { flexibleServerAdmin: { serverName: SERVER, resourceGroupName: "rg-data-prod" }, keyVault: { vaultName: "kv-payments", secretName: "orders-db-admin" } },
    };
    const first = await call(xr("orders-admin-password", adminSpec));
    expect((first.desired?.composite?.resource as JsonObject).status).toMatchObject({ phase: "Waiting", currentVersion: 0 });
    expect(first.conditions?.[0]?.message).toBe(
      `waiting for ${CROSSPLANE} (data.password), ${CROSSPLANE} (data.uri) to stop writing Secret orders-db; a Database hands its keys over on its next reconcile, any other writer must stop applying them`,
    );
    expect(kube.get(NS, "Secret", "orders-db")?.metadata).toMatchObject({
      annotations: { "rotation.azplatform.io/rotated-by": "orders-admin-password", "rotation.azplatform.io/owned-keys": "password,uri" },
    });
    // The Database function sees the mark and applies its Secret without the keys it handed over.
    const { password: _p, uri: _u, ...rest } = conn("pgadmin", "admin-Old-Passw0rd");
    await seedApply(NS, "orders-db", rest);
    expect(data(NS, "orders-db").password).toBe("admin-Old-Passw0rd");

    const { status } = await reconcile("orders-admin-password", adminSpec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const admin = data(NS, "orders-db");
    expect(await pg.canLogin("pgadmin", admin.password ?? "")).toBe(true);
    expect(await pg.canLogin("pgadmin", "admin-Old-Passw0rd")).toBe(false);
    expect(admin.uri).toBe(conn("pgadmin", admin.password ?? "").uri);
    expect(azure.calls().filter((c) => c.service === "arm" && c.method === "PATCH")).toHaveLength(1);
    expect(podAnnotations(NS, "admin-tool")).toEqual({ "rotation.azplatform.io/orders-db": "v1" });
    // Key Vault returns values by design; no function log line ever carries one.
    const logs = fn.logs().join("\n");
    for (const v of [admin.password, data(NS, "orders-app-db").password, "admin-Old-Passw0rd", "app-Old-Passw0rd"]) expect(logs).not.toContain(v);
    // The app role rotation keeps working with the rotated admin Secret.
    const { status: s3 } = await reconcile("orders-app-password", appSpec, { "azplatform.io/rotate-now": "2" }, appStatus);
    expect(s3).toMatchObject({ phase: "Idle", currentVersion: 3 });
  });

  it("two simultaneous calls for a new SecretRotation make exactly one rotation", async () => {
    kube.put(secret(NS, "reports-db", conn("reports_app", "rep-Old-Passw0rd")));
    await pg.query("CREATE ROLE reports_app LOGIN PASSWORD 'rep-Old-Passw0rd'");
    await pg.query("GRANT reports_app TO pgadmin WITH ADMIN OPTION");
    const spec = { secretRef: { name: "reports-db", key: "password" }, targets: { postgresRole: { name: "reports_app", adminSecretRef: { name: "orders-db" } }, keyVault: { vaultName: "kv-payments", secretName: "reports" } } };
    const [a, b] = await Promise.all([call(xr("reports-password", spec)), call(xr("reports-password", spec))]);
    for (const r of [a, b]) expect((r.desired?.composite?.resource as JsonObject).status).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const value = data(NS, "reports-db").password ?? "";
    expect(await pg.canLogin("reports_app", value)).toBe(true);
    expect(new Set(azure.vault("kv-payments").versions("reports").map((v) => v.value))).toEqual(new Set([value]));
  });

  it("an unreachable PostgreSQL fails in plain words, keeps the current value and changes nothing", async () => {
    kube.put(secret(NS, "broken-admin", { ...conn("pgadmin", "x"), port: "1" }));
    kube.put(secret(NS, "broken-db", conn("orders_app", "unchanged-Passw0rd")));
    const spec = { secretRef: { name: "broken-db", key: "password" }, targets: { postgresRole: { name: "orders_app", adminSecretRef: { name: "broken-admin" } } } };
    const before = data(NS, "broken-db");
    const rsp = await call(xr("broken", spec));
    expect((rsp.desired?.composite?.resource as JsonObject).status).toMatchObject({ phase: "Failed", currentVersion: 0 });
    expect(rsp.results?.[0]).toMatchObject({ severity: "SEVERITY_WARNING", reason: "RotationFailed" });
    expect(rsp.results?.[0]?.message).toMatch(/^Set failed: cannot connect to PostgreSQL at 127\.0\.0\.1:1 to set the password of role "orders_app": ECONNREFUSED; the apps keep version 0, retrying at .* \(attempt 1\)$/);
    expect(data(NS, "broken-db")).toEqual(before);
  });

  it("a scale that outlasts the wait for a busy server fails the Set in plain words; the retry from the saved phase sets the same value", async () => {
    const adminSpec = {
      secretRef: { name: "orders-db", key: "password" },
      targets: { flexibleServerAdmin: { serverName: SERVER, resourceGroupName: "rg-data-prod" }, keyVault: { vaultName: "kv-payments", secretName: "orders-db-admin" } },
    };
    const before = data(NS, "orders-db");
    const trigger = { "azplatform.io/rotate-now": "arm-1" };
    scaleGate = gate();
    const scaling = await arm.servers.beginUpdate("rg-data-prod", SERVER, { sku: { name: "Standard_D4ds_v5", tier: "GeneralPurpose" } });
    azure.resetCalls();

    const rsp = await call(xr("orders-admin-password", adminSpec, undefined, trigger));
    const failedStatus = statusOf(rsp);
    expect(failedStatus).toMatchObject({ phase: "Failed", currentVersion: 1 });
    const cause = `Set failed: Azure Resource Manager: cannot set the admin password of rg-data-prod/${SERVER}, which was still busy with another operation after 14 s: HTTP 409 ServerBusy Server '${SERVER}' is busy with another operation. Please try again later.`;
    const [reported, retry] = (rsp.results?.[0]?.message ?? "").split("; the apps keep ");
    expect(reported).toBe(cause);
    expect(retry).toMatch(/^version 1, retrying at \S+ \(attempt 1\)$/);
    expect(rsp.conditions?.[0]).toMatchObject({ type: "RotationSucceeded", status: "STATUS_CONDITION_FALSE", reason: "RotationFailed" });
    expect(armPatches(SERVER)).toEqual([409, 409, 409, 409]); // waited 2 + 4 + 8 s between them
    // Nothing promoted: the apps and the server keep the current value; the pending one is saved for the retry.
    expect(data(NS, "orders-db")).toEqual(before);
    expect(await pg.canLogin("pgadmin", before.password ?? "")).toBe(true);
    expect(azure.vault("kv-payments").versions("orders-db-admin")).toHaveLength(1);
    const state = data(NS, "orders-admin-password-rotation-state");
    expect(kube.get(NS, "Secret", "orders-admin-password-rotation-state")?.metadata).toMatchObject({ annotations: { "rotation.azplatform.io/phase": "Pending" } });
    const pending = state.pending ?? "";
    expect(pending).not.toBe("");
    for (const value of [pending, before.password ?? ""]) {
      expect(JSON.stringify(rsp)).not.toContain(value);
      expect(fn.logs().join("\n")).not.toContain(value);
    }

    // The scale ends; at the retry time the rotation continues from its saved phase, with the saved value.
    scaleGate.open();
    await scaling.pollUntilDone();
    const { status } = await reconcile("orders-admin-password", adminSpec, trigger, retryNow("orders-admin-password", failedStatus));
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 2, handledTrigger: "arm-1" });
    expect(data(NS, "orders-db").password).toBe(pending);
    expect(await pg.canLogin("pgadmin", pending)).toBe(true);
    expect(azure.vault("kv-payments").versions("orders-db-admin").map((v) => v.value)).toEqual([before.password, pending]);
    expect(armPatches(SERVER)).toEqual([409, 409, 409, 409, 202]);
  }, 60_000);

  it("two simultaneous calls for a Flexible Server admin rotation make exactly one rotation, though Azure refuses the second PATCH while the first runs", async () => {
    await pg.query("CREATE ROLE twinadmin LOGIN CREATEROLE PASSWORD 'twin-Old-Passw0rd'");
    kube.put(secret(NS, "twin-db", conn("twinadmin", "twin-Old-Passw0rd")));
    const seen: string[] = [];
    azure.addServer({
      subscriptionId: SUB,
      resourceGroup: "rg-data-prod",
      name: "pg-payments-twin-3c4d5e",
      onAdminPasswordChange: async (password: string) => {
        seen.push(password);
        await pg.query(`ALTER ROLE twinadmin PASSWORD '${password.replaceAll("'", "''")}'`);
      },
    });
    const spec = {
      secretRef: { name: "twin-db", key: "password" },
      targets: { flexibleServerAdmin: { serverName: "pg-payments-twin-3c4d5e", resourceGroupName: "rg-data-prod" }, keyVault: { vaultName: "kv-payments", secretName: "twin-admin" } },
    };

    const [a, b] = await Promise.all([call(xr("twin-password", spec)), call(xr("twin-password", spec))]);

    for (const r of [a, b]) expect(statusOf(r)).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const value = data(NS, "twin-db").password ?? "";
    expect(await pg.canLogin("twinadmin", value)).toBe(true);
    // The refused call waited for the other's operation and set the same value again.
    expect(armPatches("pg-payments-twin-3c4d5e")).toEqual([202, 409, 202]);
    expect(seen).toEqual([value, value]);
    expect(azure.vault("kv-payments").versions("twin-admin").map((v) => v.value)).toEqual([value]);
  });

  it("a wrong Azure client secret fails in plain words and touches nothing", async () => {
    kube.put(secret(NS, "kv-only", { password: "kv-Old-Passw0rd" }));
    const spec = { secretRef: { name: "kv-only", key: "password" }, targets: { keyVault: { vaultName: "kv-payments", secretName: "kv-only" } } };
    const req: PlainRequest = {
      meta: { tag: "e2e-rotation" },
      observed: { composite: { resource: xr("kv-only", spec) } },
      input: policy,
      credentials: { azure: { credentialData: { data: { clientId: Buffer.from(azure.clientId), clientSecret: Buffer.from("wrong"), tenantId: Buffer.from(azure.tenantId) } } } },
    };
    const rsp = await client.runFunction(req, { deadlineMs: 60_000 });
    expect((rsp.desired?.composite?.resource as JsonObject).status).toMatchObject({ phase: "Failed" });
    expect(rsp.results?.[0]?.message).toMatch(/^Pending failed: Key Vault kv-payments: cannot read secret kv-only: .*(invalid_client|AADSTS7000215|authentication)/i);
    expect(rsp.results?.[0]?.message).not.toContain("wrong");
    expect(data(NS, "kv-only").password).toBe("kv-Old-Passw0rd");
  });

  it("the function process is killed right after Azure accepted the new admin password: a new process finishes with the same value", async () => {
    await pg.query("CREATE ROLE crashadmin LOGIN CREATEROLE PASSWORD 'crash-Old-Passw0rd'");
    kube.put(secret(NS, "crash-db", conn("crashadmin", "crash-Old-Passw0rd")));
    const env = { KUBECONFIG: join(tmpdir(), `kubeconfig-${process.pid}`), NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: "127.0.0.1,localhost" };
    const doomed = await startServer({ insecure: true, env });
    const seen: string[] = [];
    azure.addServer({
      subscriptionId: SUB,
      resourceGroup: "rg-data-prod",
      name: "pg-payments-crash-0a1b2c",
      onAdminPasswordChange: async (password: string) => {
        seen.push(password);
        await pg.query(`ALTER ROLE crashadmin PASSWORD '${password.replaceAll("'", "''")}'`);
        if (seen.length > 1) return;
        doomed.process.kill("SIGKILL");
        // Azure still works on the dead process's operation when the next process retries the step.
        await vi.waitFor(() => expect(armPatches("pg-payments-crash-0a1b2c")).toContain(409), { timeout: 20_000, interval: 50 });
      },
    });
    const spec = {
      secretRef: { name: "crash-db", key: "password" },
      targets: { flexibleServerAdmin: { serverName: "pg-payments-crash-0a1b2c", resourceGroupName: "rg-data-prod" }, keyVault: { vaultName: "kv-payments", secretName: "crash-admin" } },
    };
    const c1 = connect(doomed.address);
    const lost = await c1.runFunction({ meta: { tag: "doomed" }, observed: { composite: { resource: xr("crash-password", spec) } }, input: policy, credentials: credentials() }, { deadlineMs: 30_000 }).then(
      () => "answered",
      () => "lost",
    );
    c1.close();
    expect(lost).toBe("lost");
    // The database now accepts only the new value, which exists nowhere but in the durable pending state.
    expect(await pg.canLogin("crashadmin", "crash-Old-Passw0rd")).toBe(false);
    expect(data(NS, "crash-db").password).toBe("crash-Old-Passw0rd");

    const { status } = await reconcile("crash-password", spec);
    expect(status).toMatchObject({ phase: "Idle", currentVersion: 1 });
    const now = data(NS, "crash-db").password ?? "";
    expect(seen).toEqual([now, now]);
    // Refused while the dead process's operation ran, then waited out: no failure, no back-off.
    expect(armPatches("pg-payments-crash-0a1b2c")).toEqual([202, 409, 202]);
    expect(await pg.canLogin("crashadmin", now)).toBe(true);
    expect(azure.vault("kv-payments").versions("crash-admin").map((v) => v.value)).toEqual([now]);
  });
});
