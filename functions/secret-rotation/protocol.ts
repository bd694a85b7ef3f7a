// The rotation protocol as pure functions: which step comes next, and the state after each step.
// Staged like AWS Secrets Manager rotation: create pending -> set in the target -> test -> promote -> roll, then
// publish to Key Vault. Where setting the new value ends the old one (a single role, a server's admin), the apps get
// it right after Set and the test follows: once the target accepts a value, holding it back only breaks the apps.
// Key Vault comes last, so its failure never keeps a value the target accepts from the apps.
import { cloneOf } from "../shared/rotation-contract.ts";
import { nextDue, type Schedule } from "./schedule.ts";
import { HANDLED_TRIGGERS_KEPT, type RotationState } from "./state.ts";

export type Step =
  | { kind: "Wait"; until: Date; why: "NotDue" | "Backoff"; due?: Date }
  | { kind: "Begin"; rotationId: string }
  | { kind: "Set" }
  | { kind: "Test" }
  | { kind: "Promote" }
  | { kind: "Roll" }
  | { kind: "Publish" }
  /** Compare the app Secret and Key Vault with the current value, and repair them (drift). */
  | { kind: "Verify" };

export interface Clock {
  now: Date;
  schedule: Schedule;
  /** Value of the rotate-now annotation, if any. */
  trigger: string | undefined;
  /** How often an idle rotation checks for drift, in ms. */
  verifyEveryMs: number;
}

/** Whether the old value stays valid after Set (alternating users): then the new one is tested before apps get it. */
export type Order = "test-then-promote" | "promote-then-test";

export const isNewTrigger = (s: RotationState, trigger: string | undefined): trigger is string =>
  trigger !== undefined && trigger !== "" && !s.handledTriggers.includes(trigger);

/** When an idle rotation next looks at the app Secret and Key Vault. */
export const nextVerify = (s: RotationState, c: Clock): Date => new Date((s.verifiedAt === undefined ? 0 : Date.parse(s.verifiedAt)) + c.verifyEveryMs);

/** A failure of the drift check itself: retried with back-off like any other, not at every drift check. */
const verifyFailed = (s: RotationState) => s.lastError?.startsWith("Verify failed") === true;

export function nextStep(s: RotationState, c: Clock, order: Order): Step {
  if (s.retryAt !== undefined && c.now < new Date(s.retryAt)) {
    // A rotation that failed before changing anything (phase Idle) does not hold up drift repair: apps must keep
    // reading a value the target accepts while it backs off.
    const checks = s.phase === "Idle" && !verifyFailed(s);
    const verify = nextVerify(s, c);
    if (checks && c.now >= verify) return { kind: "Verify" };
    const retry = new Date(s.retryAt);
    return { kind: "Wait", until: checks && verify < retry ? verify : retry, why: "Backoff" };
  }
  const testFirst = order === "test-then-promote";
  switch (s.phase) {
    case "Pending":
      return { kind: "Set" };
    case "Set":
      return testFirst ? { kind: "Test" } : { kind: "Promote" };
    case "Tested":
      return testFirst ? { kind: "Promote" } : { kind: "Roll" };
    case "Promoted":
      return testFirst ? { kind: "Roll" } : { kind: "Test" };
    case "Rolled":
      return { kind: "Publish" };
    case "Idle": {
      if (isNewTrigger(s, c.trigger)) return { kind: "Begin", rotationId: `manual:${c.trigger}` };
      const due = nextDue(c.schedule, s.lastRotatedAt === undefined ? undefined : new Date(s.lastRotatedAt));
      if (c.now >= due) return { kind: "Begin", rotationId: s.lastRotatedAt === undefined ? "initial" : `scheduled:${due.toISOString()}` };
      const verify = nextVerify(s, c);
      if (c.now >= verify) return { kind: "Verify" };
      return { kind: "Wait", until: verify < due ? verify : due, why: "NotDue", due };
    }
  }
}

/** The user the next value belongs to: the same role, or the other one of the alternating pair. */
export function pendingUserFor(role: string | undefined, strategy: "single" | "alternating", currentUser: string | undefined): string | undefined {
  if (role === undefined) return undefined;
  if (strategy === "single") return role;
  return currentUser === cloneOf(role) ? role : cloneOf(role);
}

const ok = (s: RotationState): RotationState => ({ ...s, failures: 0, lastError: undefined, retryAt: undefined });

export function begun(s: RotationState, rotationId: string, pending: string, pendingUser: string | undefined): RotationState {
  return ok({ ...s, phase: "Pending", rotationId, pending, pendingUser });
}

export function advanced(s: RotationState, phase: "Set" | "Tested" | "Rolled"): RotationState {
  return ok({ ...s, phase });
}

export function promoted(s: RotationState, now: Date): RotationState {
  return ok({
    ...s,
    phase: "Promoted",
    version: s.version + 1,
    previous: s.current,
    previousUser: s.currentUser,
    current: s.pending,
    currentUser: s.pendingUser ?? s.currentUser,
    lastRotatedAt: now.toISOString(),
    handledTriggers: s.rotationId?.startsWith("manual:") ? [...s.handledTriggers, s.rotationId.slice("manual:".length)].slice(-HANDLED_TRIGGERS_KEPT) : s.handledTriggers,
  });
}

/** Published (or nothing to publish): the rotation is done, the pending value is the current one. */
export function published(s: RotationState, now: Date): RotationState {
  return ok({ ...s, phase: "Idle", pending: undefined, pendingUser: undefined, verifiedAt: now.toISOString() });
}

const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 3_600_000;
/** While the targets disagree (needsFastRetry), retries come fast and stay frequent. */
const URGENT_BASE_MS = 2_000;
const URGENT_MAX_MS = 30_000;

export function backoffMs(failures: number, urgent = false): number {
  const [base, max] = urgent ? [URGENT_BASE_MS, URGENT_MAX_MS] : [BACKOFF_BASE_MS, BACKOFF_MAX_MS];
  return Math.min(base * 2 ** Math.max(0, failures - 1), max);
}

/**
 * Whether a failed step leaves something inconsistent that a fast retry repairs: apps reading a value the target no
 * longer accepts (Set, or a Set whose reply was lost, ended the old value before the promotion; or the test after
 * the promotion is refused), or Key Vault behind the app Secret (promoted, not yet published).
 */
export function needsFastRetry(s: RotationState, order: Order, publishes: boolean): boolean {
  const appsMayBeBroken = order === "promote-then-test" && (s.phase === "Pending" || s.phase === "Set" || s.phase === "Promoted");
  const promoted = s.phase === "Rolled" || s.phase === "Promoted" || (order === "promote-then-test" && s.phase === "Tested");
  return appsMayBeBroken || (publishes && promoted);
}

/** A failed step keeps its phase (and the pending value), so the retry continues where it stopped. */
export function failed(s: RotationState, message: string, now: Date, urgent = false): RotationState {
  const failures = s.failures + 1;
  return { ...s, failures, lastError: message, retryAt: new Date(now.getTime() + backoffMs(failures, urgent)).toISOString() };
}
