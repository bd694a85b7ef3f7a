// An idle SecretRotation costs nothing outside the function: the server process is given a Kubernetes API, an HTTPS
// proxy (the only way to Azure) and a PostgreSQL that all point at one listener counting the connections it gets,
// and a call whose status says nothing is due reaches none of them. The rotation itself runs against the real API
// server in the cluster tier (test/cluster/rotation-protocol.test.ts).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCountingServer, type CountingServer } from "../support/counting-server.ts";
import { writeKubeconfig } from "../support/kubeconfig.ts";
import { connect, type JsonObject, type PlainResponse, type RunFunctionClient } from "../support/proto-client.ts";
import { startServer, stopAllServers } from "../support/server-process.ts";

let listener: CountingServer;
let client: RunFunctionClient;
let dir: string;

const policy = {
  apiVersion: "fn.azplatform.io/v1alpha1",
  kind: "SecretRotationPolicy",
  subscriptionId: "00000000-0000-0000-0000-000000000001",
  tenants: [{ namespaces: ["team-payments"], keyVaults: ["kv-payments"], roles: ["orders_app"] }],
  allowedRoles: ["*_app"],
  fastestSchedule: "1h",
  credentials: { azure: "azure", postgresAdmin: "postgres" },
};
// Targets that would use every port if anything were due: ARM, Key Vault, PostgreSQL (the login that proves the
// new admin password) and Kubernetes.
const spec = {
  team: "payments",
  rotateEvery: "720h",
  secretRef: { name: "orders-db", key: "password" },
  targets: {
    flexibleServerAdmin: { databaseRef: { name: "orders" } },
    keyVault: { vaultName: "kv-payments", secretName: "orders-app-password" },
  },
};
// The Database, as Crossplane passes it on the second call of each reconcile (a read of its cache, not ours).
const database = {
  apiVersion: "azplatform.io/v1alpha1",
  kind: "Database",
  metadata: { name: "orders", namespace: "team-payments" },
  status: { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db" },
};
const lookup = { resources: { "database-orders": { apiVersion: "azplatform.io/v1alpha1", kind: "Database", matchName: "orders", namespace: "team-payments" } } };
const bytes = (d: Record<string, string>) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v)]));

beforeAll(async () => {
  listener = await startCountingServer();
  dir = await mkdtemp(join(tmpdir(), "rotation-idle-"));
  const kubeconfig = await writeKubeconfig(join(dir, "kubeconfig"), { server: `https://${listener.host}:${listener.port}`, token: "unused" });
  const fn = await startServer({ insecure: true, env: { KUBECONFIG: kubeconfig, HTTPS_PROXY: `http://${listener.host}:${listener.port}`, NO_PROXY: "" } });
  client = connect(fn.address);
});

afterAll(async () => {
  client?.close();
  await stopAllServers();
  await listener?.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(status?: JsonObject): Promise<PlainResponse> {
  const metadata = { name: "orders-app-password", namespace: "team-payments", uid: "3c4d" };
  const resource = { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", metadata, spec, ...(status ? { status } : {}) };
  return client.runFunction(
    {
      meta: { tag: "idle" },
      observed: { composite: { resource } },
      input: policy,
      credentials: {
        azure: { credentialData: { data: bytes({ clientId: "c", clientSecret: "s", tenantId: "t" }) } },
        postgres: { credentialData: { data: bytes({ host: listener.host, port: String(listener.port), username: "pgadmin", password: "admin-Passw0rd" }) } },
      },
      requiredResources: { "database-orders": { items: [{ resource: database }] } },
    },
    { deadlineMs: 30_000 },
  );
}

const composite = (status: JsonObject, ready: "READY_TRUE" | "READY_FALSE") => ({ composite: { resource: { status }, ready } });

describe("an idle SecretRotation", () => {
  it("a call with work to do reaches the listener first thing, so the zero counts below can fail", async () => {
    listener.reset();
    const rsp = await call();
    expect(listener.connections()).toBe(1);
    const message =
      "cannot rotate now: cannot reach the Kubernetes API to read Secret orders-app-password-rotation-state: " +
      "fetch failed (Client network socket disconnected before secure TLS connection was established); " +
      "the rotation resumes from its last saved step, retrying in 30 s";
    expect(rsp).toEqual({
      meta: { tag: "idle", ttl: { seconds: 30, nanos: 0 } },
      desired: composite({}, "READY_FALSE"),
      results: [{ severity: "SEVERITY_WARNING", reason: "StateUnavailable", message, target: "TARGET_COMPOSITE" }],
      conditions: [{ type: "RotationSucceeded", status: "STATUS_CONDITION_FALSE", reason: "StateUnavailable", message, target: "TARGET_COMPOSITE" }],
      requirements: lookup,
    });
  });

  it("makes no connection to Kubernetes, Azure or PostgreSQL when nothing is due, and asks to be called at the due time", async () => {
    listener.reset();
    const now = Date.now();
    const [last, next] = [new Date(now - 86_400_000).toISOString(), new Date(now + 20 * 86_400_000).toISOString()];
    const status = { phase: "Idle", currentVersion: 3, lastRotatedAt: last, nextRotationAt: next, schedule: "720h" };
    const rsp = await call(status);
    expect(listener.connections()).toBe(0);
    expect(rsp).toEqual({
      // The function's longest TTL, a day, though the rotation is due in 20.
      meta: { tag: "idle", ttl: { seconds: 86_400, nanos: 0 } },
      desired: composite(status, "READY_TRUE"),
      requirements: lookup,
      conditions: [
        { type: "RotationSucceeded", status: "STATUS_CONDITION_TRUE", reason: "Rotated", message: `version 3, rotated at ${last}; next rotation at ${next}`, target: "TARGET_COMPOSITE" },
      ],
    });
  });

  it("makes no connection either while a failed rotation waits for its retry time", async () => {
    listener.reset();
    const retryAt = new Date(Date.now() + 600_000).toISOString();
    const lastError = `Set failed: cannot connect to PostgreSQL; the apps keep version 3, retrying at ${retryAt} (attempt 2)`;
    const status = { phase: "Failed", currentVersion: 3, retryAt, lastError, schedule: "720h" };
    const rsp = await call(status);
    expect(listener.connections()).toBe(0);
    expect(rsp).toEqual({
      meta: { tag: "idle", ttl: { seconds: 600, nanos: 0 } },
      desired: composite(status, "READY_FALSE"),
      requirements: lookup,
      conditions: [{ type: "RotationSucceeded", status: "STATUS_CONDITION_FALSE", reason: "RotationFailed", message: lastError, target: "TARGET_COMPOSITE" }],
    });
  });
});
