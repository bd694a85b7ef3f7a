// Core adopts any object with no controller that sits under a composed resource's name, and applies over it with
// force. A Secret a team made before its Database, under the name the connection Secret would get, must not be
// taken over and overwritten: the function refuses, and the Secret stays as it was.
import { describe, expect, it } from "vitest";
import { cluster, conditionOf, eventually } from "./context.ts";
import { waitFor } from "./processes.ts";
import { composedOf } from "./provider.ts";

const { admin } = cluster();
const NS = "team-adopt";
const XR = { apiVersion: "azplatform.io/v1alpha1", kind: "Database", namespace: NS, name: "early" };
const database = (connectionSecretName: string) => ({
  apiVersion: XR.apiVersion,
  kind: XR.kind,
  metadata: { name: XR.name, namespace: NS, labels: { "azplatform.io/cost-center": "cc-1" } },
  spec: { team: "adopt", size: "small", databases: ["early"], connectionSecretName },
});

describe("a Secret that exists under the connection Secret's name before the Database", () => {
  it("is not taken over: the Database is refused, naming the field, and the Secret keeps what it held", async () => {
    await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, { fieldManager: "platform" });
    const handMade = await admin.create({ apiVersion: "v1", kind: "Secret", metadata: { name: "early-db", namespace: NS }, stringData: { password: "made-by-hand" } }, "kubectl-create");
    await admin.apply(database("early-db"), { fieldManager: "argocd-controller" });
    const xr = await eventually(admin, XR, "Synced=False", (o) => conditionOf(o, "Synced")?.status === "False", 60_000);
    expect(conditionOf(xr, "Synced")?.message).toContain("spec.connectionSecretName: Secret early-db already exists in namespace team-adopt and does not belong to this Database");
    // Nothing was composed, and the Secret is untouched: same resourceVersion, no owner.
    expect(await composedOf(admin, NS, XR.name)).toEqual({});
    const after = await admin.get({ apiVersion: "v1", kind: "Secret", namespace: NS, name: "early-db" });
    expect({ rv: after.metadata.resourceVersion, owners: after.metadata.ownerReferences, keys: Object.keys(after.data) }).toEqual({ rv: handMade.metadata.resourceVersion, owners: undefined, keys: ["password"] });

    // Named otherwise, it is composed (the XRD allows setting the name while none has been composed).
    await admin.delete(XR);
    await waitFor("the refused Database gone", async () => ((await admin.find(XR)) === undefined ? true : undefined), 60_000);
    await admin.apply(database("early-conn"), { fieldManager: "argocd-controller" });
    const composed = await waitFor("the connection Secret composed", async () => {
      const c = await composedOf(admin, NS, XR.name);
      return c["connection-secret"] !== undefined ? c : undefined;
    }, 60_000);
    expect(composed["connection-secret"]?.metadata.name).toBe("early-conn");
  });
});
