// Runs the rotation protocol against the ports: load the durable state, do the next step, save it with
// compare-and-swap, repeat. A crash or a lost reply anywhere resumes from the saved phase on the next call; a
// concurrent call for the same XR loses the compare-and-swap, reloads and continues with the winner's value.
//
// Every externally visible write is fenced, so a call that was paused, or whose write waited on the network, can
// never put an older value over a newer one: the role's password by the version stored on the role (postgres.ts),
// the app Secret by its resourceVersion and the version annotation it carries, Key Vault by the version tag of
// its latest value, rollouts by the version in the pod-template annotation. Each step runs under a deadline that
// also aborts its requests, and stops when Crossplane cancels the call.
import { rolloutAnnotation, rolloutValue } from "../shared/consumers.ts";
import { MANAGED_LABELS, NAMESPACE_TAG, cloneOf, ownedKeysOf } from "../shared/rotation-contract.ts";
import { advanced, begun, failed, needsFastRetry, nextStep, pendingUserFor, promoted, published, type Clock, type Order, type Step } from "./protocol.ts";
import {
  AuthenticationError,
  ConflictError,
  StaleError,
  type OwnerRef,
  type PostgresConnection,
  type Ports,
  type RoleFence,
  type SecretView,
} from "./ports.ts";
import { A, STATE_LABEL, emptyState, fromSecret, lastTrigger, stateSecretName, toSecret, type RotationState } from "./state.ts";
import type { Targets } from "./targets.ts";
import type { RotationSpec } from "./xr.ts";

export interface EngineInput {
  name: string;
  namespace: string;
  spec: RotationSpec;
  /** What the spec reaches, resolved within the namespace (targets.ts). */
  targets: Targets;
  clock: Clock;
  ports: Ports;
  /** The policy's shared admin, from the step's credentials, for roles with neither databaseRef nor adminSecretRef. */
  postgresAdmin: PostgresConnection | undefined;
  generate: (avoid: string[]) => string;
  /** Owner of the state Secret (the XR), when its uid is known. */
  owner?: OwnerRef;
  /** Per-step deadline; STEP_TIMEOUT_MS unless a test shortens it. */
  stepTimeoutMs?: number;
  /** Fires when Crossplane gives up on the call: the step in flight stops. */
  signal?: AbortSignal;
  /**
   * A SecretRotation of this namespace that Crossplane reported deleted, whose marks the app Secret (and whose
   * fence the role) still carries: this rotation takes the Secret over and carries on from its version.
   */
  takesOverFrom?: string;
}

export type Outcome =
  /**
   * nextAt: when to be called again (a rotation or a drift check); dueAt: when the next rotation is due; drift:
   * what a drift check found another writer had put into the app Secret, and wrote back.
   */
  | { kind: "Idle"; state: RotationState; nextAt: Date; dueAt: Date; rotated: boolean; rolled: string[]; drift?: Drift }
  /** claimedBy: the app Secret is marked by another SecretRotation, which may or may not still exist. */
  | { kind: "Waiting"; state: RotationState; message: string; claimedBy?: string }
  /** nextAt: when to be called again (the retry, or a drift check due before it); absent: soon. */
  | { kind: "Failed"; state: RotationState; message: string; nextAt?: Date };

/** Keys of the app Secret found holding another value than the current one, and who else wrote them. */
export interface Drift {
  keys: string[];
  writers: string[];
}

/** Raised when the rotation must wait for someone else (e.g. another field manager handing a key over). */
class WaitError extends Error {}

/** The app Secret carries another SecretRotation's marks: nothing changes until that one is known to be gone. */
class ClaimedError extends WaitError {
  readonly by: string;
  constructor(by: string, secretName: string) {
    super(`Secret ${secretName} is already rotated by SecretRotation ${by}; a Secret can have only one rotation (delete ${by} to hand it over)`);
    this.by = by;
  }
}

const MAX_STEPS = 12;
/**
 * No step may hang a call for ever: the Azure identity library does not pass abort signals to its token request,
 * so every step runs under its own deadline, which also aborts what the step sent. A step cut off is retried from
 * its saved phase.
 */
export const STEP_TIMEOUT_MS = 90_000;

async function withDeadline<T>(what: string, ms: number, outer: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (why: string) => controller.abort(new Error(`${what} ${why}`));
  const timer = setTimeout(() => stop(`did not finish within ${ms / 1000} s`), ms);
  const cancelled = () => stop("was cancelled: Crossplane gave up on the call");
  outer?.addEventListener("abort", cancelled, { once: true });
  // A port that does not listen to the signal is still cut off here.
  const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true }));
  try {
    if (outer?.aborted) cancelled();
    return await Promise.race([work(controller.signal), aborted]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", cancelled);
  }
}

/** The order of Set, Test and Promote: a value that ends the old one goes to the apps before it is tested. */
function orderOf(targets: Targets): Order {
  const oldStaysValid = targets.role?.strategy === "alternating" && targets.server === undefined;
  return oldStaysValid ? "test-then-promote" : "promote-then-test";
}

export async function runRotation(input: EngineInput): Promise<Outcome> {
  const { clock, ports } = input;
  const step = <T>(what: string, work: (signal: AbortSignal) => Promise<T>) => withDeadline(what, input.stepTimeoutMs ?? STEP_TIMEOUT_MS, input.signal, work);
  const k8s = ports.kubernetes;
  const stateName = stateSecretName(input.name);
  const order = orderOf(input.targets);
  const secrets = [input.postgresAdmin?.password];
  const redact = (m: string, s: RotationState) => redactSecrets(m, [...secrets, s.pending, s.current, s.previous]);

  const load = async (): Promise<RotationState> => {
    const view = await k8s.getSecret(stateName);
    if (view !== undefined) return fromSecret(view);
    // Deleted, or never written: what the app Secret and the role say this rotation did is its state.
    return recover(input, emptyState(), await k8s.getSecret(input.spec.secretRef.name));
  };
  const save = async (next: RotationState): Promise<RotationState> => {
    const { data, annotations } = toSecret(next);
    const labels = { [STATE_LABEL]: input.name };
    // While a rotation is in flight the pending value exists nowhere else: deleting the SecretRotation then must
    // not delete it with its state (a SecretRotation re-created under the same name resumes from it).
    const owner = next.phase === "Idle" ? input.owner : undefined;
    const view =
      next.resourceVersion === undefined
        ? await k8s.createSecret(stateName, data, annotations, labels, owner)
        : await k8s.replaceSecret(stateName, next.resourceVersion, data, annotations, labels, owner);
    return fromSecret(view);
  };

  let state = await load();
  let rotated = false;
  let rolledNames: string[] = [];
  let drift: Drift | undefined;
  // Set when this call's write may have landed after a newer rotation's (its save lost the compare-and-swap): the
  // app Secret and Key Vault are checked against the targets before the call ends.
  let verifyNow = false;
  for (let i = 0; i < MAX_STEPS; i++) {
    const planned = nextStep(state, clock, order);
    const next: Step = verifyNow && state.phase === "Idle" && state.retryAt === undefined ? { kind: "Verify" } : planned;
    verifyNow = false;
    if (next.kind === "Wait") {
      if (next.why === "Backoff") return { kind: "Failed", state, message: state.lastError ?? "retrying after a failure", nextAt: next.until };
      return { kind: "Idle", state, nextAt: next.until, dueAt: next.due ?? next.until, rotated, rolled: rolledNames, ...(drift !== undefined ? { drift } : {}) };
    }
    try {
      let after: RotationState;
      switch (next.kind) {
        case "Begin":
          after = await step("preparing the rotation", (signal) => begin(input, state, next.rotationId, signal));
          break;
        case "Set":
          await step("setting the new value on the targets", (signal) => setTargets(input, state, signal));
          after = advanced(state, "Set");
          break;
        case "Test":
          await step("testing the new value", (signal) => testTargets(input, state, state.phase === "Promoted", signal));
          after = advanced(state, "Tested");
          break;
        case "Promote":
          await step("promoting the new value", () => promote(input, state, { value: state.pending ?? "", user: state.pendingUser }, state.version + 1, clock.now));
          after = promoted(state, clock.now);
          rotated = true;
          break;
        case "Roll":
          rolledNames = await step("rolling the consumers", () => roll(input, state.version));
          after = advanced(state, "Rolled");
          break;
        case "Publish":
          await step("publishing the value to Key Vault", (signal) => publish(input, state, signal));
          after = published(state, clock.now);
          break;
        case "Verify": {
          const checked = await step("checking the app Secret and Key Vault", (signal) => verify(input, state, signal));
          [after, drift] = [checked.state, checked.repaired ?? drift];
          break;
        }
      }
      state = await save(after);
    } catch (e) {
      if (e instanceof ConflictError || e instanceof StaleError) {
        // Another call advanced the state, the Secret or the role first: continue from what it saved.
        verifyNow = next.kind === "Set" || next.kind === "Publish";
        state = await load();
        continue;
      }
      if (e instanceof ClaimedError) return { kind: "Waiting", state, message: e.message, claimedBy: e.by };
      if (e instanceof WaitError) return { kind: "Waiting", state, message: e.message };
      const message = redact(`${next.kind === "Begin" ? "Pending" : next.kind} failed: ${e instanceof Error ? e.message : String(e)}`, state);
      try {
        state = await save(failed(state, message, clock.now, needsFastRetry(state, order, input.targets.vault !== undefined)));
      } catch (saveError) {
        // The step's own error matters more than the failure to record it: both go up, in the save error.
        if (saveError instanceof ConflictError) return { kind: "Failed", state, message };
        if (saveError instanceof Error) saveError.message = `${message}; the failure could not be recorded: ${saveError.message}`;
        throw saveError;
      }
      // The retry, or a drift check due before it (at once, when it is due already).
      const then = nextStep(state, clock, order);
      return { kind: "Failed", state, message, nextAt: then.kind === "Wait" ? then.until : clock.now };
    }
  }
  return { kind: "Waiting", state, message: "rotation is progressing" };
}

const fenceOf = (input: EngineInput, version: number, tookOverFrom: string | undefined): RoleFence => ({
  rotation: `${input.namespace}/${input.name}`,
  version,
  ...(tookOverFrom !== undefined ? { takesOver: `${input.namespace}/${tookOverFrom}` } : {}),
});

/** The version this rotation marked the app Secret with; 0 when it never wrote one (or another rotation did). */
function versionOnApp(app: SecretView | undefined, name: string): number {
  return app?.annotations[A.rotatedBy] === name ? Number(app.annotations[A.version] ?? 0) || 0 : 0;
}

/**
 * Idle to Pending. Everything that can be checked is checked here, while nothing has changed: Key Vault takes a write,
 * the app Secret is handed over, the target is reachable. The version and the current value come from what the
 * targets and the app Secret say, so a state Secret that was lost (or a stale one) cannot rewind them.
 */
async function begin(input: EngineInput, state: RotationState, rotationId: string, signal: AbortSignal): Promise<RotationState> {
  const { targets } = input;
  const found = await input.ports.kubernetes.getSecret(input.spec.secretRef.name);
  // Another SecretRotation's Secret is refused first: checking it again costs no Azure call.
  const by = found?.annotations[A.rotatedBy];
  if (by !== undefined && by !== input.name && by !== input.takesOverFrom) throw new ClaimedError(by, input.spec.secretRef.name);
  if (targets.vault !== undefined) await input.ports.keyVault.checkWritable(targets.vault.vaultName, targets.vault.secretName, signal);
  if (targets.server !== undefined) await checkServerIsOurs(input, targets.server, signal);
  const app = found === undefined ? undefined : await adopt(input, found);
  const recovered = await recover(input, state, app);
  const role = targets.role;
  const current = await currentCredential(input, recovered, app, signal);
  const pendingUser = pendingUserFor(role?.name, role?.strategy ?? "single", current.user);
  const pending = input.generate([pendingUser, current.user, app?.data.username].filter((u): u is string => u !== undefined));
  // The value is durable (and marked pending) before any target changes.
  return begun({ ...recovered, current: current.value, currentUser: current.user, ownedKeys: ownedKeys(input.spec, targets, app) }, rotationId, pending, pendingUser);
}

/** The state as the targets and the app Secret tell it: the highest version any of them has seen from this rotation. */
async function recover(input: EngineInput, state: RotationState, app: SecretView | undefined): Promise<RotationState> {
  const ours = app?.annotations[A.rotatedBy] === input.name;
  // Crossplane reported it deleted (this call), or this rotation recorded taking over from it (an earlier one).
  const predecessor = input.takesOverFrom ?? state.tookOverFrom ?? (ours ? app?.annotations[A.tookOverFrom] : undefined);
  // A successor continues its deleted predecessor's versions: the role's fence and Key Vault's tags stay monotonic.
  const appVersion = Math.max(versionOnApp(app, input.name), predecessor === undefined ? 0 : versionOnApp(app, predecessor));
  let roleVersion = 0;
  const role = input.targets.role;
  // A Secret this rotation never took over, and no state either: no value was ever set, no fence to read. (It takes
  // the Secret over before its first Set, so a Set whose state was lost is always found.)
  const everRotated = ours || state.resourceVersion !== undefined || predecessor !== undefined;
  if (role !== undefined && everRotated) {
    const admin = await adminConnection(input);
    const users = role.strategy === "alternating" ? [role.name, cloneOf(role.name)] : [role.name];
    const fence = fenceOf(input, 0, predecessor);
    for (const user of users) {
      const found = await input.ports.postgres.readFence(admin, user);
      if (found !== undefined && [fence.rotation, fence.takesOver].includes(found.rotation)) roleVersion = Math.max(roleVersion, found.version);
    }
  }
  const version = Math.max(state.version, appVersion, roleVersion);
  if (state.resourceVersion !== undefined || !ours) return { ...state, version, tookOverFrom: predecessor };
  // The state Secret is gone: the app Secret carries the current value and what the schedule and triggers need.
  const trigger = app?.annotations[A.lastTrigger];
  const alternating = role?.strategy === "alternating";
  return {
    ...state,
    version,
    tookOverFrom: predecessor,
    current: app?.data[input.spec.secretRef.key],
    currentUser: alternating ? app?.data.username : role?.name,
    ownedKeys: ownedKeysOf(app?.annotations ?? {}),
    lastRotatedAt: app?.annotations[A.lastRotatedAt] ?? state.lastRotatedAt,
    handledTriggers: trigger === undefined ? state.handledTriggers : [trigger],
  };
}

interface Credential {
  value: string | undefined;
  user: string | undefined;
}

/**
 * What apps should read now: the app Secret's value, or the stored one, whichever the target accepts. Another
 * writer may have put an old value back into the Secret; a stored value that still logs in is never discarded for
 * it. A target that cannot be reached fails the rotation here, before anything changed.
 */
async function currentCredential(input: EngineInput, state: RotationState, app: SecretView | undefined, signal: AbortSignal): Promise<Credential> {
  const key = input.spec.secretRef.key;
  const alternating = input.targets.role?.strategy === "alternating";
  const fromApp: Credential = { value: app?.data[key], user: alternating ? app?.data.username : state.currentUser };
  const stored: Credential = { value: state.current, user: state.currentUser ?? fromApp.user };
  const candidates = [stored, fromApp].filter((c, i, all) => c.value !== undefined && all.findIndex((o) => o.value === c.value && o.user === c.user) === i);
  const login = await loginCheck(input);
  if (login === undefined || candidates.length === 0) return candidates[0] ?? { value: undefined, user: fromApp.user };
  for (const c of candidates) {
    try {
      await login(c, signal);
      return c;
    } catch (e) {
      if (!(e instanceof AuthenticationError)) throw e;
    }
  }
  // Neither logs in: the rotation about to run sets a value the target accepts.
  return candidates[0] ?? fromApp;
}

/** A login with a credential against the target that proves it, or undefined for a Key Vault alone. */
async function loginCheck(input: EngineInput): Promise<((c: Credential, signal: AbortSignal) => Promise<void>) | undefined> {
  const { targets, ports } = input;
  if (targets.role !== undefined) {
    const admin = await adminConnection(input);
    const role = targets.role;
    return (c, signal) => ports.postgres.testLogin({ ...admin, user: c.user ?? role.name, password: c.value ?? "" }, signal);
  }
  if (targets.server !== undefined) {
    const conn = await connectionFrom(input, targets.server.connectionSecretName);
    return (c, signal) => ports.postgres.testLogin({ ...conn, password: c.value ?? "" }, signal);
  }
  return undefined;
}

/** The app Secret's keys the rotation owns: the key, keys whose value embeds it (a URI), and the username when alternating. */
function ownedKeys(spec: RotationSpec, targets: Targets, app: SecretView | undefined): string[] {
  const key = spec.secretRef.key;
  const value = app?.data[key];
  const derived =
    value === undefined ? [] : Object.entries(app?.data ?? {}).filter(([k, v]) => k !== key && (v.includes(value) || v.includes(encodeURIComponent(value)))).map(([k]) => k);
  const alternating = targets.role?.strategy === "alternating" ? ["username"] : [];
  return [...new Set([key, ...derived, ...alternating])].sort();
}

/**
 * Takes over the keys of the app Secret before any value changes: applies them unchanged as the rotation's field
 * manager and marks the Secret. Another field manager (e.g. the Database's Crossplane composition) that still
 * applies a key would write the old value back after a rotation, so the rotation waits until it has let go.
 */
async function adopt(input: EngineInput, app: SecretView): Promise<SecretView> {
  const { spec, name } = input;
  const k8s = input.ports.kubernetes;
  const by = app.annotations[A.rotatedBy];
  const keys = ownedKeys(spec, input.targets, app);
  const contested = () => keys.flatMap((k) => (app.otherOwners[k] ?? []).map((m) => `${m} (data.${k})`));
  // Once this rotation has written a value, another writer of its keys is drift, not a hand-over: waiting for it to
  // let go could take for ever (a one-time server-side apply keeps its ownership); the new value takes the keys back.
  // (A version taken over from a deleted predecessor comes without last-rotated-at: this rotation wrote nothing yet.)
  const rotatedBefore = versionOnApp(app, name) > 0 && app.annotations[A.lastRotatedAt] !== undefined;
  if (by === name && (contested().length === 0 || rotatedBefore)) return app;
  const data = Object.fromEntries(keys.filter((k) => app.data[k] !== undefined).map((k) => [k, app.data[k] ?? ""]));
  // Server-side apply removes what this manager applied before and omits now, so every mark and the managed label
  // (which the rollout WatchOperation selects on) are applied with every call.
  // From a deleted predecessor only its version carries over (its triggers were its own), and the record of it.
  const takeover = by !== undefined && by === input.takesOverFrom;
  const marks = takeover ? { ...pick(carried(app), [A.version]), [A.tookOverFrom]: by } : carried(app);
  const after = await k8s.applySecret(spec.secretRef.name, data, { ...marks, [A.rotatedBy]: name, [A.ownedKeys]: keys.join(",") }, MANAGED_LABELS, app.resourceVersion);
  const still = keys.flatMap((k) => (after.otherOwners[k] ?? []).map((m) => `${m} (data.${k})`));
  if (still.length > 0) {
    throw new WaitError(
      `waiting for ${[...new Set(still)].join(", ")} to stop writing Secret ${spec.secretRef.name}; a Database hands its keys over on its next reconcile, any other writer must stop applying them`,
    );
  }
  return after;
}

const pick = (o: Record<string, string>, keys: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)));

/** The marks of the app Secret a rotation keeps when it applies it again without changing the value. */
function carried(app: SecretView): Record<string, string> {
  const keep = [A.version, A.lastRotatedAt, A.lastTrigger, A.tookOverFrom];
  return Object.fromEntries(keep.flatMap((k) => (app.annotations[k] === undefined ? [] : [[k, app.annotations[k] ?? ""]])));
}

/**
 * The server a Database's status names is trusted only when Azure says it is this namespace's: its namespace tag,
 * which only the Database function writes. Whoever may write a Database's status could name any server there.
 */
async function checkServerIsOurs(input: EngineInput, server: { resourceGroupName: string; serverName: string }, signal: AbortSignal): Promise<void> {
  const { resourceGroupName, serverName } = server;
  const tags = await input.ports.flexibleServer.serverTags(resourceGroupName, serverName, signal);
  const owner = Object.entries(tags).find(([k]) => k.toLowerCase() === NAMESPACE_TAG)?.[1];
  if (owner === input.namespace) return;
  // Which other namespace it is, the message does not say.
  const found = owner === undefined ? `has no Azure tag ${NAMESPACE_TAG}` : `carries another namespace's Azure tag ${NAMESPACE_TAG}`;
  throw new Error(
    `Flexible Server ${resourceGroupName}/${serverName} ${found}, not ${input.namespace}: a SecretRotation changes the admin only of a server a Database of its own namespace made (a Database tags its server on its next reconcile); nothing was changed`,
  );
}

async function adminConnection(input: EngineInput): Promise<PostgresConnection> {
  const admin = input.targets.role?.admin;
  if (admin?.kind === "secret") return connectionFrom(input, admin.secretName);
  if (input.postgresAdmin !== undefined) return input.postgresAdmin;
  throw new Error("the policy's shared PostgreSQL admin (credentials.postgresAdmin) is not in the step's credentials");
}

async function connectionFrom(input: EngineInput, secretName: string): Promise<PostgresConnection> {
  const s = await input.ports.kubernetes.getSecret(secretName);
  if (s === undefined) throw new Error(`Secret ${secretName} with the PostgreSQL connection does not exist in this namespace`);
  const missing = ["host", "username", "password"].filter((k) => !s.data[k]);
  if (missing.length > 0) throw new Error(`Secret ${secretName} has no ${missing.join(", ")}; it must hold host, port, username, password, database and sslmode`);
  return {
    host: s.data.host ?? "",
    port: Number(s.data.port ?? 5432),
    database: s.data.database || "postgres",
    user: s.data.username ?? "",
    password: s.data.password ?? "",
    sslmode: s.data.sslmode || "require",
  };
}

async function setTargets(input: EngineInput, s: RotationState, signal: AbortSignal): Promise<void> {
  const { targets } = input;
  const pending = s.pending ?? "";
  if (targets.role !== undefined) {
    const role = targets.role;
    const admin = await adminConnection(input);
    const user = s.pendingUser ?? role.name;
    const memberOf = user === role.name ? undefined : role.name;
    await input.ports.postgres.setPassword(admin, user, pending, fenceOf(input, s.version + 1, s.tookOverFrom), memberOf, signal);
  }
  if (targets.server !== undefined) {
    // An earlier PATCH (cut off by its deadline, Azure still working on it) may already have set it: no second one.
    const conn = await connectionFrom(input, targets.server.connectionSecretName);
    const alreadySet = await input.ports.postgres.testLogin({ ...conn, password: pending }, signal).then(
      () => true,
      () => false,
    );
    const t = targets.server;
    if (alreadySet) return;
    await checkServerIsOurs(input, t, signal);
    await input.ports.flexibleServer.setAdminPassword(t.resourceGroupName, t.serverName, pending, signal);
  }
}

/**
 * A real login with the new value. After a promotion (the old value is gone) a refusal means the Set did not take:
 * the same value is set again, fenced as before, and tested once more.
 */
async function testTargets(input: EngineInput, s: RotationState, afterPromotion: boolean, signal: AbortSignal): Promise<void> {
  const login = await loginCheck(input);
  if (login === undefined) return;
  const credential = { value: s.pending, user: s.pendingUser };
  try {
    await login(credential, signal);
  } catch (e) {
    if (!afterPromotion || !(e instanceof AuthenticationError)) throw e;
    await setTargets(input, s, signal);
    await login(credential, signal);
  }
}

/**
 * Writes `to` (the value of `version`) into the app Secret, with every key that embeds the credential. Fenced: a
 * Secret that already carries a newer version is left alone (StaleError), and the write applies only to the
 * Secret as it was read, absent included (ConflictError otherwise), so a write held up anywhere never lands over
 * a newer one.
 */
async function promote(input: EngineInput, s: RotationState, to: Credential, version: number, now: Date): Promise<void> {
  const { spec, name } = input;
  const k8s = input.ports.kubernetes;
  const app = await k8s.getSecret(spec.secretRef.name);
  const appVersion = versionOnApp(app, name);
  if (appVersion > version) throw new StaleError(`Secret ${spec.secretRef.name} already holds version ${appVersion}`);
  const value = to.value ?? "";
  const data: Record<string, string> = { [spec.secretRef.key]: value };
  if (input.targets.role?.strategy === "alternating" && to.user !== undefined) data.username = to.user;
  const from: Credential = { value: app?.data[spec.secretRef.key] ?? s.current, user: app?.data.username ?? s.currentUser };
  for (const k of s.ownedKeys) {
    const v = app?.data[k];
    if (k === spec.secretRef.key || k === "username" || v === undefined) continue;
    data[k] = replaceCredential(v, from, to);
  }
  const trigger = s.rotationId?.startsWith("manual:") ? s.rotationId.slice("manual:".length) : (lastTrigger(s) ?? app?.annotations[A.lastTrigger]);
  const sameVersion = app?.annotations[A.version] === String(version);
  const marks = {
    [A.rotatedBy]: name,
    [A.ownedKeys]: s.ownedKeys.join(","),
    [A.version]: String(version),
    [A.lastRotatedAt]: (sameVersion ? app?.annotations[A.lastRotatedAt] : undefined) ?? now.toISOString(),
    ...(trigger !== undefined ? { [A.lastTrigger]: trigger } : {}),
    ...(s.tookOverFrom !== undefined ? { [A.tookOverFrom]: s.tookOverFrom } : {}),
  };
  // A Secret that did not exist when read is created, never applied: a create fails (ConflictError) if another
  // call created it meanwhile, where an apply would land over whatever that call wrote.
  if (app === undefined) await k8s.createSecret(spec.secretRef.name, data, marks, MANAGED_LABELS);
  else await k8s.applySecret(spec.secretRef.name, data, marks, MANAGED_LABELS, app.resourceVersion);
}

const USER_IN_DSN = /(^|[\s;&?])(user|username|user id|uid)=([^\s;&]*)/gi;

/**
 * Rewrites a value that embeds the credential (a URI, a DSN `user=... password=...`, a JDBC or ADO.NET string)
 * for the new one, user included when the users alternate; already-new values stay.
 */
function replaceCredential(v: string, from: Credential, to: Credential): string {
  // In a URI the credential is percent-encoded; elsewhere it is verbatim.
  const uri = /^[a-z][a-z0-9+.-]*:\/\//i.test(v);
  const enc = (x: string) => (uri ? encodeURIComponent(x) : x);
  let out = v;
  if (from.value !== undefined && from.value !== "" && to.value !== undefined) out = out.split(enc(from.value)).join(enc(to.value));
  if (from.user === undefined || to.user === undefined || from.user === to.user) return out;
  const [fromUser, toUser] = [from.user, to.user];
  if (uri) out = out.replace(`//${enc(fromUser)}:`, `//${enc(toUser)}:`);
  return out.replace(USER_IN_DSN, (all, lead: string, k: string, u: string) => (u === fromUser ? `${lead}${k}=${toUser}` : all));
}

/** Rolls the workloads that read the Secret, never back: one already at a newer version is left alone. */
async function roll(input: EngineInput, version: number): Promise<string[]> {
  const { consumers, secretRef } = input.spec;
  if (consumers === "none") return [];
  const k8s = input.ports.kubernetes;
  const workloads =
    consumers === "auto" ? (await k8s.listWorkloads()).filter((w) => w.secrets.includes(secretRef.name)) : await k8s.listWorkloads(consumers.selector.matchLabels);
  const key = rolloutAnnotation(secretRef.name);
  // Derived from the version, so applying it again is a no-op (as kubectl rollout restart and Reloader do).
  const value = rolloutValue(version);
  for (const w of workloads) {
    const at = Number(/^v(\d+)$/.exec(w.podTemplateAnnotations[key] ?? "")?.[1] ?? 0);
    if (at < version) await k8s.setPodTemplateAnnotation(w, key, value);
  }
  return workloads.map((w) => (w.kind === "Deployment" ? w.name : `${w.kind}/${w.name}`)).sort();
}

/** Key Vault gets the current value as a new version, unless its latest already is it, or is a newer rotation's. */
async function publish(input: EngineInput, s: RotationState, signal: AbortSignal): Promise<void> {
  const kv = input.targets.vault;
  if (kv === undefined || s.current === undefined) return;
  const latest = await input.ports.keyVault.latest(kv.vaultName, kv.secretName, signal);
  if (latest?.value === s.current) return;
  const theirs = latest?.tags["rotated-by"] === `${input.namespace}/${input.name}` ? Number(latest.tags["rotation-version"] ?? 0) : 0;
  if (theirs > s.version) return;
  const tags = { "rotation-id": s.rotationId ?? "", "rotation-version": String(s.version), "rotated-by": `${input.namespace}/${input.name}`, "managed-by": "azplatform.io" };
  await input.ports.keyVault.setSecret(kv.vaultName, kv.secretName, s.current, tags, signal);
}

/**
 * Drift: the app Secret (or Key Vault) holds another value than the current one, or the target no longer accepts
 * the current one (an ARM PATCH of an older rotation that landed late). The value the target accepts wins: the
 * stored one is written back over an outside write; an outside value that logs in (someone rotated by hand)
 * becomes the current one; when neither does, a rotation starts at once and sets one that does.
 */
async function verify(input: EngineInput, s: RotationState, signal: AbortSignal): Promise<{ state: RotationState; repaired?: Drift }> {
  const app = await input.ports.kubernetes.getSecret(input.spec.secretRef.name);
  const alternating = input.targets.role?.strategy === "alternating";
  const held: Credential = { value: app?.data[input.spec.secretRef.key], user: alternating ? app?.data.username : s.currentUser };
  const stored: Credential = { value: s.current, user: s.currentUser };
  // A state older than the app Secret (restored from a backup, say) writes at the app's version, never below it.
  const appVersion = versionOnApp(app, input.name);
  const version = Math.max(s.version, appVersion);
  // A rotation that failed before changing anything keeps its back-off; a failed drift check of its own is over.
  const own = s.lastError?.startsWith("Verify failed") === true || s.retryAt === undefined;
  const cleared = own ? { failures: 0, lastError: undefined, retryAt: undefined } : {};
  let state: RotationState = { ...s, version, ...cleared, verifiedAt: input.clock.now.toISOString() };
  if (s.current === undefined) return { state };
  const drifted = held.value !== stored.value || held.user !== stored.user || app?.annotations[A.version] !== String(version);
  const login = await loginCheck(input);
  const accepts = async (c: Credential) =>
    login === undefined ||
    (await login(c, signal).then(
      () => true,
      (e: unknown) => {
        if (e instanceof AuthenticationError) return false;
        throw e;
      },
    ));
  let repaired: Drift | undefined;
  if (await accepts(stored)) {
    if (drifted) await promote(input, s, stored, version, input.clock.now);
    if (drifted && app !== undefined) repaired = driftIn(app, s, stored);
  } else if (drifted && held.value !== undefined && (await accepts(held))) {
    state = { ...state, current: held.value, currentUser: held.user };
  } else {
    return { state: { ...state, lastRotatedAt: undefined, rotationId: "repair" } };
  }
  await publish(input, state, signal);
  return { state, ...(repaired !== undefined ? { repaired } : {}) };
}

/** The owned keys whose value was not the stored credential's, and the other field managers that wrote them. */
function driftIn(app: SecretView, s: RotationState, stored: Credential): Drift | undefined {
  const keys = s.ownedKeys.filter((k) => {
    const v = app.data[k];
    if (v === undefined) return true;
    return k === "username" ? v !== stored.user : !v.includes(stored.value ?? "") && !v.includes(encodeURIComponent(stored.value ?? ""));
  });
  if (keys.length === 0) return undefined;
  return { keys, writers: [...new Set(keys.flatMap((k) => app.otherWriters[k] ?? []))].sort() };
}

/** Error texts from drivers and SDKs must never carry a value: replace any occurrence with a marker. */
export function redactSecrets(message: string, values: ReadonlyArray<string | undefined>): string {
  let out = message;
  for (const v of values) {
    if (v === undefined || v.length < 4) continue;
    out = out.split(v).join("[REDACTED]").split(encodeURIComponent(v)).join("[REDACTED]");
  }
  return out;
}
