import { describe, expect, it } from "vitest";
import { advanced, backoffMs, begun, failed, needsFastRetry, nextStep, pendingUserFor, promoted, published, type Clock, type Order, type Step } from "./protocol.ts";
import { emptyState, fromSecret, toSecret, type RotationState } from "./state.ts";

const NOW = new Date("2026-11-24T12:00:00Z");
const DAY = 86_400_000;
const clock = (o: Partial<Clock> = {}): Clock => ({ now: NOW, schedule: { every: 30 * DAY }, trigger: undefined, verifyEveryMs: DAY, ...o });
const state = (o: Partial<RotationState> = {}): RotationState => ({ ...emptyState(), ...o });
const rotatedAt = (daysAgo: number) => new Date(NOW.getTime() - daysAgo * DAY).toISOString();

describe("nextStep: every phase transition", () => {
  const verified = { verifiedAt: NOW.toISOString() };
  const cases: Record<string, { s: RotationState; c?: Partial<Clock>; order?: Order; want: Step }> = {
    NeverRotatedIsDueAtOnce: { s: state(), want: { kind: "Begin", rotationId: "initial" } },
    NotDueWaitsUntilIntervalAfterLastRotation: {
      s: state({ lastRotatedAt: rotatedAt(10), version: 3, ...verified }),
      c: { verifyEveryMs: 30 * DAY },
      want: { kind: "Wait", why: "NotDue", until: new Date(NOW.getTime() + 20 * DAY), due: new Date(NOW.getTime() + 20 * DAY) },
    },
    NotDueWaitsForTheNextDriftCheckWhenItComesFirst: {
      s: state({ lastRotatedAt: rotatedAt(10), version: 3, ...verified }),
      want: { kind: "Wait", why: "NotDue", until: new Date(NOW.getTime() + DAY), due: new Date(NOW.getTime() + 20 * DAY) },
    },
    NotDueButNeverVerifiedChecksForDrift: { s: state({ lastRotatedAt: rotatedAt(10), version: 3 }), want: { kind: "Verify" } },
    DueBeginsAScheduledRotationNamedByItsDueTime: {
      s: state({ lastRotatedAt: rotatedAt(31), version: 3 }),
      want: { kind: "Begin", rotationId: `scheduled:${new Date(NOW.getTime() - DAY).toISOString()}` },
    },
    CronScheduleWaitsForTheNextRunAfterLastRotation: {
      s: state({ lastRotatedAt: "2026-11-24T03:00:00Z", version: 1, ...verified }),
      c: { schedule: { cron: "0 3 * * 1" }, verifyEveryMs: 30 * DAY },
      want: { kind: "Wait", why: "NotDue", until: new Date("2026-11-30T03:00:00Z"), due: new Date("2026-11-30T03:00:00Z") },
    },
    NewManualTriggerBeginsAtOnce: { s: state({ lastRotatedAt: rotatedAt(1), version: 3 }), c: { trigger: "2" }, want: { kind: "Begin", rotationId: "manual:2" } },
    HandledManualTriggerDoesNothing: {
      s: state({ lastRotatedAt: rotatedAt(1), version: 3, handledTriggers: ["2"], ...verified }),
      c: { trigger: "2", verifyEveryMs: 30 * DAY },
      want: { kind: "Wait", why: "NotDue", until: new Date(NOW.getTime() + 29 * DAY), due: new Date(NOW.getTime() + 29 * DAY) },
    },
    // A stale call still carries an older trigger: handled once, it is never handled again.
    OlderHandledTriggerDoesNothing: {
      s: state({ lastRotatedAt: rotatedAt(1), version: 4, handledTriggers: ["1", "2"], ...verified }),
      c: { trigger: "1", verifyEveryMs: 30 * DAY },
      want: { kind: "Wait", why: "NotDue", until: new Date(NOW.getTime() + 29 * DAY), due: new Date(NOW.getTime() + 29 * DAY) },
    },
    PendingSetsTheTargets: { s: state({ phase: "Pending", pending: "p" }), want: { kind: "Set" } },
    OldValueStaysValidSoSetIsTestedBeforePromotion: { s: state({ phase: "Set", pending: "p" }), order: "test-then-promote", want: { kind: "Test" } },
    TestedIsPromoted: { s: state({ phase: "Tested", pending: "p" }), order: "test-then-promote", want: { kind: "Promote" } },
    PromotedRollsConsumers: { s: state({ phase: "Promoted" }), order: "test-then-promote", want: { kind: "Roll" } },
    OldValueEndsAtSetSoAppsGetTheNewOneFirst: { s: state({ phase: "Set", pending: "p" }), want: { kind: "Promote" } },
    PromotedIsTestedThen: { s: state({ phase: "Promoted", pending: "p" }), want: { kind: "Test" } },
    TestedAfterPromotionRolls: { s: state({ phase: "Tested", pending: "p" }), want: { kind: "Roll" } },
    RolledPublishesToKeyVault: { s: state({ phase: "Rolled" }), want: { kind: "Publish" } },
    FailureWaitsForItsRetryTimeInAnyPhase: {
      s: state({ phase: "Set", failures: 2, retryAt: "2026-11-24T12:01:00Z" }),
      c: { trigger: "3" },
      want: { kind: "Wait", why: "Backoff", until: new Date("2026-11-24T12:01:00Z") },
    },
    RetryTimePassedResumesThePhase: { s: state({ phase: "Set", failures: 2, retryAt: "2026-11-24T11:59:00Z" }), want: { kind: "Promote" } },
    TriggerDuringARotationWaitsForItToFinish: { s: state({ phase: "Pending", pending: "p" }), c: { trigger: "9" }, want: { kind: "Set" } },
  };
  for (const [name, { s, c, order, want }] of Object.entries(cases)) it(name, () => expect(nextStep(s, clock(c), order ?? "promote-then-test")).toEqual(want));
});

describe("state after each step", () => {
  const idle = state({ version: 4, current: "old", currentUser: "app", previous: "older", lastRotatedAt: rotatedAt(31), handledTriggers: ["1"] });
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
      handledTriggers: ["1", "2"],
    });
  });
  it("a scheduled Promote keeps the last handled trigger", () => {
    const t = advanced(begun(idle, "scheduled:x", "new", undefined), "Tested");
    expect(promoted(t, NOW)).toMatchObject({ handledTriggers: ["1"], currentUser: "app" });
  });
  it("Publish returns to Idle, forgets the pending value and counts as a drift check", () => {
    const p = advanced(promoted(advanced(begun(idle, "manual:2", "new", "app_clone"), "Tested"), NOW), "Rolled");
    expect(published(p, NOW)).toEqual({ ...p, phase: "Idle", pending: undefined, pendingUser: undefined, verifiedAt: NOW.toISOString() });
  });
  it("a failure keeps phase and pending, counts, and backs off exponentially up to an hour", () => {
    const p = begun(idle, "manual:2", "new", undefined);
    const f1 = failed(p, "Set failed: boom", NOW);
    expect(f1).toEqual({ ...p, failures: 1, lastError: "Set failed: boom", retryAt: "2026-11-24T12:00:30.000Z" });
    expect([1, 2, 3, 4, 8, 20].map((n) => backoffMs(n))).toEqual([30_000, 60_000, 120_000, 240_000, 3_600_000, 3_600_000]);
    // While apps may hold a value the target no longer accepts: fast, and never more than 30 s apart.
    expect([1, 2, 3, 4, 5, 20].map((n) => backoffMs(n, true))).toEqual([2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
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
      handledTriggers: ["1", "a,b", 'with "quotes"'],
      verifiedAt: "2026-11-02T00:00:00.000Z",
      ownedKeys: ["password", "uri"],
      failures: 1,
      lastError: "Test failed: refused",
      retryAt: "2026-11-24T12:00:30.000Z",
    });
    const { data, annotations } = toSecret(s);
    expect(fromSecret({ data, annotations, labels: {}, resourceVersion: "7", otherOwners: {}, otherWriters: {} })).toEqual(s);
  });
});

describe("needsFastRetry: which failures leave the targets disagreeing", () => {
  const cases: Array<[string, RotationState["phase"], Order, boolean, boolean]> = [
    ["single, Set may have landed, apps not promoted", "Pending", "promote-then-test", false, true],
    ["single, Set done, apps not promoted", "Set", "promote-then-test", false, true],
    ["alternating, Set done: the old value still logs in", "Set", "test-then-promote", false, false],
    ["promoted, Key Vault behind", "Rolled", "test-then-promote", true, true],
    ["promoted, no Key Vault", "Rolled", "promote-then-test", false, false],
    ["single, promoted, test failing, Key Vault behind", "Promoted", "promote-then-test", true, true],
    ["single, promoted, test refused: the Set may not have taken", "Promoted", "promote-then-test", false, true],
    ["alternating, promoted, rolling: the old value still logs in", "Promoted", "test-then-promote", false, false],
    ["idle: nothing changed", "Idle", "promote-then-test", true, false],
  ];
  for (const [what, phase, order, publishes, want] of cases) it(what, () => expect(needsFastRetry(state({ phase }), order, publishes)).toBe(want));
});
