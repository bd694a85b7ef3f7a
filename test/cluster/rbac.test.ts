// The function's Kubernetes identity is a ServiceAccount token bound by exactly examples/install/rbac.yaml; the
// real authorizer, not our code, decides what it may do. It may only impersonate the rotation identity of a
// namespace, and that identity may only touch Secrets and Deployments of a namespace that opted in.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readDocs } from "../../cli/yaml.ts";
import { REPO_ROOT } from "../support/proto-client.ts";
import { identityIn } from "../../functions/secret-rotation/identity.ts";
import { cluster } from "./context.ts";
import { CROSSPLANE_NAMESPACE } from "./crossplane.ts";
import { KubeError, type Obj } from "./kube.ts";

const { info, admin } = cluster();
const fn = admin.as(info.functionToken);
const OPTED_IN = "team-payments"; // bound by rbac.yaml itself
const OTHER = "team-marketing";

beforeAll(async () => {
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: OTHER } }, { fieldManager: "platform" });
  for (const ns of [OPTED_IN, OTHER]) {
    await admin.apply({ apiVersion: "v1", kind: "Secret", metadata: { name: "app-db", namespace: ns }, stringData: { password: "irrelevant" } }, { fieldManager: "platform" });
    await admin.apply(
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "api", namespace: ns }, spec: { selector: { matchLabels: { app: "api" } }, template: { metadata: { labels: { app: "api" } }, spec: { containers: [{ name: "app", image: "example/app:1" }] } } } },
      { fieldManager: "platform" },
    );
  }
});

const secrets = (namespace: string) => ({ resource: "secrets", namespace });
const deployments = (namespace: string) => ({ group: "apps", resource: "deployments", namespace });

describe("the function's identity under the real authorizer", () => {
  it("its own ServiceAccount reads and writes nothing: it may only impersonate the rotation identity", async () => {
    const table: [string, string, Parameters<typeof fn.can>[1], boolean][] = [
      ["get a Secret in an opted-in namespace", "get", secrets(OPTED_IN), false],
      ["get a Secret in crossplane-system", "get", secrets(CROSSPLANE_NAMESPACE), false],
      ["patch a Deployment", "patch", deployments(OPTED_IN), false],
      ["impersonate the rotation identity of an opted-in namespace", "impersonate", { resource: "serviceaccounts", namespace: OPTED_IN, name: "azplatform-secret-rotation" }, true],
      ["impersonate another ServiceAccount", "impersonate", { resource: "serviceaccounts", namespace: OPTED_IN, name: "default" }, false],
      ["impersonate Crossplane", "impersonate", { resource: "serviceaccounts", namespace: CROSSPLANE_NAMESPACE, name: "crossplane" }, false],
      ["impersonate a group", "impersonate", { resource: "groups", name: "system:masters" }, false],
      ["impersonate a user", "impersonate", { resource: "users", name: "admin" }, false],
    ];
    const got = await Promise.all(table.map(async ([what, verb, res]) => [what, await fn.can(verb, res)]));
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(table.map(([what, , , allowed]) => [what, allowed])));
  });

  it("as the rotation identity of a namespace it reaches Secrets and Deployments of that namespace only", async () => {
    const inPayments = fn.impersonate(identityIn(OPTED_IN));
    const inMarketing = fn.impersonate(identityIn(OTHER));
    const table: [string, typeof inPayments, string, Parameters<typeof fn.can>[1], boolean][] = [
      ["payments: get its Secret", inPayments, "get", secrets(OPTED_IN), true],
      ["payments: create a Secret", inPayments, "create", secrets(OPTED_IN), true],
      ["payments: update a Secret", inPayments, "update", secrets(OPTED_IN), true],
      ["payments: patch a Secret", inPayments, "patch", secrets(OPTED_IN), true],
      ["payments: list its Deployments", inPayments, "list", deployments(OPTED_IN), true],
      ["payments: patch a Deployment", inPayments, "patch", deployments(OPTED_IN), true],
      ["payments: list Secrets (it never needs to)", inPayments, "list", secrets(OPTED_IN), false],
      ["payments: delete a Secret", inPayments, "delete", secrets(OPTED_IN), false],
      ["payments: get a Secret of marketing", inPayments, "get", secrets(OTHER), false],
      ["payments: patch a Deployment of marketing", inPayments, "patch", deployments(OTHER), false],
      ["payments: get a Secret of crossplane-system", inPayments, "get", secrets(CROSSPLANE_NAMESPACE), false],
      ["marketing (not opted in): get its own Secret", inMarketing, "get", secrets(OTHER), false],
      ["marketing (not opted in): get a Secret of payments", inMarketing, "get", secrets(OPTED_IN), false],
    ];
    const got = await Promise.all(table.map(async ([what, kube, verb, res]) => [what, await kube.can(verb, res)]));
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(table.map(([what, , , , allowed]) => [what, allowed])));
  });

  it("real requests across the boundary are refused with 403 by the API server", async () => {
    const inPayments = fn.impersonate(identityIn(OPTED_IN));
    await expect(inPayments.get({ apiVersion: "v1", kind: "Secret", namespace: OPTED_IN, name: "app-db" })).resolves.toMatchObject({ metadata: { name: "app-db" } });
    const refused = async (p: Promise<unknown>) => p.then(() => 0, (e: unknown) => (e instanceof KubeError ? e.status : -1));
    expect({
      read: await refused(inPayments.get({ apiVersion: "v1", kind: "Secret", namespace: OTHER, name: "app-db" })),
      write: await refused(inPayments.mergePatch({ apiVersion: "v1", kind: "Secret", namespace: OTHER, name: "app-db" }, { stringData: { password: "stolen" } })),
      roll: await refused(inPayments.mergePatch({ apiVersion: "apps/v1", kind: "Deployment", namespace: OTHER, name: "api" }, { spec: { template: { metadata: { annotations: { x: "y" } } } } })),
      ownIdentityRead: await refused(fn.get({ apiVersion: "v1", kind: "Secret", namespace: OPTED_IN, name: "app-db" })),
    }).toEqual({ read: 403, write: 403, roll: 403, ownIdentityRead: 403 });
    // A ServiceAccount the install did not bind may not impersonate: the refusal names it (the function's hint keys on it).
    await admin.apply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "unbound", namespace: CROSSPLANE_NAMESPACE } }, { fieldManager: "platform" });
    const unboundToken = (await admin.request("POST", `/api/v1/namespaces/${CROSSPLANE_NAMESPACE}/serviceaccounts/unbound/token`, { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {} })).status.token as string;
    const unbound = admin.as(unboundToken).impersonate(identityIn(OPTED_IN));
    const path = await admin.path({ apiVersion: "v1", kind: "Secret", namespace: OPTED_IN, name: "app-db" });
    await expect(unbound.request("GET", path)).rejects.toMatchObject({
      status: 403,
      // Kubernetes 1.36 words it for constrained impersonation (KEP-5284): the verb is impersonate-on:<kind>:<verb>.
      body: { message: `secrets "app-db" is forbidden: User "system:serviceaccount:${CROSSPLANE_NAMESPACE}:unbound" cannot impersonate-on:serviceaccount:get resource "secrets" in API group "" in the namespace "${OPTED_IN}"` },
    });
    const untouched = await admin.get({ apiVersion: "v1", kind: "Secret", namespace: OTHER, name: "app-db" });
    expect(Buffer.from(untouched.data.password, "base64").toString()).toBe("irrelevant");
  });
});

describe("an application team bound by examples/install/team-rbac.yaml, under the real authorizer", () => {
  // A member of the team-payments group, as the API server sees a user from the cluster's identity provider.
  const member = admin.impersonateAs("alice@payments", ["team-payments"]);
  const xrs = (resource: string, namespace: string, subresource?: string) => ({ group: "azplatform.io", resource, namespace, ...(subresource ? { subresource } : {}) });

  beforeAll(async () => {
    for (const d of readDocs(join(REPO_ROOT, "examples/install/team-rbac.yaml"))) await admin.apply(d as Obj, { fieldManager: "platform-install" });
  });

  it("writes its own Databases and SecretRotations, never their status, and nothing in another namespace", async () => {
    const table: [string, string, Parameters<typeof fn.can>[1], boolean][] = [
      ["create a Database", "create", xrs("databases", OPTED_IN), true],
      ["patch a Database (pause it)", "patch", xrs("databases", OPTED_IN), true],
      ["create a SecretRotation", "create", xrs("secretrotations", OPTED_IN), true],
      ["patch a Database's status", "patch", xrs("databases", OPTED_IN, "status"), false],
      ["update a Database's status", "update", xrs("databases", OPTED_IN, "status"), false],
      ["patch a SecretRotation's status", "patch", xrs("secretrotations", OPTED_IN, "status"), false],
      ["create a Database in another namespace", "create", xrs("databases", OTHER), false],
      ["patch a composed FlexibleServer", "patch", { group: "dbforpostgresql.azure.m.upbound.io", resource: "flexibleservers", namespace: OPTED_IN }, false],
    ];
    const got = await Promise.all(table.map(async ([what, verb, res]) => [what, await member.can(verb, res)]));
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(table.map(([what, , , allowed]) => [what, allowed])));
  });
});
