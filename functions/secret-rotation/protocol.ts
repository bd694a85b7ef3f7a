// The rotation protocol as pure functions: which step comes next, and the state after each step.
// Staged like AWS Secrets Manager rotation: create pending -> set in the target -> test -> promote -> roll.
import { nextDue, type Schedule } from "./schedule.ts";
import type { RotationState } from "./state.ts";

export type Step =
  | { kind: "Wait"; until: Date; why: "NotDue" | "Backoff" }
  | { kind: "Begin"; rotationId: string }
  | { kind: "Set" }
  | { kind: "Test" }
  | { kind: "Promote" }
  | { kind: "Roll" };

export interface Clock {
  now: Date;
  schedule: Schedule;
  /** Value of the rotate-now annotation, if any. */
  trigger: string | undefined;
}

export function nextStep(s: RotationState, c: Clock): Step {
  if (s.retryAt !== undefined && c.now < new Date(s.retryAt)) return { kind: "Wait", until: new Date(s.retryAt), why: "Backoff" };
  switch (s.phase) {
    case "Pending":
      return { kind: "Set" };
    case "Set":
      return { kind: "Test" };
    case "Tested":
      return { kind: "Promote" };
    case "Promoted":
      return { kind: "Roll" };
    case "Idle": {
      if (c.trigger !== undefined && c.trigger !== "" && c.trigger !== s.handledTrigger) return { kind: "Begin", rotationId: `manual:${c.trigger}` };
      const due = nextDue(c.schedule, s.lastRotatedAt === undefined ? undefined : new Date(s.lastRotatedAt));
      if (c.now >= due) return { kind: "Begin", rotationId: s.lastRotatedAt === undefined ? "initial" : `scheduled:${due.toISOString()}` };
      return { kind: "Wait", until: due, why: "NotDue" };
    }
  }
}

/** The user the next value belongs to: the same role, or the other one of the alternating pair. */
export function pendingUserFor(role: string | undefined, strategy: "single" | "alternating", currentUser: string | undefined): string | undefined {
  if (role === undefined) return undefined;
  if (strategy === "single") return role;
  return currentUser === `${role}_clone` ? role : `${role}_clone`;
}

const ok = (s: RotationState): RotationState => ({ ...s, failures: 0, lastError: undefined, retryAt: undefined });

export function begun(s: RotationState, rotationId: string, pending: string, pendingUser: string | undefined): RotationState {
  return ok({ ...s, phase: "Pending", rotationId, pending, pendingUser });
}

export function advanced(s: RotationState, phase: "Set" | "Tested"): RotationState {
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
    handledTrigger: s.rotationId?.startsWith("manual:") ? s.rotationId.slice("manual:".length) : s.handledTrigger,
  });
}

export function rolled(s: RotationState): RotationState {
  return ok({ ...s, phase: "Idle", pending: undefined, pendingUser: undefined });
}

const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 3_600_000;

export function backoffMs(failures: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1), BACKOFF_MAX_MS);
}

/** A failed step keeps its phase (and the pending value), so the retry continues where it stopped. */
export function failed(s: RotationState, message: string, now: Date): RotationState {
  const failures = s.failures + 1;
  return { ...s, failures, lastError: message, retryAt: new Date(now.getTime() + backoffMs(failures)).toISOString() };
}
