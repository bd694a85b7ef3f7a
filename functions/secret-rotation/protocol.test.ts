import { describe, expect, it } from "vitest";
import { advanced, backoffMs, begun, failed, nextStep, pendingUserFor, promoted, rolled, type Clock, type Step } from "./protocol.ts";
import { emptyState, fromSecret, toSecret, type RotationState } from "./state.ts";

const NOW = new Date("2026-11-24T12:00:00Z");
const DAY = 86_400_000;
const clock = (o: Partial<Clock> = {}): Clock => ({ now: NOW, schedule: { every: 30 * DAY }, trigger: undefined, ...o });
const state = (o: Partial<RotationState> = {}): RotationState => ({ ...emptyState(), ...o });
const rotatedAt = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * DAY).toISOString();

describe("nextStep: every phase transition", () => {
  const cases: Record<string, { s: RotationState; c?: Partial<Clock>; want: Step }> = {
    NeverRotatedIsDueAtOnce: { s: state(), want: { kind: "Begin", rotationId: "initial" } },
    NotDueWaitsUntilIntervalAfterLastRotation: {
      s: state({ lastRotatedAt: rotatedAt(10), version: 3 }),
      want: { kind: "Wait", why: "NotDue", until: new Date(NOW.getTime() + 20 * DAY) },
    },
    DueBeginsAScheduledRotationNamedByItsDueTime: {
      s: state({ lastRotatedAt: rotatedAt(31), version: 3 }),
      want: { kind: "Begin", rotationId: `scheduled:${new Date(NOW.getTime() - DAY).toISOString()}` },
    },
    CronScheduleWaitsForTheNextRunAfterLastRotation: {
      s: state({ lastRotatedAt: "2026-11-24T03:00:00Z", version: 1 }),
      c: { schedule: { cron: "0 3 * * 1" } },
      want: { kind: "Wait", why: "NotDue", until: new Date("2026-11-30T03:00:00Z") },
    },
    NewManualTriggerBeginsAtOnce: { s: state({ lastRotatedAt: rotatedAt(1), version: 3 }), c: { trigger: "2" }, want: { kind: "Begin", rotationId: "manual:2" } },
    HandledManualTriggerDoesNothing: {
      s: state({ lastRotatedAt: rotatedAt(1), version: 3, handledTrigger: "2" }),
      c: { trigger: "2" },
      want: { kind: "Wait", why: "NotDue", until: new Date(NOW.getTime() + 29 * DAY) },
    },
    PendingSetsTheTargets: { s: state({ phase: "Pending", pending: "p" }), want: { kind: "Set" } },
    SetIsTestedBeforePromotion: { s: state({ phase: "Set", pending: "p" }), want: { kind: "Test" } },
    TestedIsPromoted: { s: state({ phase: "Tested", pending: "p" }), want: { kind: "Promote" } },
    PromotedRollsConsumers: { s: state({ phase: "Promoted" }), want: { kind: "Roll" } },
    FailureWaitsForItsRetryTimeInAnyPhase: {
      s: state({ phase: "Set", failures: 2, retryAt: "2026-11-24T12:01:00Z" }),
      c: { trigger: "3" },
      want: { kind: "Wait", why: "Backoff", until: new Date("2026-11-24T12:01:00Z") },
    },
    RetryTimePassedResumesThePhase: { s: state({ phase: "Set", failures: 2, retryAt: "2026-11-24T11:59:00Z" }), want: { kind: "Test" } },
    TriggerDuringARotationWaitsForItToFinish: { s: state({ phase: "Pending", pending: "p" }), c: { trigger: "9" }, want: { kind: "Set" } },
  };
  for (const [name, { s, c, want }] of Object.entries(cases)) it(name, () => expect(nextStep(s, clock(c))).toEqual(want));
});

describe("state after each step", () => {
  const idle = state({ version: 4, current: "old", currentUser: "app", previous: "older", lastRotatedAt: rotatedAt(31), handledTrigger: "1" });
  it("Begin records the pending value and user, and clears failures", () => {
    expect(begun({ ...idle, failures: 2, lastError: "x", retryAt: "t" }, "manual:2", "new", "app_clone")).toEqual({
      ...idle,
      phase: "Pending",
      rotationId: "manual:2",
      pending: "new",
      pendingUser: "app_clone",
    });
  });
  it("Set and Tested only advance the phase", () => {
    const p = begun(idle, "manual:2", "new", "app_clone");
    expect(advanced(p, "Set")).toEqual({ ...p, phase: "Set" });
    expect(advanced(advanced(p, "Set"), "Tested")).toEqual({ ...p, phase: "Tested" });
  });
  it("Promote makes pending current, keeps the previous, counts the version and handles a manual trigger", () => {
    const t = advanced(begun(idle, "manual:2", "new", "app_clone"), "Tested");
    expect(promoted(t, NOW)).toEqual({
      ...t,
      phase: "Promoted",
      version: 5,
      previous: "old",
      previousUser: "app",
      current: "new",
      currentUser: "app_clone",
      lastRotatedAt: NOW.toISOString(),
      handledTrigger: "2",
    });
  });
  it("a scheduled Promote keeps the last handled trigger", () => {
    const t = advanced(begun(idle, "scheduled:x", "new", undefined), "Tested");
    expect(promoted(t, NOW)).toMatchObject({ handledTrigger: "1", currentUser: "app" });
  });
  it("Roll returns to Idle and forgets the pending value", () => {
    const p = promoted(advanced(begun(idle, "manual:2", "new", "app_clone"), "Tested"), NOW);
    expect(rolled(p)).toEqual({ ...p, phase: "Idle", pending: undefined, pendingUser: undefined });
  });
  it("a failure keeps phase and pending, counts, and backs off exponentially up to an hour", () => {
    const p = begun(idle, "manual:2", "new", undefined);
    const f1 = failed(p, "Set failed: boom", NOW);
    expect(f1).toEqual({ ...p, failures: 1, lastError: "Set failed: boom", retryAt: "2026-11-24T12:00:30.000Z" });
    expect([1, 2, 3, 4, 8, 20].map(backoffMs)).toEqual([30_000, 60_000, 120_000, 240_000, 3_600_000, 3_600_000]);
  });
});

describe("pendingUserFor", () => {
  const cases: Array<[string | undefined, "single" | "alternating", string | undefined, string | undefined]> = [
    ["app", "single", "app", "app"],
    ["app", "alternating", undefined, "app_clone"],
    ["app", "alternating", "app", "app_clone"],
    ["app", "alternating", "app_clone", "app"],
    [undefined, "single", undefined, undefined],
  ];
  for (const [role, strategy, current, want] of cases) it(`${role} ${strategy} from ${current} -> ${want}`, () => expect(pendingUserFor(role, strategy, current)).toBe(want));
});

describe("state Secret round-trip", () => {
  it("keeps every field through toSecret/fromSecret", () => {
    const s = state({
      resourceVersion: "7",
      phase: "Set",
      version: 4,
      current: "c",
      currentUser: "app",
      previous: "p",
      pending: "n",
      pendingUser: "app_clone",
      rotationId: "manual:2",
      lastRotatedAt: "2026-11-01T00:00:00.000Z",
      handledTrigger: "1",
      ownedKeys: ["password", "uri"],
      failures: 1,
      lastError: "Test failed: refused",
      retryAt: "2026-11-24T12:00:30.000Z",
    });
    const { data, annotations } = toSecret(s);
    expect(fromSecret({ data, annotations, labels: {}, resourceVersion: "7", otherOwners: {} })).toEqual(s);
  });
});
