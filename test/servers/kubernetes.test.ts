// The Kubernetes fake driven by the REAL @kubernetes/client-node v2 (CoreV1Api, AppsV1Api, KubernetesObjectApi):
// if the fake broke the REST protocol, the client would fail here; if it broke the semantics (optimistic
// concurrency, server-side apply field ownership, generation), the whole-object comparisons would.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1Secret,
} from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type KubeCall, type KubeFake, type Json, startKubeFake } from "./kubernetes.ts";

const T0 = "2025-01-01T00:00:00Z";
const TEAM_A_TOKEN = "team-a-token";

let fake: KubeFake;
let clock: Date;
let core: CoreV1Api;
let apps: AppsV1Api;

/** Moves the fake's clock to `minute` minutes past T0 and returns that time as the server prints it. */
function at(minute: number): string {
  clock = new Date(Date.parse(T0) + minute * 60_000);
  return clock.toISOString().replace(".000Z", "Z");
}

beforeEach(async () => {
  clock = new Date(T0);
  fake = await startKubeFake({ now: () => clock, tokens: { [TEAM_A_TOKEN]: ["team-a"] } });
  core = fake.kubeConfig().makeApiClient(CoreV1Api);
  apps = fake.kubeConfig().makeApiClient(AppsV1Api);
});
afterEach(async () => {
  await fake.close();
});

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const CLIENT_MANAGER = "kubernetes-client-javascript"; // the API server's default: the User-Agent up to "/"

/** A managedFields entry as the server encodes it. */
const entry = (manager: string, operation: "Apply" | "Update", fieldsV1: object, time: string | undefined = T0, apiVersion = "v1"): object => ({
  manager,
  operation,
  apiVersion,
  ...(time === undefined ? {} : { time }),
  fieldsType: "FieldsV1",
  fieldsV1,
});

interface Failure {
  code: number;
  body: unknown;
}

/** The ApiException a call rejects with, its body parsed (the client hands over the raw text). */
async function failure(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    const err = e as ApiException<unknown>;
    return { code: err.code, body: typeof err.body === "string" && err.body !== "" ? (JSON.parse(err.body) as unknown) : err.body };
  }
  throw new Error("expected the call to fail");
}

const status = (code: number, reason: string, message: string, details?: object): object => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(details === undefined ? {} : { details }),
  code,
});

const applyOptions = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

/** Server-side apply of a Secret the way the v2 client does it: patch + Content-Type header + query params. */
function applySecret(manager: string, name: string, body: { data?: Record<string, string>; stringData?: Record<string, string>; metadata?: object; type?: string }, force?: boolean, namespace = "team-a"): Promise<V1Secret> {
  const { metadata, ...rest } = body;
  return core.patchNamespacedSecret(
    {
      name,
      namespace,
      body: { apiVersion: "v1", kind: "Secret", metadata: { name, namespace, ...metadata }, ...rest },
      fieldManager: manager,
      ...(force === undefined ? {} : { force }),
    },
    applyOptions,
  );
}

function stored(kind: "Secret" | "Deployment", name: string, namespace = "team-a"): Record<string, Json> {
  const o = fake.get(namespace, kind, name);
  if (o === undefined) throw new Error(`${kind} ${namespace}/${name} is not stored`);
  return o;
}
const meta = (o: Record<string, Json>): Record<string, Json> => o.metadata as Record<string, Json>;
const managedFields = (kind: "Secret" | "Deployment", name: string): Json | undefined => meta(stored(kind, name)).managedFields;

// ---------------------------------------------------------------------------------------------------------------

describe("Secrets: CRUD and errors", () => {
  it("creates, reads, lists, replaces and deletes; the stored object compared whole after each write", async () => {
    const created = await core.createNamespacedSecretWithHttpInfo({
      namespace: "team-a",
      body: { metadata: { name: "db", labels: { app: "db" } }, data: { user: b64("app") }, stringData: { password: "s3cret" } },
      fieldManager: "creator",
    });
    expect(created.httpStatusCode).toBe(201);
    const uid = created.data.metadata?.uid;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(stored("Secret", "db")).toEqual({
      kind: "Secret",
      apiVersion: "v1",
      metadata: {
        name: "db",
        namespace: "team-a",
        uid,
        resourceVersion: "1",
        creationTimestamp: T0,
        labels: { app: "db" },
        // stringData is folded into data before field management sees it: an Update owns f:data keys
        managedFields: [entry("creator", "Update", { "f:data": { ".": {}, "f:password": {}, "f:user": {} }, "f:metadata": { "f:labels": { ".": {}, "f:app": {} } }, "f:type": {} })],
      },
      data: { password: b64("s3cret"), user: b64("app") },
      type: "Opaque",
    });

    const read = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    expect(read.data).toEqual({ password: b64("s3cret"), user: b64("app") });
    expect(read.metadata?.resourceVersion).toBe("1");
    expect(read.metadata?.creationTimestamp).toEqual(new Date(T0));

    const list = await core.listNamespacedSecret({ namespace: "team-a" });
    expect(list.items.map((s) => s.metadata?.name)).toEqual(["db"]);
    expect(list.metadata?.resourceVersion).toBe("1");

    const t1 = at(1);
    read.data = { ...read.data, password: b64("n3w") };
    const replaced = await core.replaceNamespacedSecretWithHttpInfo({ name: "db", namespace: "team-a", body: read, fieldManager: "rotator" });
    expect(replaced.httpStatusCode).toBe(200);
    expect(stored("Secret", "db")).toEqual({
      kind: "Secret",
      apiVersion: "v1",
      metadata: {
        name: "db",
        namespace: "team-a",
        uid,
        resourceVersion: "2",
        creationTimestamp: T0,
        labels: { app: "db" },
        managedFields: [
          entry("creator", "Update", { "f:data": { ".": {}, "f:user": {} }, "f:metadata": { "f:labels": { ".": {}, "f:app": {} } }, "f:type": {} }),
          entry("rotator", "Update", { "f:data": { "f:password": {} } }, t1),
        ],
      },
      data: { password: b64("n3w"), user: b64("app") },
      type: "Opaque",
    });
    expect(fake.owners("team-a", "Secret", "db", "data.password")).toEqual(["rotator"]);
    expect(fake.owners("team-a", "Secret", "db", ".data.user")).toEqual(["creator"]);

    const deleted = await core.deleteNamespacedSecret({ name: "db", namespace: "team-a" });
    expect(deleted).toMatchObject({ kind: "Status", status: "Success", details: { name: "db", kind: "secrets", uid } });
    expect(fake.get("team-a", "Secret", "db")).toBeUndefined();
    expect(await failure(core.readNamespacedSecret({ name: "db", namespace: "team-a" }))).toEqual({
      code: 404,
      body: status(404, "NotFound", 'secrets "db" not found', { name: "db", kind: "secrets" }),
    });
  });

  it.each<{ what: string; call: () => Promise<unknown>; code: number; body: object }>([
    {
      what: "read of a missing Secret",
      call: () => core.readNamespacedSecret({ name: "nope", namespace: "team-a" }),
      code: 404,
      body: status(404, "NotFound", 'secrets "nope" not found', { name: "nope", kind: "secrets" }),
    },
    {
      what: "create of an existing Secret",
      call: () => core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "seeded" } } }),
      code: 409,
      body: status(409, "AlreadyExists", 'secrets "seeded" already exists', { name: "seeded", kind: "secrets" }),
    },
    {
      what: "replace of a missing Secret",
      call: () => core.replaceNamespacedSecret({ name: "nope", namespace: "team-a", body: { metadata: { name: "nope" } } }),
      code: 404,
      body: status(404, "NotFound", 'secrets "nope" not found', { name: "nope", kind: "secrets" }),
    },
    {
      what: "merge patch of a missing Secret",
      call: () => core.patchNamespacedSecret({ name: "nope", namespace: "team-a", body: { data: {} } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)),
      code: 404,
      body: status(404, "NotFound", 'secrets "nope" not found', { name: "nope", kind: "secrets" }),
    },
    {
      what: "delete of a missing Secret",
      call: () => core.deleteNamespacedSecret({ name: "nope", namespace: "team-a" }),
      code: 404,
      body: status(404, "NotFound", 'secrets "nope" not found', { name: "nope", kind: "secrets" }),
    },
    {
      what: "read of a missing Deployment (group in message and details)",
      call: () => apps.readNamespacedDeployment({ name: "nope", namespace: "team-a" }),
      code: 404,
      body: status(404, "NotFound", 'deployments.apps "nope" not found', { name: "nope", group: "apps", kind: "deployments" }),
    },
    {
      what: "data that is not base64",
      call: () => core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "bad" }, data: { password: "plain text" } } }),
      code: 400,
      body: status(400, "BadRequest", 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 5'),
    },
    {
      what: "data without its base64 padding",
      call: () => core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "bad" }, data: { password: "YWJjZA" } } }),
      code: 400,
      body: status(400, "BadRequest", 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'),
    },
    {
      what: "a data key that is not a valid config key",
      call: () => core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "bad" }, data: { "bad key": b64("x") } } }),
      code: 422,
      body: status(
        422,
        "Invalid",
        `Secret "bad" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
        {
          name: "bad",
          kind: "Secret",
          causes: [
            {
              reason: "FieldValueInvalid",
              message: `Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
              field: "data[bad key]",
            },
          ],
        },
      ),
    },
    {
      what: "a replace whose body names another object",
      call: () => core.replaceNamespacedSecret({ name: "seeded", namespace: "team-a", body: { metadata: { name: "other" } } }),
      code: 400,
      body: status(400, "BadRequest", "the name of the object (other) does not match the name on the URL (seeded)"),
    },
    {
      what: "a change of type",
      call: () => core.patchNamespacedSecret({ name: "seeded", namespace: "team-a", body: { type: "kubernetes.io/basic-auth" } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)),
      code: 422,
      body: status(422, "Invalid", 'Secret "seeded" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable', {
        name: "seeded",
        kind: "Secret",
        causes: [{ reason: "FieldValueInvalid", message: 'Invalid value: "kubernetes.io/basic-auth": field is immutable', field: "type" }],
      }),
    },
    {
      what: "a PATCH with a content type the server does not take",
      call: () => core.patchNamespacedSecret({ name: "seeded", namespace: "team-a", body: {} }, setHeaderOptions("Content-Type", "application/json")),
      code: 415,
      body: status(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
      ),
    },
  ])("$what → $code", async ({ call, code, body }) => {
    fake.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "seeded", namespace: "team-a" }, type: "Opaque" });
    const before = fake.get("team-a", "Secret", "seeded");
    expect(await failure(call())).toEqual({ code, body });
    expect(fake.get("team-a", "Secret", "seeded")).toEqual(before);
    expect(fake.get("team-a", "Secret", "bad")).toBeUndefined();
  });

  it("folds stringData into data on create, replace and patch; stringData is never stored", async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" }, data: { a: b64("1"), b: b64("2") }, stringData: { b: "two", c: "3" } } });
    expect(stored("Secret", "db").data).toEqual({ a: b64("1"), b: b64("two"), c: b64("3") });
    const read = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    await core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: { ...read, stringData: { a: "one" } } });
    expect(stored("Secret", "db").data).toEqual({ a: b64("one"), b: b64("two"), c: b64("3") });
    await core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { stringData: { d: "4" } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    expect(stored("Secret", "db")).not.toHaveProperty("stringData");
    expect(stored("Secret", "db").data).toEqual({ a: b64("one"), b: b64("two"), c: b64("3"), d: b64("4") });
    expect(fake.owners("team-a", "Secret", "db", "data.d")).toEqual([CLIENT_MANAGER]);
  });
});

describe("Secrets: optimistic concurrency on resourceVersion", () => {
  const CONFLICT = status(409, "Conflict", 'Operation cannot be fulfilled on secrets "db": the object has been modified; please apply your changes to the latest version and try again', {
    name: "db",
    kind: "secrets",
  });

  it("of two writers that read the same version, the second gets 409 Conflict and succeeds after re-reading", async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" }, data: { password: b64("v1") } } });
    const first = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    const second = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    expect(first.metadata?.resourceVersion).toBe("1");

    const written = await core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: { ...first, data: { password: b64("from-first") } } });
    expect(written.metadata?.resourceVersion).toBe("2");
    expect(await failure(core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: { ...second, data: { password: b64("from-second") } } }))).toEqual({
      code: 409,
      body: CONFLICT,
    });
    expect(stored("Secret", "db").data).toEqual({ password: b64("from-first") });

    const again = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    const retried = await core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: { ...again, data: { password: b64("from-second") } } });
    expect(retried.metadata?.resourceVersion).toBe("3");
    expect(stored("Secret", "db").data).toEqual({ password: b64("from-second") });
  });

  it("a replace without resourceVersion is unconditional; a patch or delete carrying a stale one is refused", async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" }, data: { k: b64("1") } } });
    await core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: { metadata: { name: "db" }, data: { k: b64("2") } } });
    expect(meta(stored("Secret", "db")).resourceVersion).toBe("2");

    const stale = { metadata: { resourceVersion: "1" }, data: { k: b64("3") } };
    expect(await failure(core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: stale }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)))).toEqual({ code: 409, body: CONFLICT });
    expect(
      await failure(core.deleteNamespacedSecret({ name: "db", namespace: "team-a", body: { preconditions: { resourceVersion: "1" } } })),
    ).toEqual({
      code: 409,
      body: status(409, "Conflict", 'Operation cannot be fulfilled on secrets "db": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: 2', {
        name: "db",
        kind: "secrets",
      }),
    });
    expect(stored("Secret", "db").data).toEqual({ k: b64("2") });
    await core.deleteNamespacedSecret({ name: "db", namespace: "team-a", body: { preconditions: { resourceVersion: "2" } } });
    expect(fake.get("team-a", "Secret", "db")).toBeUndefined();
  });

  it("a write that changes nothing keeps the resourceVersion", async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" }, data: { k: b64("1") } } });
    const read = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    const same = await core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: read });
    expect(same.metadata?.resourceVersion).toBe("1");
    await core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { data: { k: b64("1") } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    expect(meta(stored("Secret", "db")).resourceVersion).toBe("1");
  });
});

describe("Secrets: patch content types", () => {
  beforeEach(async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db", labels: { app: "db" } }, data: { user: b64("app"), password: b64("p1") } }, fieldManager: "creator" });
  });

  it.each<{ type: string; body: unknown; data: Record<string, string>; labels: Record<string, string> | undefined; fieldsV1: object }>([
    {
      type: PatchStrategy.MergePatch,
      body: { metadata: { labels: { app: null, tier: "data" } }, data: { password: null, token: b64("t") } },
      data: { user: b64("app"), token: b64("t") },
      labels: { tier: "data" },
      fieldsV1: { "f:data": { "f:token": {} }, "f:metadata": { "f:labels": { "f:tier": {} } } },
    },
    {
      type: PatchStrategy.StrategicMergePatch,
      body: { metadata: { labels: { tier: "data" } }, data: { password: b64("p2") } },
      data: { user: b64("app"), password: b64("p2") },
      labels: { app: "db", tier: "data" },
      fieldsV1: { "f:data": { "f:password": {} }, "f:metadata": { "f:labels": { "f:tier": {} } } },
    },
    {
      type: PatchStrategy.StrategicMergePatch,
      body: { metadata: { labels: { $patch: "replace", tier: "data" } } },
      data: { user: b64("app"), password: b64("p1") },
      labels: { tier: "data" },
      fieldsV1: { "f:metadata": { "f:labels": { "f:tier": {} } } },
    },
    {
      type: PatchStrategy.JsonPatch,
      body: [
        { op: "test", path: "/data/password", value: b64("p1") },
        { op: "replace", path: "/data/password", value: b64("p2") },
        { op: "add", path: "/metadata/labels/tier", value: "data" },
        { op: "remove", path: "/metadata/labels/app" },
      ],
      data: { user: b64("app"), password: b64("p2") },
      labels: { tier: "data" },
      fieldsV1: { "f:data": { "f:password": {} }, "f:metadata": { "f:labels": { "f:tier": {} } } },
    },
  ])("$type: the result, and the patcher's Update owns exactly what it changed", async ({ type, body, data, labels, fieldsV1 }) => {
    const t1 = at(1);
    await core.patchNamespacedSecret({ name: "db", namespace: "team-a", body, fieldManager: "patcher" }, setHeaderOptions("Content-Type", type));
    const s = stored("Secret", "db");
    expect(s.data).toEqual(data);
    expect(meta(s).labels).toEqual(labels);
    expect((meta(s).managedFields as Json[])[1]).toEqual(entry("patcher", "Update", fieldsV1, t1));
    expect(meta(s).resourceVersion).toBe("2");
  });

  it("a failed JSON patch `test` is 422 and changes nothing; so is an operation on a missing path", async () => {
    const rejected = status(422, "Invalid", "the server rejected our request due to an error in our request");
    const before = stored("Secret", "db");
    expect(
      await failure(
        core.patchNamespacedSecret({
          name: "db",
          namespace: "team-a",
          body: [
            { op: "test", path: "/data/password", value: b64("not-p1") },
            { op: "replace", path: "/data/password", value: b64("p2") },
          ],
        }),
      ),
    ).toEqual({ code: 422, body: rejected });
    expect(await failure(core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: [{ op: "remove", path: "/data/missing" }] }))).toEqual({ code: 422, body: rejected });
    expect(stored("Secret", "db")).toEqual(before);
  });

  it("a patch that makes data invalid base64 is 422 on the `patch` field", async () => {
    const res = await failure(core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { data: { password: "not base64!" } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)));
    expect(res.code).toBe(422);
    expect(res.body).toMatchObject({ reason: "Invalid", message: expect.stringMatching(/^ "" is invalid: patch: Invalid value: ".*": illegal base64 data at input byte 3$/) });
  });

  it("PatchOptions are validated as the API server does: force only with apply, fieldManager required with apply", async () => {
    expect(
      await failure(core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { data: {} }, force: true }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch))),
    ).toEqual({
      code: 422,
      body: status(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch', {
        group: "meta.k8s.io",
        kind: "PatchOptions",
        causes: [{ reason: "FieldValueForbidden", message: "Forbidden: may not be specified for non-apply patch", field: "force" }],
      }),
    });
    expect(
      await failure(core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "db" } } }, applyOptions)),
    ).toEqual({
      code: 422,
      body: status(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
        group: "meta.k8s.io",
        kind: "PatchOptions",
        causes: [{ reason: "FieldValueRequired", message: "Required value: is required for apply patch", field: "fieldManager" }],
      }),
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("server-side apply: field ownership", () => {
  const conflictWith = (who: string, fields: string[]): object =>
    status(
      409,
      "Conflict",
      fields.length === 1
        ? `Apply failed with 1 conflict: conflict with ${who}: ${fields[0] ?? ""}`
        : `Apply failed with ${fields.length} conflicts: conflicts with ${who}:\n${fields.map((f) => `- ${f}`).join("\n")}`,
      { causes: fields.map((field) => ({ reason: "FieldManagerConflict", message: `conflict with ${who}`, field })) },
    );

  it("two appliers: conflict, force, shared ownership, and fields dropped while owned or not; managedFields after each step", async () => {
    const secret = (): { data: Json | undefined; labels: Json | undefined; managedFields: Json | undefined; resourceVersion: Json | undefined } => {
      const s = stored("Secret", "db");
      return { data: s.data, labels: meta(s).labels, managedFields: meta(s).managedFields, resourceVersion: meta(s).resourceVersion };
    };

    // 1. A creates the Secret by applying: A owns exactly what it applied (no "." for applied maps); the
    //    defaulted type is owned by nobody.
    const t1 = at(1);
    const created = await core.patchNamespacedSecretWithHttpInfo(
      { name: "db", namespace: "team-a", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "db", labels: { app: "db" } }, data: { user: b64("app"), password: b64("p1") } }, fieldManager: "a" },
      applyOptions,
    );
    expect(created.httpStatusCode).toBe(201);
    expect(secret()).toEqual({
      data: { user: b64("app"), password: b64("p1") },
      labels: { app: "db" },
      managedFields: [entry("a", "Apply", { "f:data": { "f:password": {}, "f:user": {} }, "f:metadata": { "f:labels": { "f:app": {} } } }, t1)],
      resourceVersion: "1",
    });
    expect(stored("Secret", "db").type).toBe("Opaque");
    expect(fake.owners("team-a", "Secret", "db", "type")).toEqual([]);

    // 2. B applies another value for A's field: 409 listing field and manager; nothing changes.
    at(2);
    expect(await failure(applySecret("b", "db", { data: { password: b64("p2") } }))).toEqual({ code: 409, body: conflictWith('"a"', [".data.password"]) });
    expect(await failure(applySecret("b", "db", { data: { password: b64("p2") } }, false))).toEqual({ code: 409, body: conflictWith('"a"', [".data.password"]) });
    expect(secret().resourceVersion).toBe("1");

    // 3. Forced, B takes the field over: A keeps the rest.
    const t3 = at(3);
    await applySecret("b", "db", { data: { password: b64("p2") } }, true);
    expect(secret()).toEqual({
      data: { user: b64("app"), password: b64("p2") },
      labels: { app: "db" },
      managedFields: [
        entry("a", "Apply", { "f:data": { "f:user": {} }, "f:metadata": { "f:labels": { "f:app": {} } } }, t1),
        entry("b", "Apply", { "f:data": { "f:password": {} } }, t3),
      ],
      resourceVersion: "2",
    });
    expect(fake.owners("team-a", "Secret", "db", "data.password")).toEqual(["b"]);

    // 4. A applies the value B set: no conflict, they share the field. The object did not change, so A's time
    //    stays; its managedFields did, so the resourceVersion moves.
    at(4);
    await applySecret("a", "db", { metadata: { labels: { app: "db" } }, data: { user: b64("app"), password: b64("p2") } });
    expect(secret()).toEqual({
      data: { user: b64("app"), password: b64("p2") },
      labels: { app: "db" },
      managedFields: [
        entry("a", "Apply", { "f:data": { "f:password": {}, "f:user": {} }, "f:metadata": { "f:labels": { "f:app": {} } } }, t1),
        entry("b", "Apply", { "f:data": { "f:password": {} } }, t3),
      ],
      resourceVersion: "3",
    });
    expect(fake.owners("team-a", "Secret", "db", "data.password")).toEqual(["a", "b"]);

    // 5. A shared field changes for nobody without force: both conflict with the other owner.
    at(5);
    expect(await failure(applySecret("a", "db", { metadata: { labels: { app: "db" } }, data: { user: b64("app"), password: b64("p3") } }))).toEqual({
      code: 409,
      body: conflictWith('"b"', [".data.password"]),
    });
    expect(await failure(applySecret("b", "db", { data: { password: b64("p3") } }))).toEqual({ code: 409, body: conflictWith('"a"', [".data.password"]) });

    // 6. B drops the field: it survives, A still owns it; B owns nothing and its entry goes.
    at(6);
    await applySecret("b", "db", {});
    expect(secret()).toEqual({
      data: { user: b64("app"), password: b64("p2") },
      labels: { app: "db" },
      managedFields: [entry("a", "Apply", { "f:data": { "f:password": {}, "f:user": {} }, "f:metadata": { "f:labels": { "f:app": {} } } }, t1)],
      resourceVersion: "4",
    });

    // 7. A drops it too: nobody owns it any more, so it is removed from the object; the same for a label.
    const t7 = at(7);
    await applySecret("a", "db", { data: { user: b64("app") } });
    expect(secret()).toEqual({
      data: { user: b64("app") },
      labels: undefined,
      managedFields: [entry("a", "Apply", { "f:data": { "f:user": {} } }, t7)],
      resourceVersion: "5",
    });

    // 8. The same configuration again is a no-op: same resourceVersion, same time.
    at(8);
    await applySecret("a", "db", { data: { user: b64("app") } });
    expect(secret().resourceVersion).toBe("5");
    expect(secret().managedFields).toEqual([entry("a", "Apply", { "f:data": { "f:user": {} } }, t7)]);
  });

  it("Update operations take ownership without conflict; an Apply then conflicts with that Update manager", async () => {
    await applySecret("a", "db", { data: { user: b64("app"), password: b64("p1") } });
    const t1 = at(1);
    await core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { data: { user: b64("edited") } }, fieldManager: "editor" }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    expect(managedFields("Secret", "db")).toEqual([entry("a", "Apply", { "f:data": { "f:password": {} } }), entry("editor", "Update", { "f:data": { "f:user": {} } }, t1)]);

    at(2);
    expect(await failure(applySecret("a", "db", { data: { user: b64("app"), password: b64("p1") } }))).toEqual({
      code: 409,
      body: conflictWith('"editor" using v1', [".data.user"]),
    });
    // A omitting the field: it stays, the Update manager owns it.
    at(3);
    await applySecret("a", "db", { data: { password: b64("p1") } });
    expect(stored("Secret", "db").data).toEqual({ user: b64("edited"), password: b64("p1") });
    // Forced, A gets it back and the Update manager's entry, now empty, goes.
    const t4 = at(4);
    await applySecret("a", "db", { data: { user: b64("app"), password: b64("p1") } }, true);
    expect(managedFields("Secret", "db")).toEqual([entry("a", "Apply", { "f:data": { "f:password": {}, "f:user": {} } }, t4)]);
    expect(stored("Secret", "db").data).toEqual({ user: b64("app"), password: b64("p1") });
  });

  it("conflicts list every field of every manager, sorted by manager", async () => {
    await applySecret("a", "db", { data: { x: b64("1"), y: b64("1") } });
    await applySecret("b", "db", { metadata: { annotations: { owner: "b" } }, data: { z: b64("1") } });
    expect(await failure(applySecret("c", "db", { metadata: { annotations: { owner: "c" } }, data: { x: b64("2"), y: b64("2"), z: b64("2") } }))).toEqual({
      code: 409,
      body: status(
        409,
        "Conflict",
        'Apply failed with 4 conflicts: conflicts with "a":\n- .data.x\n- .data.y\nconflicts with "b":\n- .data.z\n- .metadata.annotations.owner',
        {
          causes: [
            { reason: "FieldManagerConflict", message: 'conflict with "a"', field: ".data.x" },
            { reason: "FieldManagerConflict", message: 'conflict with "a"', field: ".data.y" },
            { reason: "FieldManagerConflict", message: 'conflict with "b"', field: ".data.z" },
            { reason: "FieldManagerConflict", message: 'conflict with "b"', field: ".metadata.annotations.owner" },
          ],
        },
      ),
    });
  });

  it("labels, annotations and type are owned field by field", async () => {
    await applySecret("a", "db", { metadata: { labels: { app: "db", team: "a" }, annotations: { "example.com/rotated-at": "t1" } }, type: "Opaque", data: { k: b64("v") } });
    await applySecret("b", "db", { metadata: { labels: { team: "a" }, annotations: { "example.com/owner": "b" } } });
    expect(managedFields("Secret", "db")).toEqual([
      entry("a", "Apply", {
        "f:data": { "f:k": {} },
        "f:metadata": { "f:annotations": { "f:example.com/rotated-at": {} }, "f:labels": { "f:app": {}, "f:team": {} } },
        "f:type": {},
      }),
      entry("b", "Apply", { "f:metadata": { "f:annotations": { "f:example.com/owner": {} }, "f:labels": { "f:team": {} } } }),
    ]);
    expect(fake.owners("team-a", "Secret", "db", "metadata.labels.team")).toEqual(["a", "b"]);
    expect(fake.owners("team-a", "Secret", "db", 'metadata.annotations["example.com/rotated-at"]')).toEqual(["a"]);
    expect(fake.owners("team-a", "Secret", "db", "metadata.annotations[example.com/owner]")).toEqual(["b"]);
    expect(fake.owners("team-a", "Secret", "db", "type")).toEqual(["a"]);

    await applySecret("a", "db", { data: { k: b64("v") } });
    expect(meta(stored("Secret", "db"))).toMatchObject({ labels: { team: "a" }, annotations: { "example.com/owner": "b" } });
    expect(stored("Secret", "db").type).toBe("Opaque"); // dropped by its owner, defaulted back by the server
  });

  it("applying stringData owns f:stringData, not the data keys: no conflict over data, and no pruning of data", async () => {
    await applySecret("a", "db", { data: { password: b64("p1") } });
    await applySecret("b", "db", { stringData: { password: "p2" } });
    expect(stored("Secret", "db").data).toEqual({ password: b64("p2") });
    expect(stored("Secret", "db")).not.toHaveProperty("stringData");
    expect(managedFields("Secret", "db")).toEqual([entry("a", "Apply", { "f:data": { "f:password": {} } }), entry("b", "Apply", { "f:stringData": { "f:password": {} } })]);
    expect(fake.owners("team-a", "Secret", "db", "data.password")).toEqual(["a"]);
    expect(fake.owners("team-a", "Secret", "db", "stringData.password")).toEqual(["b"]);

    // b no longer applies the key: the value b wrote stays in data (only .stringData.password was b's)
    await applySecret("b", "db", { stringData: { other: "x" } });
    expect(stored("Secret", "db").data).toEqual({ password: b64("p2"), other: b64("x") });
  });

  it("an object nobody manages is first attributed to before-first-apply, an Update manager", async () => {
    fake.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "legacy", namespace: "team-a" }, data: { password: b64("old") }, type: "Opaque" });
    expect(await failure(applySecret("a", "legacy", { data: { password: b64("new") } }))).toEqual({
      code: 409,
      body: conflictWith('"before-first-apply" using v1', [".data.password"]),
    });
    await applySecret("a", "legacy", { data: { password: b64("new") } }, true);
    expect(managedFields("Secret", "legacy")).toEqual([
      entry("a", "Apply", { "f:data": { "f:password": {} } }),
      // it keeps .data itself: a member whose children were taken is encoded as a leaf, {}
      entry("before-first-apply", "Update", { "f:data": {}, "f:type": {} }),
    ]);
  });

  it("put() with a fieldManager seeds ownership as that manager's create would", async () => {
    fake.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "seeded", namespace: "team-a", labels: { app: "x" } }, data: { k: b64("v") } }, { fieldManager: "seeder" });
    expect(managedFields("Secret", "seeded")).toEqual([
      entry("seeder", "Update", { "f:data": { ".": {}, "f:k": {} }, "f:metadata": { "f:labels": { ".": {}, "f:app": {} } }, "f:type": {} }),
    ]);
    expect(await failure(applySecret("a", "seeded", { data: { k: b64("other") } }))).toEqual({ code: 409, body: conflictWith('"seeder" using v1', [".data.k"]) });
  });

  it.each<{ what: string; body: object; message: string }>([
    { what: "another apiVersion", body: { apiVersion: "v2", kind: "Secret", metadata: { name: "db" } }, message: "Incorrect version specified in apply patch. Specified patch version: v2, expected: v1" },
    { what: "another name", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "other" } }, message: "the name of the object (other) does not match the name on the URL (db)" },
    { what: "managedFields", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "db", managedFields: [{ manager: "x" }] } }, message: "metadata.managedFields must be nil" },
  ])("an applied configuration with $what is 400", async ({ body, message }) => {
    expect(await failure(core.patchNamespacedSecret({ name: "db", namespace: "team-a", body, fieldManager: "a" }, applyOptions))).toEqual({
      code: 400,
      body: status(400, "BadRequest", message),
    });
  });

  it("dryRun=All answers the result without storing it", async () => {
    const result = await core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { apiVersion: "v1", kind: "Secret", metadata: { name: "db" }, data: { k: b64("v") } }, fieldManager: "a", dryRun: "All" }, applyOptions);
    expect(result.data).toEqual({ k: b64("v") });
    expect(fake.get("team-a", "Secret", "db")).toBeUndefined();
  });

  it("works through KubernetesObjectApi.patch(…, PatchStrategy.ServerSideApply), which resolves the kind by discovery", async () => {
    const client = fake.kubeConfig().makeApiClient(KubernetesObjectApi);
    const spec: V1Secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "db", namespace: "team-a" }, data: { k: b64("v") } };
    const result = await client.patch(spec, undefined, undefined, "object-api", true, PatchStrategy.ServerSideApply);
    expect(result.metadata?.resourceVersion).toBe("1");
    expect(fake.owners("team-a", "Secret", "db", "data.k")).toEqual(["object-api"]);
    expect(fake.calls()).toEqual([
      { method: "GET", path: "/api/v1", query: "", status: 200 },
      {
        method: "PATCH",
        path: "/api/v1/namespaces/team-a/secrets/db",
        query: "fieldManager=object-api&force=true",
        contentType: "application/apply-patch+yaml",
        fieldManager: "object-api",
        force: true,
        status: 201,
      },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("Deployments", () => {
  const deployment = (name: string, labels: Record<string, string> = {}): V1Deployment => ({
    metadata: { name, labels },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: "app", image: "registry.example/app:1.0", env: [{ name: "PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }] },
            { name: "sidecar", image: "registry.example/proxy" },
          ],
        },
      },
    },
  });

  it("a create is defaulted, generation 1, and the creator's Update owns what it sent and the defaults", async () => {
    const created = await apps.createNamespacedDeploymentWithHttpInfo({ namespace: "team-a", body: deployment("web"), fieldManager: "deployer" });
    expect(created.httpStatusCode).toBe(201);
    expect(stored("Deployment", "web")).toEqual({
      kind: "Deployment",
      apiVersion: "apps/v1",
      metadata: {
        name: "web",
        namespace: "team-a",
        uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        resourceVersion: "1",
        generation: 1,
        creationTimestamp: T0,
        managedFields: [
          entry(
            "deployer",
            "Update",
            {
              "f:spec": {
                "f:progressDeadlineSeconds": {},
                "f:replicas": {},
                "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": { "f:rollingUpdate": { ".": {}, "f:maxSurge": {}, "f:maxUnavailable": {} }, "f:type": {} },
                "f:template": {
                  "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
                  "f:spec": {
                    "f:containers": {
                      'k:{"name":"app"}': {
                        ".": {},
                        "f:env": {
                          ".": {},
                          'k:{"name":"PASSWORD"}': { ".": {}, "f:name": {}, "f:valueFrom": { ".": {}, "f:secretKeyRef": { ".": {}, "f:key": {}, "f:name": {} } } },
                        },
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                      },
                      'k:{"name":"sidecar"}': {
                        ".": {},
                        "f:image": {},
                        "f:imagePullPolicy": {},
                        "f:name": {},
                        "f:resources": {},
                        "f:terminationMessagePath": {},
                        "f:terminationMessagePolicy": {},
                      },
                    },
                    "f:dnsPolicy": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                  },
                },
              },
            },
            T0,
            "apps/v1",
          ),
        ],
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            containers: [
              {
                name: "app",
                image: "registry.example/app:1.0",
                env: [{ name: "PASSWORD", valueFrom: { secretKeyRef: { name: "db", key: "password" } } }],
                resources: {},
                terminationMessagePath: "/dev/termination-log",
                terminationMessagePolicy: "File",
                imagePullPolicy: "IfNotPresent",
              },
              {
                name: "sidecar",
                image: "registry.example/proxy",
                resources: {},
                terminationMessagePath: "/dev/termination-log",
                terminationMessagePolicy: "File",
                imagePullPolicy: "Always",
              },
            ],
            restartPolicy: "Always",
            terminationGracePeriodSeconds: 30,
            dnsPolicy: "ClusterFirst",
            securityContext: {},
            schedulerName: "default-scheduler",
          },
        },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } },
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
      },
      status: {},
    });
  });

  it("rollout restarts by strategic merge patch: generation moves on spec and annotation changes only, never on a no-op", async () => {
    await apps.createNamespacedDeployment({ namespace: "team-a", body: deployment("web") });
    const smp = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const restart = (when: string): object => ({ spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": when } } } } });
    const steps: { what: string; body: object; options: typeof smp; generation: number; resourceVersion: string }[] = [
      { what: "first restart", body: restart("2025-01-01T00:01:00Z"), options: smp, generation: 2, resourceVersion: "2" },
      { what: "the same restart again (no-op)", body: restart("2025-01-01T00:01:00Z"), options: smp, generation: 2, resourceVersion: "2" },
      { what: "second restart", body: restart("2025-01-01T00:02:00Z"), options: smp, generation: 3, resourceVersion: "3" },
      { what: "scale by merge patch", body: { spec: { replicas: 3 } }, options: merge, generation: 4, resourceVersion: "4" },
      { what: "the same scale (no-op)", body: { spec: { replicas: 3 } }, options: merge, generation: 4, resourceVersion: "4" },
      { what: "a label on the Deployment", body: { metadata: { labels: { tier: "web" } } }, options: merge, generation: 4, resourceVersion: "5" },
      { what: "an annotation on the Deployment", body: { metadata: { annotations: { note: "x" } } }, options: smp, generation: 5, resourceVersion: "6" },
    ];
    for (const step of steps) {
      const result = await apps.patchNamespacedDeployment({ name: "web", namespace: "team-a", body: step.body, fieldManager: "kubectl-rollout" }, step.options);
      expect({ step: step.what, generation: result.metadata?.generation, resourceVersion: result.metadata?.resourceVersion }).toEqual({
        step: step.what,
        generation: step.generation,
        resourceVersion: step.resourceVersion,
      });
    }
    const d = stored("Deployment", "web");
    expect((d.spec as { template: { metadata: object } }).template.metadata).toEqual({
      labels: { app: "web" },
      annotations: { "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:02:00Z" },
    });
    expect((meta(d).managedFields as { manager: string }[]).find((e) => e.manager === "kubectl-rollout")).toEqual(
      entry(
        "kubectl-rollout",
        "Update",
        {
          "f:metadata": { "f:annotations": { ".": {}, "f:note": {} }, "f:labels": { ".": {}, "f:tier": {} } },
          "f:spec": { "f:replicas": {}, "f:template": { "f:metadata": { "f:annotations": { ".": {}, "f:kubectl.kubernetes.io/restartedAt": {} } } } },
        },
        T0,
        "apps/v1",
      ),
    );
    expect(fake.owners("team-a", "Deployment", "web", 'spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]')).toEqual(["kubectl-rollout"]);
    expect(fake.owners("team-a", "Deployment", "web", "spec.replicas")).toEqual(["kubectl-rollout"]);
  });

  it("replace (PUT): generation moves with the spec, not with an unchanged body; a stale resourceVersion is 409", async () => {
    await apps.createNamespacedDeployment({ namespace: "team-a", body: deployment("web") });
    const read = await apps.readNamespacedDeployment({ name: "web", namespace: "team-a" });
    const same = await apps.replaceNamespacedDeployment({ name: "web", namespace: "team-a", body: read });
    expect([same.metadata?.generation, same.metadata?.resourceVersion]).toEqual([1, "1"]);
    const containers = read.spec?.template.spec?.containers ?? [];
    const changed: V1Deployment = { ...read, spec: { ...read.spec, selector: read.spec?.selector ?? {}, template: { ...read.spec?.template, spec: { containers: containers.map((c) => ({ ...c, image: "registry.example/app:2.0" })) } } } };
    const replaced = await apps.replaceNamespacedDeployment({ name: "web", namespace: "team-a", body: changed, fieldManager: "ci" });
    expect([replaced.metadata?.generation, replaced.metadata?.resourceVersion]).toEqual([2, "2"]);
    expect(fake.owners("team-a", "Deployment", "web", 'spec.template.spec.containers[name="app"].image')).toEqual(["ci"]);
    expect(await failure(apps.replaceNamespacedDeployment({ name: "web", namespace: "team-a", body: read }))).toMatchObject({
      code: 409,
      body: { reason: "Conflict", message: 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again' },
    });
  });

  it("a Deployment seeded with put() is defaulted: a later restart owns only its annotation", async () => {
    fake.put({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "team-a" }, spec: deployment("web").spec ?? {} }, { fieldManager: "kubectl-create" });
    await apps.patchNamespacedDeployment(
      { name: "web", namespace: "team-a", body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "now" } } } } }, fieldManager: "kubectl-rollout" },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    expect((managedFields("Deployment", "web") as { manager: string }[]).find((e) => e.manager === "kubectl-rollout")).toEqual(
      entry("kubectl-rollout", "Update", { "f:spec": { "f:template": { "f:metadata": { "f:annotations": { ".": {}, "f:kubectl.kubernetes.io/restartedAt": {} } } } } }, T0, "apps/v1"),
    );
    expect(meta(stored("Deployment", "web")).generation).toBe(2);
    expect(fake.owners("team-a", "Deployment", "web", "spec.replicas")).toEqual(["kubectl-create"]);
  });

  it("strategic merge patches containers by name and honours $patch: delete", async () => {
    await apps.createNamespacedDeployment({ namespace: "team-a", body: deployment("web") });
    const smp = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    await apps.patchNamespacedDeployment(
      { name: "web", namespace: "team-a", body: { spec: { template: { spec: { containers: [{ name: "app", image: "registry.example/app:2.0", env: [{ name: "EXTRA", value: "1" }] }] } } } } },
      smp,
    );
    const containers = (): Json => (stored("Deployment", "web").spec as { template: { spec: { containers: Json } } }).template.spec.containers;
    expect(containers()).toMatchObject([
      { name: "app", image: "registry.example/app:2.0", env: [{ name: "PASSWORD" }, { name: "EXTRA", value: "1" }] },
      { name: "sidecar", image: "registry.example/proxy" },
    ]);
    expect(fake.owners("team-a", "Deployment", "web", 'spec.template.spec.containers[name="app"].image')).toEqual([CLIENT_MANAGER]);
    await apps.patchNamespacedDeployment({ name: "web", namespace: "team-a", body: { spec: { template: { spec: { containers: [{ name: "sidecar", $patch: "delete" }] } } } } }, smp);
    expect(containers()).toMatchObject([{ name: "app" }]);
    expect(meta(stored("Deployment", "web")).generation).toBe(3);
  });

  it("server-side apply: keyed container fields are owned per container; a rollout restart by another manager does not conflict", async () => {
    const body = (image: string): object => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: { selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image }] } } },
    });
    const apply = (manager: string, b: object, force?: boolean): Promise<V1Deployment> =>
      apps.patchNamespacedDeployment({ name: "web", namespace: "team-a", body: b, fieldManager: manager, ...(force === undefined ? {} : { force }) }, setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply));
    const created = await apply("gitops", body("app:1"));
    expect(created.metadata?.generation).toBe(1);
    expect(managedFields("Deployment", "web")).toEqual([
      entry(
        "gitops",
        "Apply",
        {
          "f:spec": {
            "f:selector": {},
            "f:template": {
              "f:metadata": { "f:labels": { "f:app": {} } },
              "f:spec": { "f:containers": { 'k:{"name":"app"}': { ".": {}, "f:image": {}, "f:name": {} } } },
            },
          },
        },
        T0,
        "apps/v1",
      ),
    ]);
    await apps.patchNamespacedDeployment(
      { name: "web", namespace: "team-a", body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "now" } } } } }, fieldManager: "kubectl-rollout" },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    const again = await apply("gitops", body("app:2"));
    expect(again.metadata?.generation).toBe(3);
    expect(again.spec?.template.metadata?.annotations).toEqual({ "kubectl.kubernetes.io/restartedAt": "now" });
    expect(await failure(apply("other", body("app:3")))).toEqual({
      code: 409,
      body: status(409, "Conflict", 'Apply failed with 1 conflict: conflict with "gitops": .spec.template.spec.containers[name="app"].image', {
        causes: [{ reason: "FieldManagerConflict", message: 'conflict with "gitops"', field: '.spec.template.spec.containers[name="app"].image' }],
      }),
    });
  });

  it.each<{ what: string; patch: object; message: string; field: string }>([
    {
      what: "template labels the selector does not match",
      patch: { spec: { template: { metadata: { labels: { app: "other" } } } } },
      message: 'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
      field: "spec.template.metadata.labels",
    },
    {
      what: "a changed selector",
      patch: { spec: { selector: { matchLabels: { app: "web", v: "2" } }, template: { metadata: { labels: { v: "2" } } } } },
      message: 'Deployment.apps "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"2"}}: field is immutable',
      field: "spec.selector",
    },
  ])("$what is 422 Invalid", async ({ patch, message, field }) => {
    await apps.createNamespacedDeployment({ namespace: "team-a", body: deployment("web") });
    const res = await failure(apps.patchNamespacedDeployment({ name: "web", namespace: "team-a", body: patch }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)));
    expect(res).toMatchObject({ code: 422, body: { reason: "Invalid", message, details: { name: "web", group: "apps", kind: "Deployment", causes: [{ field }] } } });
    expect(meta(stored("Deployment", "web")).resourceVersion).toBe("1");
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("listing with label and field selectors", () => {
  beforeEach(() => {
    const put = (name: string, labels: Record<string, string>): void => {
      fake.put({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name, namespace: "team-a", labels }, spec: {} });
    };
    put("api", { app: "api", tier: "backend", rotation: "db" });
    put("worker", { app: "worker", tier: "backend" });
    put("web", { app: "web", tier: "frontend", rotation: "db" });
    put("batch", { app: "batch" });
    fake.put({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "elsewhere", namespace: "team-b", labels: { tier: "backend" } }, spec: {} });
  });

  it.each<[string, string[]]>([
    ["", ["api", "batch", "web", "worker"]],
    ["tier=backend", ["api", "worker"]],
    ["tier==backend", ["api", "worker"]],
    ["tier!=backend", ["batch", "web"]],
    ["tier in (backend, frontend)", ["api", "web", "worker"]],
    ["tier notin (backend)", ["batch", "web"]],
    ["rotation", ["api", "web"]],
    ["!rotation", ["batch", "worker"]],
    ["tier=backend,rotation=db", ["api"]],
    ["tier in (backend),!rotation", ["worker"]],
    ["app=nothing", []],
  ])("labelSelector %j → %j", async (labelSelector, names) => {
    const list = await apps.listNamespacedDeployment({ namespace: "team-a", ...(labelSelector === "" ? {} : { labelSelector }) });
    expect(list.items.map((d) => d.metadata?.name)).toEqual(names);
  });

  it("lists across namespaces; items carry no kind/apiVersion, the list does; fieldSelector metadata.name", async () => {
    const all = await apps.listDeploymentForAllNamespaces({ labelSelector: "tier=backend" });
    expect(all.items.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`)).toEqual(["team-a/api", "team-a/worker", "team-b/elsewhere"]);
    const res = await fetch(`${fake.url}/apis/apps/v1/namespaces/team-a/deployments?fieldSelector=metadata.name%3Dweb`, { headers: { authorization: `Bearer ${fake.token}` } });
    const body = (await res.json()) as { kind: string; apiVersion: string; metadata: object; items: Record<string, unknown>[] };
    expect({ kind: body.kind, apiVersion: body.apiVersion, metadata: body.metadata, names: body.items.map((i) => (i.metadata as { name: string }).name) }).toEqual({
      kind: "DeploymentList",
      apiVersion: "apps/v1",
      metadata: { resourceVersion: "5" },
      names: ["web"],
    });
    expect(body.items[0]).not.toHaveProperty("kind");
    expect(body.items[0]).not.toHaveProperty("apiVersion");
  });

  it("an unparsable selector is 400", async () => {
    expect(await failure(apps.listNamespacedDeployment({ namespace: "team-a", labelSelector: "tier in backend" }))).toEqual({
      code: 400,
      body: status(400, "BadRequest", "unable to parse requirement: found 'tier in backend', expected: in, notin, =, ==, !=, gt, lt"),
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("authentication and namespace restriction", () => {
  it("a request without a valid bearer token is 401", async () => {
    const wrong = fake.kubeConfig({ token: "wrong" }).makeApiClient(CoreV1Api);
    expect(await failure(wrong.listNamespacedSecret({ namespace: "team-a" }))).toEqual({ code: 401, body: undefined });
    const res = await fetch(`${fake.url}/api/v1/namespaces/team-a/secrets`);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 401, body: status(401, "Unauthorized", "Unauthorized") });
  });

  it("a token limited to team-a works there and is 403 elsewhere, and for cluster-wide lists", async () => {
    const limited = fake.kubeConfig({ token: TEAM_A_TOKEN }).makeApiClient(CoreV1Api);
    await limited.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" } } });
    expect((await limited.listNamespacedSecret({ namespace: "team-a" })).items.map((s) => s.metadata?.name)).toEqual(["db"]);
    expect(await failure(limited.readNamespacedSecret({ name: "db", namespace: "team-b" }))).toEqual({
      code: 403,
      body: status(403, "Forbidden", 'secrets "db" is forbidden: User "kube-fake-user-1" cannot get resource "secrets" in API group "" in the namespace "team-b"', { name: "db", kind: "secrets" }),
    });
    expect(await failure(limited.createNamespacedSecret({ namespace: "team-b", body: { metadata: { name: "db" } } }))).toEqual({
      code: 403,
      body: status(403, "Forbidden", 'secrets is forbidden: User "kube-fake-user-1" cannot create resource "secrets" in API group "" in the namespace "team-b"', { kind: "secrets" }),
    });
    expect(await failure(limited.listSecretForAllNamespaces())).toEqual({
      code: 403,
      body: status(403, "Forbidden", 'secrets is forbidden: User "kube-fake-user-1" cannot list resource "secrets" in API group "" at the cluster scope', { kind: "secrets" }),
    });
    const limitedApps = fake.kubeConfig({ token: TEAM_A_TOKEN }).makeApiClient(AppsV1Api);
    expect(await failure(limitedApps.patchNamespacedDeployment({ name: "web", namespace: "team-b", body: {} }, setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch)))).toEqual({
      code: 403,
      body: status(403, "Forbidden", 'deployments.apps "web" is forbidden: User "kube-fake-user-1" cannot patch resource "deployments" in API group "apps" in the namespace "team-b"', {
        name: "web",
        group: "apps",
        kind: "deployments",
      }),
    });
    expect(fake.get("team-b", "Secret", "db")).toBeUndefined();
  });

  it("kubeconfigYaml() works for a child process started with KUBECONFIG", async () => {
    fake.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "db", namespace: "team-a" }, type: "Opaque" });
    const dir = await mkdtemp(join(tmpdir(), "kube-fake-"));
    try {
      const file = join(dir, "kubeconfig");
      await writeFile(file, fake.kubeconfigYaml({ namespace: "team-a" }));
      const script = [
        'import { KubeConfig, CoreV1Api } from "@kubernetes/client-node";',
        "const kc = new KubeConfig(); kc.loadFromDefault();",
        "const ns = kc.getContextObject(kc.getCurrentContext()).namespace;",
        "const list = await kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: ns });",
        "console.log(JSON.stringify(list.items.map((s) => s.metadata.name)));",
      ].join("\n");
      const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: process.cwd(), env: { ...process.env, KUBECONFIG: file } });
      expect(JSON.parse(stdout)).toEqual(["db"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("injected failures", () => {
  beforeEach(async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" }, data: { k: b64("1") } } });
    fake.resetCalls();
  });

  it("fail the matching requests the given number of times, then the fake answers normally", async () => {
    fake.failNext({ method: "PATCH", pathIncludes: "/secrets/db", status: 500, times: 2 });
    const patchIt = (): Promise<V1Secret> => core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: { data: { k: b64("2") } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    expect((await core.readNamespacedSecret({ name: "db", namespace: "team-a" })).data).toEqual({ k: b64("1") });
    expect(await failure(patchIt())).toEqual({ code: 500, body: status(500, "InternalError", "Internal error occurred: injected failure") });
    expect(await failure(patchIt())).toEqual({ code: 500, body: status(500, "InternalError", "Internal error occurred: injected failure") });
    expect((await patchIt()).data).toEqual({ k: b64("2") });
    expect(fake.calls().map((c) => [c.method, c.status])).toEqual([
      ["GET", 200],
      ["PATCH", 500],
      ["PATCH", 500],
      ["PATCH", 200],
    ]);
  });

  it("a 409 with its reason and message, and other codes with the server's reason", async () => {
    fake.failNext({ status: 409, reason: "Conflict", message: "injected conflict" });
    fake.failNext({ status: 503 });
    expect(await failure(core.readNamespacedSecret({ name: "db", namespace: "team-a" }))).toEqual({ code: 409, body: status(409, "Conflict", "injected conflict") });
    expect(await failure(core.readNamespacedSecret({ name: "db", namespace: "team-a" }))).toEqual({
      code: 503,
      body: status(503, "ServiceUnavailable", "the server is currently unable to handle the request"),
    });
    expect(await core.readNamespacedSecret({ name: "db", namespace: "team-a" })).toBeTruthy();
  });

  it("a hang leaves the request unanswered until the client gives up; the call is recorded without a status", async () => {
    fake.failNext({ method: "GET", hang: true });
    const opts = setHeaderOptions("X-Test", "hang");
    const [inner] = opts.middleware ?? [];
    if (inner === undefined) throw new Error("setHeaderOptions gave no middleware");
    const abortAfter200ms = {
      ...opts,
      middleware: [{ pre: (ctx: Parameters<typeof inner.pre>[0]) => (ctx.setSignal(AbortSignal.timeout(200)), inner.pre(ctx)), post: inner.post.bind(inner) }],
    };
    const started = Date.now();
    await expect(core.readNamespacedSecret({ name: "db", namespace: "team-a" }, abortAfter200ms)).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(fake.calls()).toEqual([{ method: "GET", path: "/api/v1/namespaces/team-a/secrets/db", query: "" }]);
    expect(await core.readNamespacedSecret({ name: "db", namespace: "team-a" })).toBeTruthy();
  });

  it("close() ends requests still hanging", async () => {
    fake.failNext({ hang: true });
    const pending = core.readNamespacedSecret({ name: "db", namespace: "team-a" }).then(
      () => "answered",
      () => "failed",
    );
    await new Promise((r) => setTimeout(r, 50));
    await fake.close();
    expect(await pending).toBe("failed");
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe("what the v2 client sends", () => {
  it("paths, content types, and fieldManager/force as query parameters", async () => {
    await core.createNamespacedSecret({ namespace: "team-a", body: { metadata: { name: "db" } }, fieldManager: "creator" });
    const read = await core.readNamespacedSecret({ name: "db", namespace: "team-a" });
    await core.replaceNamespacedSecret({ name: "db", namespace: "team-a", body: read, fieldManager: "rotator" });
    await applySecret("rotator", "db", { data: { k: b64("v") } }, true);
    await applySecret("rotator", "db", { data: { k: b64("v") } }, false);
    await core.patchNamespacedSecret({ name: "db", namespace: "team-a", body: [{ op: "test", path: "/data/k", value: b64("v") }] });
    await core.listNamespacedSecret({ namespace: "team-a", labelSelector: "a=b,c in (d)" });
    await apps.createNamespacedDeployment({ namespace: "team-a", body: { metadata: { name: "web" }, spec: { selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "app:1" }] } } } } });
    await apps.patchNamespacedDeployment(
      { name: "web", namespace: "team-a", body: { spec: { template: { metadata: { annotations: { "kubectl.kubernetes.io/restartedAt": "now" } } } } }, fieldManager: "rotator" },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    await core.deleteNamespacedSecret({ name: "db", namespace: "team-a" });
    const secrets = "/api/v1/namespaces/team-a/secrets";
    expect(fake.calls()).toEqual<KubeCall[]>([
      { method: "POST", path: secrets, query: "fieldManager=creator", contentType: "application/json", fieldManager: "creator", status: 201 },
      { method: "GET", path: `${secrets}/db`, query: "", status: 200 },
      { method: "PUT", path: `${secrets}/db`, query: "fieldManager=rotator", contentType: "application/json", fieldManager: "rotator", status: 200 },
      { method: "PATCH", path: `${secrets}/db`, query: "fieldManager=rotator&force=true", contentType: "application/apply-patch+yaml", fieldManager: "rotator", force: true, status: 200 },
      { method: "PATCH", path: `${secrets}/db`, query: "fieldManager=rotator&force=false", contentType: "application/apply-patch+yaml", fieldManager: "rotator", force: false, status: 200 },
      // without setHeaderOptions, a patch goes out as a JSON patch (the first type the client lists)
      { method: "PATCH", path: `${secrets}/db`, query: "", contentType: "application/json-patch+json", status: 200 },
      { method: "GET", path: secrets, query: "labelSelector=a%3Db%2Cc+in+%28d%29", status: 200 },
      { method: "POST", path: "/apis/apps/v1/namespaces/team-a/deployments", query: "", contentType: "application/json", status: 201 },
      {
        method: "PATCH",
        path: "/apis/apps/v1/namespaces/team-a/deployments/web",
        query: "fieldManager=rotator",
        contentType: "application/strategic-merge-patch+json",
        fieldManager: "rotator",
        status: 200,
      },
      { method: "DELETE", path: `${secrets}/db`, query: "", contentType: "application/json", status: 200 },
    ]);
  });
});
