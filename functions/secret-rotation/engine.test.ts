// The rotation protocol against in-memory ports: whole rotations, crashes after every externally visible
// step, concurrent calls, hand-over from another field manager, failures and back-off.
import { describe, expect, it } from "vitest";
import { Crash, ROTATION_MANAGER, accepts, memoryPorts, newWorld, view, type World } from "../../test/support/memory-ports.ts";
import { rolloutAnnotation } from "../shared/consumers.ts";
import { runRotation, type EngineInput, type Outcome } from "./engine.ts";
import type { Clock } from "./protocol.ts";
import { RotationSpec } from "./xr.ts";

const NOW = new Date("2026-11-24T12:00:00Z");
const uri = (user: string, pw: string) => `postgresql://${user}:${encodeURIComponent(pw)}@db.example:5432/orders?sslmode=require`;

function world(o: { strategy?: "single" | "alternating"; otherOwner?: string } = {}): World {
  const w = newWorld();
  w.secrets.set("orders-db", {
    data: { host: "db.example", port: "5432", database: "orders", username: "orders_app", password: "old-Pass1!", uri: uri("orders_app", "old-Pass1!") },
    annotations: {},
    labels: {},
    resourceVersion: w.rv++,
    owners: o.otherOwner ? { password: [o.otherOwner], uri: [o.otherOwner], username: [o.otherOwner] } : {},
  });
  w.secrets.set("orders-admin", {
    data: { host: "db.example", port: "5432", database: "orders", username: "pgadmin", password: "admin-Pass1!" },
    annotations: {},
    labels: {},
    resourceVersion: w.rv++,
    owners: {},
  });
  w.roles.set("pgadmin", { password: "admin-Pass1!", version: 0 });
  w.roles.set("orders_app", { password: "old-Pass1!", version: 0 });
  w.deployments.set("api", { secrets: ["orders-db"], annotations: {}, rollouts: 0 });
  w.deployments.set("worker", { secrets: ["other"], annotations: {}, rollouts: 0 });
  void o.strategy;
  return w;
}

function spec(strategy: "single" | "alternating" = "single") {
  return RotationSpec.parse({
    team: "payments",
    secretRef: { name: "orders-db", key: "password" },
    rotateEvery: "720h",
    targets: { postgresRole: { name: "orders_app", strategy, adminSecretRef: { name: "orders-admin" } }, keyVault: { vaultName: "kv-payments", secretName: "orders-db-password" } },
  });
}

let counter = 0;
const generate = () => `new-Pass${++counter}!`;

type RunOptions = { strategy?: "single" | "alternating"; clock?: Partial<Clock>; stepTimeoutMs?: number };
const run = (w: World, o: RunOptions = {}): Promise<Outcome> => runRotation(input(w, o));

function input(w: World, o: RunOptions = {}): EngineInput {
  return {
    name: "orders-db-password",
    namespace: "team-payments",
    spec: spec(o.strategy),
    targets: {
      role: { name: "orders_app", strategy: o.strategy ?? "single", admin: { kind: "secret", secretName: "orders-admin" } },
      vault: { vaultName: "kv-payments", secretName: "orders-db-password" },
    },
    clock: { now: NOW, schedule: { every: 30 * 86_400_000 }, trigger: undefined, verifyEveryMs: 600_000, ...o.clock },
    ports: memoryPorts(w),
    postgresAdmin: undefined,
    generate,
    ...(o.stepTimeoutMs !== undefined ? { stepTimeoutMs: o.stepTimeoutMs } : {}),
  };
}

const app = (w: World) => w.secrets.get("orders-db")?.data ?? {};
const stateOf = (w: World) => w.secrets.get("orders-db-password-rotation-state");

describe("a whole rotation", () => {
  it("single user: persists, sets, promotes (Secret, URI) as soon as the role accepts it, tests, rolls only the consumers, then Key Vault", async () => {
    counter = 0;
    const w = world();
    const out = await run(w);
    expect(out).toMatchObject({ kind: "Idle", rotated: true, rolled: ["api"], dueAt: new Date(NOW.getTime() + 30 * 86_400_000), nextAt: new Date(NOW.getTime() + 600_000) });
    expect(w.mutations).toEqual([
      "apply orders-db password,uri",
      "create orders-db-password-rotation-state",
      "alter role orders_app v1",
      "replace orders-db-password-rotation-state Set",
      "apply orders-db password,uri",
      "replace orders-db-password-rotation-state Promoted",
      "replace orders-db-password-rotation-state Tested",
      "roll api v1",
      "replace orders-db-password-rotation-state Rolled",
      "kv set orders-db-password 1",
      "replace orders-db-password-rotation-state Idle",
    ]);
    expect(app(w)).toEqual({ host: "db.example", port: "5432", database: "orders", username: "orders_app", password: "new-Pass1!", uri: uri("orders_app", "new-Pass1!") });
    expect(w.roles.get("orders_app")).toEqual({ password: "new-Pass1!", version: 1, rotation: "team-payments/orders-db-password" });
    expect(w.vault).toEqual([
      {
        name: "kv-payments/orders-db-password",
        value: "new-Pass1!",
        tags: { "rotation-id": "initial", "rotation-version": "1", "rotated-by": "team-payments/orders-db-password", "managed-by": "azplatform.io" },
      },
    ]);
    expect(w.secrets.get("orders-db")?.annotations).toEqual({
      "rotation.azplatform.io/rotated-by": "orders-db-password",
      "rotation.azplatform.io/owned-keys": "password,uri",
      "rotation.azplatform.io/version": "1",
      "rotation.azplatform.io/last-rotated-at": NOW.toISOString(),
    });
    // The label a WatchOperation selects rotated Secrets by (examples/operations/watch-rotated-secrets.yaml).
    expect(w.secrets.get("orders-db")?.labels).toEqual({ "rotation.azplatform.io/managed": "true" });
    expect(stateOf(w)?.data).toEqual({ current: "new-Pass1!", currentUser: "orders_app", previous: "old-Pass1!", previousUser: "orders_app" });
    expect(w.deployments.get("worker")?.rollouts).toBe(0);
    // One value: the role and Key Vault received the same one.
    expect(new Set(w.valuesSet)).toEqual(new Set(["new-Pass1!"]));
    // A second call right after: nothing is due, nothing changes.
    const before = w.mutations.length;
    expect(await run(w)).toMatchObject({ kind: "Idle", rotated: false });
    expect(w.mutations.length).toBe(before);
  });

  it("alternating users: the new value goes to the other role, the old credential stays valid", async () => {
    counter = 0;
    const w = world();
    await run(w, { strategy: "alternating" });
    expect(app(w)).toMatchObject({ username: "orders_app_clone", password: "new-Pass1!", uri: uri("orders_app_clone", "new-Pass1!") });
    expect(w.roles.get("orders_app_clone")).toEqual({ password: "new-Pass1!", version: 1, rotation: "team-payments/orders-db-password", memberOf: "orders_app" });
    expect(accepts(w, "orders_app", "old-Pass1!")).toBe(true);
    // The next rotation switches back to the first role and leaves the clone's credential valid.
    await run(w, { strategy: "alternating", clock: { trigger: "again" } });
    expect(app(w)).toMatchObject({ username: "orders_app", password: "new-Pass2!" });
    expect(accepts(w, "orders_app_clone", "new-Pass1!")).toBe(true);
    expect(accepts(w, "orders_app", "new-Pass2!")).toBe(true);
  });
});

describe("fault injection: the process dies right after each externally visible step", () => {
  for (const strategy of ["single", "alternating"] as const) {
    it(`${strategy}: resumes from every crash point and ends consistent with one value`, async () => {
      counter = 0;
      const clean = world();
      await run(clean, { strategy });
      const points = clean.mutations.length;
      expect(points).toBeGreaterThanOrEqual(10);
      for (let k = 0; k < points; k++) {
        counter = 0;
        const w = world();
        w.crashAfter = k;
        await expect(run(w, { strategy })).rejects.toBeInstanceOf(Crash);
        // What apps read is accepted by the database at the crash (alternating), or is the value just replaced
        // in the short set -> promote window (single user: a role has one password).
        const a = app(w);
        if (strategy === "alternating") expect(accepts(w, a.username, a.password), `after crash ${k}`).toBe(true);
        else expect(accepts(w, a.username, a.password) || a.password === stateOf(w)?.data.current || a.password === "old-Pass1!").toBe(true);
        w.crashAfter = undefined;
        w.crashed = false;
        let out = await run(w, { strategy });
        for (let i = 0; i < 3 && !(out.kind === "Idle" && out.state.version === 1); i++) out = await run(w, { strategy });
        expect(out, `after crash ${k}`).toMatchObject({ kind: "Idle", state: { version: 1, phase: "Idle" } });
        const final = app(w);
        expect(accepts(w, final.username, final.password), `after crash ${k}`).toBe(true);
        expect(w.vault.at(-1)?.value).toBe(final.password);
        expect(stateOf(w)?.data.current).toBe(final.password);
        // Every value any target ever received was persisted first, and it was one value.
        expect(new Set(w.valuesSet).size, `after crash ${k}`).toBe(1);
        expect(final.password).toMatch(/^new-Pass[12]!$/);
      }
    });
  }
});

describe("concurrency", () => {
  it("two simultaneous calls for the same XR make exactly one rotation with one value", async () => {
    counter = 0;
    const w = world();
    const [a, b] = await Promise.all([run(w), run(w)]);
    expect([a.kind, b.kind]).toEqual(["Idle", "Idle"]);
    expect(stateOf(w)?.annotations["rotation.azplatform.io/version"]).toBe("1");
    expect(new Set(w.valuesSet).size).toBe(1);
    expect(accepts(w, app(w).username, app(w).password)).toBe(true);
  });
});

describe("hand-over from another field manager", () => {
  it("waits while the Database's composition still applies the password, then rotates", async () => {
    counter = 0;
    const crossplane = "apiextensions.crossplane.io/composed/3f2a";
    const w = world({ otherOwner: crossplane });
    const first = await run(w);
    expect(first).toMatchObject({
      kind: "Waiting",
      message: `waiting for ${crossplane} (data.password), ${crossplane} (data.uri) to stop writing Secret orders-db; a Database hands its keys over on its next reconcile, any other writer must stop applying them`,
    });
    expect(w.roles.get("orders_app")?.password).toBe("old-Pass1!");
    // The Database function saw the annotation and stopped applying the keys.
    const s = w.secrets.get("orders-db");
    if (s) s.owners = { password: [ROTATION_MANAGER], uri: [ROTATION_MANAGER] };
    expect(await run(w)).toMatchObject({ kind: "Idle", rotated: true });
    expect(app(w).password).toBe("new-Pass1!");
  });

  it("refuses a Secret that another SecretRotation already rotates", async () => {
    const w = world();
    const s = w.secrets.get("orders-db");
    if (s) s.annotations["rotation.azplatform.io/rotated-by"] = "someone-else";
    const mutations = w.mutations.length;
    expect(await run(w)).toMatchObject({
      kind: "Waiting",
      claimedBy: "someone-else",
      message: "Secret orders-db is already rotated by SecretRotation someone-else; a Secret can have only one rotation (delete someone-else to hand it over)",
    });
    expect(w.mutations.slice(mutations)).toEqual([]);
  });
});

describe("a successor on a Secret whose SecretRotation was deleted", () => {
  // old-pw rotated orders-db to version 3, fenced the role with it, and was deleted.
  const claimed = () => {
    const w = world();
    const app = w.secrets.get("orders-db");
    if (app) [app.annotations, app.appliedAnnotations] = [{ "rotation.azplatform.io/rotated-by": "old-pw", "rotation.azplatform.io/version": "3" }, ["rotation.azplatform.io/rotated-by", "rotation.azplatform.io/version"]];
    w.roles.set("orders_app", { password: "old-Pass1!", version: 3, rotation: "team-payments/old-pw" });
    w.deployments.set("api", { secrets: ["orders-db"], annotations: { [rolloutAnnotation("orders-db")]: "v3" }, rollouts: 0 });
    return w;
  };

  it("the takeover is durable: a call cut off after marking the Secret, and one that lost the state after Set, still finish without Crossplane's word again", async () => {
    // Losing the state after Set loses the value set (the designed outcome): a new one is set at once, version 5.
    for (const [crashAt, version] of [["apply orders-db password,uri", 4], ["alter role orders_app v4", 5]] as const) {
      counter = 0;
      const clean = claimed();
      await runRotation({ ...input(clean), takesOverFrom: "old-pw" });
      const w = claimed();
      // Crash right after `crashAt`, in the call Crossplane said old-pw is gone.
      w.crashAfter = clean.mutations.indexOf(crashAt);
      await expect(runRotation({ ...input(w), takesOverFrom: "old-pw" })).rejects.toBeInstanceOf(Crash);
      expect(w.mutations.at(-1)).toBe(crashAt);
      [w.crashAfter, w.crashed] = [undefined, false];
      if (crashAt.startsWith("alter")) w.secrets.delete("orders-db-password-rotation-state");
      // Later calls come without it.
      const out = await run(w);
      expect(out, crashAt).toMatchObject({ kind: "Idle", state: { version, tookOverFrom: "old-pw" } });
      expect(w.roles.get("orders_app")).toMatchObject({ password: app(w).password, version, rotation: "team-payments/orders-db-password" });
      expect(w.deployments.get("api")?.rollouts, "rolled past the predecessor's v3").toBe(1);
      expect(w.secrets.get("orders-db")?.annotations).toMatchObject({ "rotation.azplatform.io/rotated-by": "orders-db-password", "rotation.azplatform.io/took-over-from": "old-pw", "rotation.azplatform.io/version": String(version) });
    }
  });

  it("never without Crossplane's word: a role fenced by another SecretRotation stays refused", async () => {
    const w = claimed();
    const app = w.secrets.get("orders-db");
    // The Secret was handed over some other way (its marks removed), the role was not.
    if (app) app.annotations = {};
    const out = await run(w);
    expect(out).toMatchObject({ kind: "Failed", message: expect.stringContaining('role "orders_app" is rotated by SecretRotation team-payments/old-pw') });
    expect(w.roles.get("orders_app")).toEqual({ password: "old-Pass1!", version: 3, rotation: "team-payments/old-pw" });
  });
});

describe("failures", () => {
  it("a failing set keeps the current value, retries soon (the Set may have landed), and resumes with the same pending value", async () => {
    counter = 0;
    const w = world();
    w.failing.set("postgres.setPassword", "connect ECONNREFUSED 10.0.0.4:5432");
    const out = await run(w);
    // A single role: a Set whose reply was lost may have ended the old value, so the retry comes in 2 s, not 30.
    expect(out).toMatchObject({ kind: "Failed", message: "Set failed: connect ECONNREFUSED 10.0.0.4:5432", state: { phase: "Pending", failures: 1, retryAt: "2026-11-24T12:00:02.000Z" } });
    expect(app(w).password).toBe("old-Pass1!");
    // Before the retry time: no call to Postgres at all.
    w.calls.length = 0;
    expect(await run(w, { clock: { now: new Date("2026-11-24T12:00:01Z") } })).toMatchObject({ kind: "Failed" });
    expect(w.calls.filter((c) => c.startsWith("postgres"))).toEqual([]);
    w.failing.clear();
    const later = await run(w, { clock: { now: new Date("2026-11-24T12:01:00Z") } });
    expect(later).toMatchObject({ kind: "Idle", rotated: true, state: { failures: 0, version: 1 } });
    expect(app(w).password).toBe("new-Pass1!");
    expect(counter).toBe(1);
  });

  it("a target that cannot be reached fails the rotation before anything changes, and backs off as usual", async () => {
    const w = world();
    w.failing.set("postgres.testLogin", "cannot connect to PostgreSQL at db.example:5432: ETIMEDOUT");
    expect(await run(w)).toMatchObject({
      kind: "Failed",
      message: "Pending failed: cannot connect to PostgreSQL at db.example:5432: ETIMEDOUT",
      state: { phase: "Idle", retryAt: "2026-11-24T12:00:30.000Z" },
    });
    expect(app(w).password).toBe("old-Pass1!");
    expect(w.valuesSet).toEqual([]);
  });

  it("a Key Vault this identity may not write fails the rotation before anything changes: its readers are never left behind", async () => {
    const w = world();
    w.failing.set("kv.checkWritable", "Key Vault kv-payments: this identity may not write secret orders-db-password, so a rotation would leave its readers behind: HTTP 403 Forbidden");
    const out = await run(w);
    expect(out).toMatchObject({ kind: "Failed", message: `Pending failed: ${w.failing.get("kv.checkWritable")}`, state: { phase: "Idle", version: 0 } });
    expect(w.valuesSet).toEqual([]);
    // Only the failure is recorded.
    expect(w.mutations).toEqual(["create orders-db-password-rotation-state"]);
  });

  it("Key Vault refusing the write never keeps a value the role accepts from the apps: only the publication is retried", async () => {
    counter = 0;
    const w = world();
    w.failing.set("kv.setSecret", "Key Vault kv-payments: cannot set secret orders-db-password: HTTP 403 Forbidden");
    const out = await run(w);
    expect(out).toMatchObject({ kind: "Failed", message: "Publish failed: Key Vault kv-payments: cannot set secret orders-db-password: HTTP 403 Forbidden", state: { phase: "Rolled", version: 1 } });
    expect(app(w).password).toBe("new-Pass1!");
    expect(accepts(w, "orders_app", "new-Pass1!")).toBe(true);
    expect(w.deployments.get("api")?.rollouts).toBe(1);
    w.failing.clear();
    expect(await run(w, { clock: { now: new Date(NOW.getTime() + 60_000) } })).toMatchObject({ kind: "Idle", state: { phase: "Idle", version: 1 } });
    expect(w.vault.map((v) => v.value)).toEqual(["new-Pass1!"]);
    expect(new Set(w.valuesSet)).toEqual(new Set(["new-Pass1!"]));
  });

  it("an error text that carries a value is redacted", async () => {
    counter = 0;
    const w = world();
    w.failing.set("postgres.setPassword", "syntax error near 'new-Pass1!' (was old-Pass1!)");
    const out = await run(w);
    expect(out).toMatchObject({ kind: "Failed", message: "Set failed: syntax error near '[REDACTED]' (was [REDACTED])" });
    expect(JSON.stringify(stateOf(w)?.annotations)).not.toContain("Pass1");
  });

  it("a hung service cannot hold a call for ever: the step fails at its deadline and nothing changed", async () => {
    const w = world();
    w.failing.set("kv.checkWritable", "hang");
    expect(await run(w, { stepTimeoutMs: 50 })).toMatchObject({ kind: "Failed", message: "Pending failed: preparing the rotation did not finish within 0.05 s" });
    expect(w.mutations).toEqual(["create orders-db-password-rotation-state"]);
    expect(app(w).password).toBe("old-Pass1!");
  });

  it("a call paused before Set wakes after two newer rotations: the role's fence refuses its value, and it ends checking, not writing", async () => {
    counter = 0;
    const w = world();
    await run(w);
    // The second rotation's call saves Pending and is paused there (here: the process dies; its snapshot lives on).
    w.crashAfter = w.mutations.length;
    await expect(run(w, { clock: { trigger: "2" } })).rejects.toBeInstanceOf(Crash);
    [w.crashAfter, w.crashed] = [undefined, false];
    const paused = structuredClone(stateOf(w));
    await run(w, { clock: { trigger: "2" } });
    await run(w, { clock: { trigger: "3" } });
    expect(app(w).password).toBe("new-Pass3!");
    const mutations = w.mutations.length;
    // The paused call resumes from the state it had read.
    const ports = memoryPorts(w);
    let first = true;
    const stale = { ...ports, kubernetes: { ...ports.kubernetes, getSecret: async (name: string) => (first && name.endsWith("-rotation-state") ? ((first = false), view(paused as NonNullable<typeof paused>, ROTATION_MANAGER)) : ports.kubernetes.getSecret(name)) } };
    const out = await runRotation({ ...input(w, { clock: { trigger: "2" } }), ports: stale });
    expect(out).toMatchObject({ kind: "Idle", rotated: false, state: { version: 3 } });
    expect(w.roles.get("orders_app")).toMatchObject({ password: "new-Pass3!", version: 3 });
    expect(app(w).password).toBe("new-Pass3!");
    expect(w.vault.at(-1)?.value).toBe("new-Pass3!");
    expect(w.mutations.slice(mutations)).toEqual(["replace orders-db-password-rotation-state Idle"]);
    expect(new Set(w.valuesSet)).toEqual(new Set(["new-Pass1!", "new-Pass2!", "new-Pass3!"]));
  });
});

describe("state loss, drift and the last smaller promises", () => {
  const later = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);

  it("the state Secret deleted: the version and the handled trigger come back from the role and the app Secret; nothing runs twice", async () => {
    counter = 0;
    const w = world();
    await run(w);
    await run(w, { clock: { trigger: "t1" } });
    w.secrets.delete("orders-db-password-rotation-state");
    // The same trigger, seen again: already answered.
    expect(await run(w, { clock: { trigger: "t1", now: later(1) } })).toMatchObject({ kind: "Idle", rotated: false, state: { version: 2 } });
    expect(w.roles.get("orders_app")).toMatchObject({ password: "new-Pass2!", version: 2 });
    // A new trigger continues at version 3, which the role's fence accepts.
    expect(await run(w, { clock: { trigger: "t2", now: later(2) } })).toMatchObject({ kind: "Idle", rotated: true, state: { version: 3 } });
    expect(w.roles.get("orders_app")).toMatchObject({ password: "new-Pass3!", version: 3 });
    expect(app(w).password).toBe("new-Pass3!");
  });

  it("the state Secret deleted between Set and Promote: the value it held is lost, so a new one is set at once and apps get it", async () => {
    counter = 0;
    const w = world();
    w.crashAfter = 2; // right after "alter role orders_app v1"
    await expect(run(w)).rejects.toBeInstanceOf(Crash);
    [w.crashAfter, w.crashed] = [undefined, false];
    w.secrets.delete("orders-db-password-rotation-state");
    expect(accepts(w, "orders_app", app(w).password)).toBe(false);
    expect(await run(w, { clock: { now: later(1) } })).toMatchObject({ kind: "Idle", rotated: true, state: { version: 2 } });
    expect(accepts(w, "orders_app", app(w).password)).toBe(true);
    expect(app(w).password).toBe("new-Pass2!");
  });

  it("drift: an outside writer puts the old value back; calls before the next check leave it, the check writes the current value back, no new value", async () => {
    counter = 0;
    const w = world();
    await run(w);
    const s = w.secrets.get("orders-db");
    // Helm applies the password; someone runs kubectl edit on the URI.
    if (s) [s.data.password, s.owners.password, s.data.uri, s.updaters] = ["old-Pass1!", ["helm"], uri("orders_app", "old-Pass1!"), { uri: ["kubectl-edit"] }];
    const before = w.mutations.length;
    const early = await run(w, { clock: { now: later(5) } });
    expect(early).toMatchObject({ kind: "Idle", rotated: false });
    expect(early).not.toHaveProperty("drift");
    expect(w.mutations.length).toBe(before);
    const check = await run(w, { clock: { now: later(11) } });
    expect(check).toMatchObject({ kind: "Idle", rotated: false, state: { version: 1, verifiedAt: later(11).toISOString() }, drift: { keys: ["password", "uri"], writers: ["helm", "kubectl-edit"] } });
    expect(app(w)).toMatchObject({ password: "new-Pass1!", uri: uri("orders_app", "new-Pass1!") });
    expect(new Set(w.valuesSet)).toEqual(new Set(["new-Pass1!"]));
    // Written back, the next check finds nothing to report.
    expect(await run(w, { clock: { now: later(22) } })).not.toHaveProperty("drift");
  });

  it("a rotation backing off before it changed anything still repairs drift when the check is due, and keeps its back-off", async () => {
    counter = 0;
    const w = world();
    await run(w);
    w.failing.set("kv.checkWritable", "Key Vault kv-payments: cannot read secret orders-db-password: HTTP 503 ServiceUnavailable");
    const triggered = new Date(later(10).getTime() - 10_000);
    const failed = await run(w, { clock: { trigger: "t1", now: triggered } });
    // The drift check (10 min after the rotation) comes before the retry (30 s after the failure): called then.
    expect(failed).toMatchObject({ kind: "Failed", nextAt: later(10), state: { failures: 1, retryAt: new Date(triggered.getTime() + 30_000).toISOString() } });
    const s = w.secrets.get("orders-db");
    if (s) [s.data.password, s.owners.password] = ["old-Pass1!", ["helm"]];
    const checked = await run(w, { clock: { trigger: "t1", now: new Date(later(10).getTime() + 5_000) } });
    expect(app(w).password).toBe("new-Pass1!");
    expect(checked).toMatchObject({ kind: "Failed", state: { failures: 1, retryAt: new Date(triggered.getTime() + 30_000).toISOString(), verifiedAt: new Date(later(10).getTime() + 5_000).toISOString() } });
    expect(new Set(w.valuesSet)).toEqual(new Set(["new-Pass1!"]));
  });

  it("a rotation that fails when the drift check is already due asks to be called again at once, and the check runs then", async () => {
    counter = 0;
    const w = world();
    await run(w);
    const s = w.secrets.get("orders-db");
    if (s) [s.data.password, s.owners.password] = ["old-Pass1!", ["helm"]];
    w.failing.set("kv.checkWritable", "Key Vault kv-payments: cannot read secret orders-db-password: HTTP 503 ServiceUnavailable");
    expect(await run(w, { clock: { trigger: "t1", now: later(11) } })).toMatchObject({ kind: "Failed", nextAt: later(11) });
    expect(app(w).password).toBe("old-Pass1!");
    await run(w, { clock: { trigger: "t1", now: new Date(later(11).getTime() + 1_000) } });
    expect(app(w).password).toBe("new-Pass1!");
  });

  it("drift in Key Vault: a late write of an older value is replaced by the current one at the next check", async () => {
    counter = 0;
    const w = world();
    await run(w);
    w.vault.push({ name: "kv-payments/orders-db-password", value: "old-Pass1!", tags: {} });
    await run(w, { clock: { now: later(11) } });
    expect(w.vault.at(-1)?.value).toBe("new-Pass1!");
  });

  it("alternating users: the user is rewritten in a DSN and a JDBC string as in a URI", async () => {
    counter = 0;
    const w = world();
    const s = w.secrets.get("orders-db");
    if (s) {
      s.data.dsn = "host=db.example user=orders_app password=old-Pass1! dbname=orders";
      s.data.jdbc = "jdbc:postgresql://db.example:5432/orders?user=orders_app&password=old-Pass1!";
    }
    await run(w, { strategy: "alternating" });
    expect(app(w)).toMatchObject({
      username: "orders_app_clone",
      dsn: "host=db.example user=orders_app_clone password=new-Pass1! dbname=orders",
      jdbc: "jdbc:postgresql://db.example:5432/orders?user=orders_app_clone&password=new-Pass1!",
    });
  });

  it("StatefulSets and DaemonSets that read the Secret roll too", async () => {
    const w = world();
    w.deployments.set("ledger", { kind: "StatefulSet", secrets: ["orders-db"], annotations: {}, rollouts: 0 });
    w.deployments.set("agent", { kind: "DaemonSet", secrets: ["orders-db"], annotations: {}, rollouts: 0 });
    expect(await run(w)).toMatchObject({ kind: "Idle", rolled: ["DaemonSet/agent", "StatefulSet/ledger", "api"] });
    expect([w.deployments.get("ledger")?.rollouts, w.deployments.get("agent")?.rollouts]).toEqual([1, 1]);
  });

  it("a step past its deadline aborts what it sent: the port sees the signal fire", async () => {
    const w = world();
    let seen: AbortSignal | undefined;
    const ports = memoryPorts(w);
    const slow = { ...ports, keyVault: { ...ports.keyVault, checkWritable: (_v: string, _n: string, signal?: AbortSignal) => ((seen = signal), new Promise<never>(() => undefined)) } };
    expect(await runRotation({ ...input(w, { stepTimeoutMs: 30 }), ports: slow })).toMatchObject({ kind: "Failed" });
    expect(seen?.aborted).toBe(true);
  });

  it("Crossplane giving up on the call stops the step in flight: its requests are aborted, nothing lands later", async () => {
    const w = world();
    let seen: AbortSignal | undefined;
    const ports = memoryPorts(w);
    const hanging = { ...ports, keyVault: { ...ports.keyVault, checkWritable: (_v: string, _n: string, signal?: AbortSignal) => ((seen = signal), new Promise<never>(() => undefined)) } };
    const call = new AbortController();
    const out = runRotation({ ...input(w), ports: hanging, signal: call.signal });
    await new Promise((resolve) => setTimeout(resolve, 10));
    call.abort();
    expect(await out).toMatchObject({ kind: "Failed", message: "Pending failed: preparing the rotation was cancelled: Crossplane gave up on the call" });
    expect(seen?.aborted).toBe(true);
    expect(w.valuesSet).toEqual([]);
  });

  it("an outside writer that applied an old value once is not waited for: the next rotation takes the keys back", async () => {
    counter = 0;
    const w = world();
    await run(w);
    const s = w.secrets.get("orders-db");
    if (s) [s.data.password, s.owners.password] = ["old-Pass1!", ["kubectl-client-side-apply", ROTATION_MANAGER]];
    expect(await run(w, { clock: { trigger: "t1", now: later(1) } })).toMatchObject({ kind: "Idle", rotated: true, state: { version: 2 } });
    expect(app(w).password).toBe("new-Pass2!");
    expect(w.secrets.get("orders-db")?.owners.password).toEqual([ROTATION_MANAGER]);
  });

  it("an app Secret that does not exist yet is created; a promotion that read it absent never lands over a newer rotation's", async () => {
    counter = 0;
    const w = world();
    w.secrets.delete("orders-db");
    const ports = memoryPorts(w);
    let overtaken = false;
    // While this call promotes version 1, another replica finishes it and rotates again for a new trigger.
    const createSecret: typeof ports.kubernetes.createSecret = async (name, ...rest) => {
      if (name === "orders-db" && !overtaken) {
        overtaken = true;
        expect(await run(w, { clock: { trigger: "2" } })).toMatchObject({ kind: "Idle", rotated: true, state: { version: 2 } });
      }
      return ports.kubernetes.createSecret(name, ...rest);
    };
    const out = await runRotation({ ...input(w), ports: { ...ports, kubernetes: { ...ports.kubernetes, createSecret } } });
    expect(out).toMatchObject({ kind: "Idle", rotated: false, state: { version: 2, current: "new-Pass2!" } });
    expect(overtaken).toBe(true);
    expect(app(w)).toEqual({ password: "new-Pass2!" });
    expect(w.secrets.get("orders-db")?.annotations).toMatchObject({ "rotation.azplatform.io/rotated-by": "orders-db-password", "rotation.azplatform.io/version": "2" });
    expect(accepts(w, "orders_app", "new-Pass2!")).toBe(true);
    expect(w.vault.at(-1)?.value).toBe("new-Pass2!");
  });
});
