// A server that exists in Azure, handed by the DBA policy (adopt) to a Database, through real Crossplane core: the
// Database observes it first and composes nothing else; once the provider has found it, the Database takes it over
// as it stands (its name, resource group and admin login), never asking the provider to create it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compositionVariant } from "./composition.ts";
import { cluster, conditionOf, eventually } from "./context.ts";
import type { Obj } from "./kube.ts";
import { waitFor } from "./processes.ts";
import { composedOf, provideUntilReady, reconcileAsProvider } from "./provider.ts";

const { admin } = cluster();
const NS = "team-inventory";
const COMPOSITION = { apiVersion: "apiextensions.crossplane.io/v1", kind: "Composition", name: "database-postgres-adopting" };
const XR = { apiVersion: "azplatform.io/v1alpha1", kind: "Database", namespace: NS, name: "inventory" };
const LEGACY = { serverName: "pg-inventory-legacy", resourceGroupName: "rg-legacy" };

/** The shipped Composition with the DBA's adopt entry for this Database. */
const adoptingComposition = () => compositionVariant(admin, COMPOSITION.name, NS, { adopt: { [`${NS}/${XR.name}`]: LEGACY } });

beforeAll(async () => {
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, { fieldManager: "platform" });
  await admin.apply(await adoptingComposition(), { fieldManager: "dba-team" });
  const database = {
    apiVersion: XR.apiVersion,
    kind: XR.kind,
    metadata: { name: XR.name, namespace: NS, labels: { "azplatform.io/cost-center": "cc-3003" } },
    spec: { team: "inventory", size: "small", databases: ["inventory"], crossplane: { compositionRef: { name: COMPOSITION.name } } },
  };
  await admin.apply(database, { fieldManager: "argocd-controller" });
});
afterAll(async () => {
  await admin.delete(XR);
});

describe("adopting an existing server through real Crossplane", () => {
  let observed: Obj;

  it("observes the server first, and composes nothing else", async () => {
    observed = await waitFor("the server composed Observe-only", async () => (await composedOf(admin, NS, XR.name)).server, 90_000);
    expect(observed.spec.managementPolicies).toEqual(["Observe"]);
    expect(observed.metadata.annotations["crossplane.io/external-name"]).toBe(LEGACY.serverName);
    expect(observed.spec.forProvider.resourceGroupName).toBe(LEGACY.resourceGroupName);
    expect(observed.spec.forProvider.administratorPasswordSecretRef).toBeUndefined();
    const xr = await eventually(admin, XR, "DatabaseReady=False, Adopting", (o) => conditionOf(o, "DatabaseReady")?.reason === "Adopting");
    expect(conditionOf(xr, "DatabaseReady")?.message).toContain(`observing existing server ${LEGACY.serverName} in resource group ${LEGACY.resourceGroupName}`);
    expect(Object.keys(await composedOf(admin, NS, XR.name))).toEqual(["server"]);
    // Reconciled again (the Database touched), it stays only observed while the provider has not found the server.
    await admin.mergePatch(XR, { metadata: { annotations: { "azplatform.io/touched": "1" } } });
    await eventually(admin, XR, "reconciled after the touch", (o) => o.metadata.generation !== undefined && o.status?.conditions !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const still = (await composedOf(admin, NS, XR.name)).server as Obj;
    expect({ policies: still.spec.managementPolicies, composed: Object.keys(await composedOf(admin, NS, XR.name)) }).toEqual({ policies: ["Observe"], composed: ["server"] });
  });

  it("takes it over as it stands once the provider has found it, and the provider never creates it", async () => {
    // The provider finds the server: what Azure has, its own admin login among it.
    await reconcileAsProvider(admin, observed, undefined, { existing: { administratorLogin: "inventoryadmin", version: "15", storageMb: 65536 } });
    const server = await waitFor("the server managed", async () => {
      const s = (await composedOf(admin, NS, XR.name)).server;
      return s !== undefined && s.spec.managementPolicies.includes("Update") ? s : undefined;
    }, 150_000);
    expect(server.spec.forProvider).toMatchObject({ administratorLogin: "inventoryadmin", resourceGroupName: LEGACY.resourceGroupName, version: "15", storageMb: 65536 });
    expect(server.spec.forProvider.administratorPasswordSecretRef).toEqual({ name: "inventory-db-admin", key: "password" });
    const xr = await provideUntilReady(admin, XR, {}, 150_000);
    expect(xr.status).toMatchObject({ serverName: LEGACY.serverName, resourceGroupName: LEGACY.resourceGroupName, applicationRole: "inventory_app" });
    const login = 'policy administratorLogin: the server was created with "inventoryadmin", not "pgadmin"';
    expect(conditionOf(xr, "ChangesApplied")).toMatchObject({ status: "False", reason: "ChangeRefused", message: expect.stringContaining(login) });
  }, 330_000);
});
