// An engineer's Database through real Crossplane core and a real API server, with extensions, alerts and an
// application role: composed as the function desires, Ready when the provider's resources are, apps reading the role,
// day-two changes, and an admin Secret deleted by hand.
import { join } from "node:path";
import { Ready, type RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { readDocs } from "../../cli/yaml.ts";
import { runDatabase } from "../../functions/database/fn.ts";
import { REPO_ROOT } from "../support/proto-client.ts";
import { cluster, conditionOf, eventually } from "./context.ts";
import type { Obj } from "./kube.ts";
import { waitFor } from "./processes.ts";
import { composedOf, provideUntilReady } from "./provider.ts";

const { admin } = cluster();
const ENGINEER = "argocd-controller"; // ArgoCD syncs the engineer's PR with server-side apply
const xrDoc = readDocs(join(REPO_ROOT, "examples/database/xr.yaml"))[0] as Obj;
const policy = (readDocs(join(REPO_ROOT, "compositions/database-postgres.yaml"))[0] as Obj).spec.pipeline[0].input as Obj;
const NS = xrDoc.metadata.namespace as string;
const XR = { apiVersion: "azplatform.io/v1alpha1", kind: "Database", namespace: NS, name: xrDoc.metadata.name as string };
const decode = (s: string) => Buffer.from(s, "base64").toString("utf8");

/** What the function composes for this XR on a first reconcile, computed in-process from the same policy. */
function desiredFor(xr: Obj): Record<string, Obj> {
  const req: RunFunctionRequest = {
    meta: { tag: "cluster", capabilities: [] },
    observed: { composite: { resource: xr, connectionDetails: {}, ready: Ready.READY_UNSPECIFIED }, resources: {} },
    desired: { composite: undefined, resources: {} },
    input: policy,
    extraResources: {},
    credentials: {},
    // The second call of core's requirements loop: no Secret of the connection or admin Secret's name exists yet.
    requiredResources: { "connection-secret": { items: [] }, "admin-secret": { items: [] } },
    requiredSchemas: {},
  };
  const res = runDatabase(req, { newPassword: () => "unused-in-comparison" });
  return Object.fromEntries(Object.entries(res.desired?.resources ?? {}).map(([k, r]) => [k, r.resource as Obj]));
}

/** Waits until the XR has not changed for a few seconds: no reconcile of it is in flight. */
async function quiet(ref: typeof XR): Promise<void> {
  let last = "";
  let since = Date.now();
  await waitFor(`${ref.name} quiet`, async () => {
    const rv = (await admin.get(ref)).metadata.resourceVersion as string;
    if (rv !== last) [last, since] = [rv, Date.now()];
    return Date.now() - since > 4_000 ? true : undefined;
  }, 60_000);
}

async function events(name: string): Promise<Obj[]> {
  return (await admin.list({ apiVersion: "v1", kind: "Event", namespace: NS })).filter((e) => e.involvedObject?.name === name && e.involvedObject?.kind === "Database");
}

beforeAll(async () => {
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, { fieldManager: "platform" });
  await admin.apply(xrDoc, { fieldManager: ENGINEER });
});

describe("a Database through real Crossplane", () => {
  let composed: Record<string, Obj>;

  it("composes in the team's namespace exactly what the function desires: nothing pruned by the API server", async () => {
    const xr = await admin.get(XR);
    const want = desiredFor(xr);
    composed = await waitFor("all composed resources", async () => {
      const c = await composedOf(admin, NS, XR.name);
      return Object.keys(c).length === Object.keys(want).length ? c : undefined;
    }, 90_000);
    expect(Object.keys(composed).sort()).toEqual(Object.keys(want).sort());
    for (const [name, desired] of Object.entries(want)) {
      const live = composed[name] as Obj;
      expect({ apiVersion: live.apiVersion, kind: live.kind }, name).toEqual({ apiVersion: desired.apiVersion, kind: desired.kind });
      expect(live.metadata.namespace, name).toBe(NS);
      // Crossplane owns every composed resource through the XR, and labels it.
      expect(live.metadata.ownerReferences, name).toEqual([expect.objectContaining({ kind: "Database", name: XR.name, controller: true })]);
      expect(live.metadata.labels, name).toMatchObject({ ...desired.metadata.labels, "crossplane.io/composite": XR.name });
      if (live.kind === "Secret") {
        const { password: _p, uri: _u, ...rest } = desired.data as Record<string, string>;
        expect(Object.keys(live.data).sort(), name).toEqual(Object.keys(desired.data).sort());
        expect(Object.fromEntries(Object.keys(rest).map((k) => [k, live.data[k]])), name).toEqual(rest);
      } else {
        expect(live.spec, name).toMatchObject(desired.spec);
      }
    }
  });

  it("every composed resource passes the real API server's server-side dry-run against the provider's CRDs", async () => {
    const want = desiredFor(await admin.get(XR));
    for (const [name, desired] of Object.entries(want)) {
      // A new name: the dry-run judges the object against its schema, not against the live one's field owners.
      const probe = { ...desired, metadata: { ...desired.metadata, name: `dry-run-${name.replace(/_/g, "-")}` } };
      await expect(admin.apply(probe, { fieldManager: "dry-run", dryRun: true }), name).resolves.toMatchObject({ kind: desired.kind });
    }
  });

  it("turns Ready when the provider's resources do, the application role among them once its server is, and reports both", async () => {
    const before = await composedOf(admin, NS, XR.name);
    expect(before["application-role"]).toBeUndefined();
    await provideUntilReady(admin, XR);
    const xr = await eventually(admin, XR, "Ready", (o) => conditionOf(o, "Ready")?.status === "True", 90_000);
    expect(conditionOf(xr, "Synced")).toMatchObject({ status: "True" });
    expect(conditionOf(xr, "DatabaseReady")).toMatchObject({ status: "True", reason: "Available" });
    expect(xr.status).toMatchObject({
      serverName: "pg-payments-orders-prod-edfe87",
      fqdn: "pg-payments-orders-prod-edfe87.postgres.database.azure.com",
      connectionSecretName: "orders-db",
      applicationRole: "orders_app",
      adminSecretName: "orders-db-admin",
    });
    const secret = await admin.get({ apiVersion: "v1", kind: "Secret", namespace: NS, name: "orders-db" });
    const adminSecret = await admin.get({ apiVersion: "v1", kind: "Secret", namespace: NS, name: "orders-db-admin" });
    expect(decode(secret.data.host)).toBe("pg-payments-orders-prod-edfe87.postgres.database.azure.com");
    // Apps read the role; the server and provider-sql read the admin, each from its own Secret.
    expect({ apps: decode(secret.data.username), admin: decode(adminSecret.data.username) }).toEqual({ apps: "orders_app", admin: "pgadmin" });
    expect(decode(secret.data.password)).not.toBe(decode(adminSecret.data.password));
    const composed = await composedOf(admin, NS, XR.name);
    expect(composed.server?.spec.forProvider.administratorPasswordSecretRef).toEqual({ name: "orders-db-admin", key: "password" });
    expect(composed["sql-provider-config"]?.spec.credentials.connectionSecretRef).toEqual({ name: "orders-db-admin" });
    expect(composed["application-role"]?.spec.forProvider.passwordSecretRef).toEqual({ name: "orders-db", key: "password" });
    const grants = Object.entries(composed).filter(([, o]) => o.kind === "Grant").map(([k, o]) => [k, o.spec.forProvider]);
    expect(Object.fromEntries(grants)).toEqual({
      "grant-orders": { database: "orders", privileges: ["CONNECT", "CREATE", "TEMPORARY"], role: "orders_app" },
      "grant-orders-public-schema": { database: "orders", privileges: ["CREATE", "USAGE"], role: "orders_app", schema: "public" },
      "grant-orders_audit": { database: "orders_audit", privileges: ["CONNECT", "CREATE", "TEMPORARY"], role: "orders_app" },
      "grant-orders_audit-public-schema": { database: "orders_audit", privileges: ["CREATE", "USAGE"], role: "orders_app", schema: "public" },
    });
    // The role's composed resources pass the real API server's dry-run too.
    for (const [name, o] of Object.entries(composed).filter(([, x]) => x.kind === "Role" || x.kind === "Grant")) {
      const { resourceVersion: _rv, uid: _uid, managedFields: _mf, creationTimestamp: _ct, generation: _g, ...meta } = o.metadata;
      const probe = { apiVersion: o.apiVersion, kind: o.kind, metadata: { ...meta, name: `dry-run-${name.replace(/_/g, "-")}`, ownerReferences: undefined }, spec: o.spec };
      await expect(admin.apply(probe, { fieldManager: "dry-run", dryRun: true }), name).resolves.toMatchObject({ kind: o.kind });
    }
  });

  it("day two: a version downgrade is refused with the observed version kept; storage growth is applied", async () => {
    // The XRD refuses some changes at admission, before any function runs.
    const rename = admin.apply({ ...xrDoc, spec: { ...xrDoc.spec, connectionSecretName: "orders-conn" } }, { fieldManager: ENGINEER });
    await expect(rename).rejects.toMatchObject({ status: 422, message: expect.stringContaining("connectionSecretName cannot change once set") });

    // Core's watch circuit breaker may still hold the Database's reconciles back after the provider's burst of writes
    // (a minute at a time): the waits below allow for two.
    await admin.apply({ ...xrDoc, spec: { ...xrDoc.spec, storageGB: 256, version: "15" } }, { fieldManager: ENGINEER });
    const server = await waitFor("the FlexibleServer grown to 256 GiB", async () => {
      const s = (await composedOf(admin, NS, XR.name)).server;
      return s?.spec.forProvider.storageMb === 262144 ? s : undefined;
    }, 130_000);
    expect(server.spec.forProvider).toMatchObject({ storageTier: "P15", version: "16" });
    const xr = await eventually(admin, XR, "ChangesApplied=False", (o) => conditionOf(o, "ChangesApplied")?.status === "False", 130_000);
    const downgrade = 'spec.version: "15" would downgrade the server from "16"';
    expect(conditionOf(xr, "ChangesApplied")).toMatchObject({ reason: "ChangeRefused", message: expect.stringContaining(downgrade) });
    await waitFor("a ChangeRefused warning event on the Database", async () => ((await events(XR.name)).some((e) => e.type === "Warning" && String(e.message).includes(downgrade)) ? true : undefined), 30_000);
    // Back to what the server runs: the refusal clears.
    await admin.apply({ ...xrDoc, spec: { ...xrDoc.spec, storageGB: 256 } }, { fieldManager: ENGINEER });
    await eventually(admin, XR, "ChangesApplied=True", (o) => conditionOf(o, "ChangesApplied")?.status === "True", 130_000);
  }, 330_000);

  it("an admin Secret deleted by hand is recovered through Crossplane's required-resources loop, with a reset the provider applies", async () => {
    const ref = { apiVersion: "v1", kind: "Secret", namespace: NS, name: "orders-db-admin" };
    // Paused, and quiet, while the Secret goes: a reconcile that read the Secret before the delete would apply it
    // again as it was, and the lookup below would never be needed.
    await admin.mergePatch(XR, { metadata: { annotations: { "crossplane.io/paused": "true" } } });
    await quiet(XR);
    const before = await admin.get(ref);
    await admin.delete(ref);
    await admin.mergePatch(XR, { metadata: { annotations: { "crossplane.io/paused": null } } });
    const after = await waitFor("the admin Secret recreated", async () => {
      const s = await admin.find(ref);
      return s !== undefined && s.metadata.uid !== before.metadata.uid && s.data?.password !== undefined ? s : undefined;
    }, 90_000);
    expect(decode(after.data.password)).not.toBe(decode(before.data.password));
    expect(decode(after.data.uri)).toContain(encodeURIComponent(decode(after.data.password)));
    // The server still points the provider at the Secret's key, which now holds the new password.
    const server = (await composedOf(admin, NS, XR.name)).server as Obj;
    expect(server.spec.forProvider.administratorPasswordSecretRef).toEqual({ name: "orders-db-admin", key: "password" });
    await waitFor("an AdminPasswordReset warning event", async () => ((await events(XR.name)).some((e) => e.type === "Warning" && String(e.message).includes("a new admin password was generated")) ? true : undefined), 30_000);
    const xr = await eventually(admin, XR, "Synced and Ready again", (o) => conditionOf(o, "Synced")?.status === "True" && conditionOf(o, "Ready")?.status === "True", 90_000);
    expect(JSON.stringify(xr.status)).not.toContain("didn't stabilize");
  });
});
