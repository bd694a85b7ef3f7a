// The Operations, run by core's alpha Operations controllers (--enable-operations): the WatchOperation of
// examples/operations rolls the consumers of a rotated Secret, and a CronOperation nudges a due SecretRotation.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDocs } from "../../cli/yaml.ts";
import { REPO_ROOT } from "../support/proto-client.ts";
import { cluster, eventually } from "./context.ts";
import type { Obj } from "./kube.ts";
import { waitFor } from "./processes.ts";

const { admin } = cluster();
const NS = "team-ops";
const example = (f: string) => readDocs(join(REPO_ROOT, "examples/operations", f))[0] as Obj;
const deployment = (name: string, secret: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace: NS },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: "example/app:1", envFrom: [{ secretRef: { name: secret } }] }] } } },
});

beforeAll(async () => {
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }, { fieldManager: "platform" });
  for (const d of readDocs(join(REPO_ROOT, "examples/operations/rbac.yaml"))) await admin.apply(d as Obj, { fieldManager: "platform" });
});

// The watch covers every namespace and the cron runs every minute: neither may act on the files that run next.
afterAll(async () => {
  await admin.delete({ apiVersion: "ops.crossplane.io/v1alpha1", kind: "WatchOperation", name: "roll-rotated-secret-consumers" });
  await admin.delete({ apiVersion: "ops.crossplane.io/v1alpha1", kind: "CronOperation", name: "nudge-every-minute" });
});

describe("Operations through real Crossplane core", () => {
  it("the WatchOperation rolls the Deployments that read a rotated Secret, and only those", async () => {
    // The example as shipped, watching this namespace only: the other files' rotated Secrets would each start an
    // Operation too, and push the one this test looks for past the history limit.
    const watch = example("watch-rotated-secrets.yaml");
    await admin.apply({ ...watch, spec: { ...watch.spec, watch: { ...watch.spec.watch, namespace: NS } } }, { fieldManager: "platform" });
    await admin.apply(deployment("reader", "ops-db"), { fieldManager: "engineer" });
    await admin.apply(deployment("bystander", "other-db"), { fieldManager: "engineer" });
    // What a SecretRotation leaves on the Secret it promoted version 3 into.
    await admin.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "ops-db", namespace: NS, labels: { "rotation.azplatform.io/managed": "true" }, annotations: { "rotation.azplatform.io/version": "3" } },
        stringData: { password: "not-read-by-the-test" },
      },
      { fieldManager: "azplatform.io-secret-rotation" },
    );
    const reader = await eventually(admin, { apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "reader" }, "rolled to v3", (d) => d.spec.template.metadata.annotations?.["rotation.azplatform.io/ops-db"] === "v3", 120_000);
    // Crossplane applied it as the Operation, under its own field manager.
    expect((reader.metadata.managedFields as Obj[]).map((f) => f.manager)).toContainEqual(expect.stringMatching(/^ops\.crossplane\.io\/operation\//));
    const bystander = await admin.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "bystander" });
    expect(bystander.spec.template.metadata.annotations).toBeUndefined();
    const op = await waitFor("the Succeeded Operation that rolled it", async () => {
      const all = await admin.list({ apiVersion: "ops.crossplane.io/v1alpha1", kind: "Operation" });
      const succeeded = (o: Obj) => (o.status?.conditions ?? []).some((c: Obj) => c.type === "Succeeded" && c.status === "True");
      return all.find((o) => succeeded(o) && o.status?.pipeline?.[0]?.output?.rolled?.includes("reader"));
    }, 60_000);
    expect(op.status.pipeline).toEqual([
      expect.objectContaining({ step: "roll-consumers", output: { secret: `${NS}/ops-db`, version: 3, annotation: "rotation.azplatform.io/ops-db", rolled: ["reader"], upToDate: [] } }),
    ]);
  });

  it("a CronOperation nudges a SecretRotation whose rotation is due", async () => {
    // A SecretRotation whose own reconcile cannot run (its Composition names a function that is not installed):
    // the case the nudge is a safety net for. Its status says version 1 was due at the start of the year.
    await admin.apply(
      {
        apiVersion: "apiextensions.crossplane.io/v1",
        kind: "Composition",
        metadata: { name: "secret-rotation-unreachable" },
        spec: { compositeTypeRef: { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation" }, mode: "Pipeline", pipeline: [{ step: "rotate", functionRef: { name: "function-not-installed" } }] },
      },
      { fieldManager: "platform" },
    );
    const xr = { apiVersion: "azplatform.io/v1alpha1", kind: "SecretRotation", namespace: NS, name: "overdue" };
    await admin.apply(
      { apiVersion: xr.apiVersion, kind: xr.kind, metadata: { name: xr.name, namespace: NS }, spec: { team: "ops", secretRef: { name: "ops-db", key: "password" }, rotateEvery: "720h", targets: { keyVault: { vaultName: "kv-payments", secretName: "ops" } }, crossplane: { compositionRef: { name: "secret-rotation-unreachable" } } } },
      { fieldManager: "engineer" },
    );
    const due = "2026-01-01T00:00:00Z";
    await admin.mergePatch(xr, { status: { phase: "Idle", currentVersion: 1, nextRotationAt: due } }, "status");

    const cron = example("cron-due-rotations.yaml");
    await admin.apply({ ...cron, metadata: { name: "nudge-every-minute" }, spec: { ...cron.spec, schedule: "* * * * *", startingDeadlineSeconds: 50 } }, { fieldManager: "platform" });
    const nudged = await eventually(admin, xr, "nudged", (o) => o.metadata.annotations?.["rotation.azplatform.io/due-at"] !== undefined, 150_000);
    expect(nudged.metadata.annotations["rotation.azplatform.io/due-at"]).toBe(due);
    expect(nudged.status).toMatchObject({ nextRotationAt: due });
  });
});
