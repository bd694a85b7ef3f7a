// promtool unit-test scenarios for deploy/monitoring/prometheusrule.yaml: input series as the PodMonitor
// scrapes them from two replicas, and at each checked time the complete set of firing alerts. Every alert not
// listed in a check must be silent at that time, so each check also proves the other alerts stay quiet.

export type AlertName =
  | "AzPlatformSecretRotationFailing"
  | "AzPlatformSecretTooOld"
  | "AzPlatformSecretRotationOverdue"
  | "AzPlatformFunctionDown"
  | "AzPlatformFunctionReplicaDown"
  | "AzPlatformFunctionErrors"
  | "AzPlatformFunctionFatalResults"
  | "AzPlatformFunctionSlow"
  | "AzPlatformFunctionSlowSecretRotation"
  | "AzPlatformFunctionNotCalled";

/** The contract: each alert and its severity. The rules must define exactly these. */
export const SEVERITY: Record<AlertName, "critical" | "warning"> = {
  AzPlatformSecretRotationFailing: "warning",
  AzPlatformSecretTooOld: "warning",
  AzPlatformSecretRotationOverdue: "warning",
  AzPlatformFunctionDown: "critical",
  AzPlatformFunctionReplicaDown: "warning",
  AzPlatformFunctionErrors: "critical",
  AzPlatformFunctionFatalResults: "warning",
  AzPlatformFunctionSlow: "warning",
  AzPlatformFunctionSlowSecretRotation: "warning",
  AzPlatformFunctionNotCalled: "warning",
};

export interface Firing {
  alert: AlertName;
  /** The alert's labels except alertname and severity. */
  labels: Record<string, string>;
  /** How promtool renders `{{ $value | … }}` in the alert's annotations, when they use it. */
  value?: string;
}

export interface Check {
  at: string;
  firing: Firing[];
}

export interface Scenario {
  name: string;
  /** Input series interval and rule evaluation interval; default 1m. */
  interval?: string;
  series: Record<string, string>;
  /** `up` series; default both replicas up throughout. */
  up?: Record<string, string>;
  checks: Check[];
}

export const JOB = "function-azure-platform";
/** Target labels of the two replicas, as the PodMonitor attaches them. */
const A = { job: JOB, instance: "10.244.0.11:8080", pod: "function-azure-platform-7c9d5-a1b2c" };
const B = { job: JOB, instance: "10.244.1.12:8080", pod: "function-azure-platform-7c9d5-d3e4f" };
const TARGET_NS = { namespace: "crossplane-system" };

export function sel(metric: string, ...labelSets: Record<string, string>[]): string {
  const labels = Object.assign({}, ...labelSets) as Record<string, string>;
  return `${metric}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(", ")}}`;
}

export const upSeries = (values: { a: string; b: string }): Record<string, string> => ({
  [sel("up", A, TARGET_NS)]: values.a,
  [sel("up", B, TARGET_NS)]: values.b,
});

// ---- SecretRotation gauges ---------------------------------------------------------------------------------

const XR = { namespace: "team-payments", name: "orders-app-password", team: "payments" };
const DAY = 86_400;
const MONTH = 30 * DAY; // rotateEvery: 720h

/** One replica's view of XR: failing, and the optional gauges (absent when undefined). */
function rotation(replica: Record<string, string>, v: { failing: string; since?: string; nextDue?: string; maxAge?: string }): Record<string, string> {
  const out: Record<string, string> = { [sel("azplatform_rotation_failing", XR, replica)]: v.failing };
  if (v.since !== undefined) out[sel("azplatform_rotation_seconds_since_last_success", XR, replica)] = v.since;
  if (v.nextDue !== undefined) out[sel("azplatform_rotation_next_due_timestamp_seconds", XR, replica)] = v.nextDue;
  if (v.maxAge !== undefined) out[sel("azplatform_rotation_max_age_seconds", XR, replica)] = v.maxAge;
  return out;
}

const N = 200; // samples: more than any 1m scenario evaluates
const flat = (v: number) => `${v}x${N}`;
/** Seconds since the last success, `start` at t=0, one minute older per sample. */
const ageing = (start: number) => `${start}+60x${N}`;

const rotationScenarios: Scenario[] = [
  {
    name: "a rotation failing for 30 minutes fires, with namespace, name and team",
    series: rotation(A, { failing: flat(1), since: ageing(DAY), nextDue: flat(MONTH - DAY), maxAge: flat(MONTH) }),
    checks: [
      { at: "29m", firing: [] },
      { at: "31m", firing: [{ alert: "AzPlatformSecretRotationFailing", labels: XR }] },
    ],
  },
  {
    name: "a failure that recovers within 30 minutes does not fire",
    series: rotation(A, { failing: "1x19 0x180", since: `${DAY}+60x19 0+60x180`, nextDue: `${MONTH - DAY}x19 ${MONTH + 20 * 60}x180`, maxAge: flat(MONTH) }),
    checks: [
      { at: "25m", firing: [] },
      { at: "35m", firing: [] },
      { at: "90m", firing: [] },
    ],
  },
  {
    name: "a replica holding a view from before the last rotation (failing, too old, overdue) raises nothing",
    series: {
      // A handled the rotation 2 days ago, when it failed; B handled it 10 minutes ago, when it succeeded.
      ...rotation(A, { failing: flat(1), since: ageing(2 * DAY), nextDue: flat(-DAY), maxAge: flat(DAY) }),
      ...rotation(B, { failing: flat(0), since: ageing(600), nextDue: flat(DAY - 600), maxAge: flat(DAY) }),
    },
    checks: [
      { at: "40m", firing: [] },
      { at: "90m", firing: [] },
    ],
  },
  {
    name: "replicas that know the same last success: the one that saw the failure counts, despite scrape jitter",
    series: {
      ...rotation(A, { failing: flat(0), since: ageing(DAY), nextDue: flat(MONTH - DAY), maxAge: flat(MONTH) }),
      ...rotation(B, { failing: flat(1), since: ageing(DAY + 30), nextDue: flat(MONTH - DAY), maxAge: flat(MONTH) }),
    },
    checks: [
      { at: "29m", firing: [] },
      { at: "31m", firing: [{ alert: "AzPlatformSecretRotationFailing", labels: XR }] },
    ],
  },
  {
    name: "never rotated: a replica that saw the first attempt fail is older than one that saw it succeed",
    series: {
      ...rotation(A, { failing: flat(1), nextDue: flat(-600), maxAge: flat(MONTH) }),
      ...rotation(B, { failing: flat(0), since: ageing(300), nextDue: flat(MONTH - 300), maxAge: flat(MONTH) }),
    },
    checks: [
      { at: "40m", firing: [] },
      { at: "90m", firing: [] },
    ],
  },
  {
    name: "never rotated and stuck without an error: overdue an hour and a quarter after it was due",
    series: {
      ...rotation(A, { failing: flat(0), nextDue: flat(-600), maxAge: flat(MONTH) }),
      ...rotation(B, { failing: flat(0), nextDue: flat(-600), maxAge: flat(MONTH) }),
    },
    checks: [
      { at: "65m", firing: [] },
      { at: "70m", firing: [{ alert: "AzPlatformSecretRotationOverdue", labels: XR, value: "1h 20m 0s" }] },
    ],
  },
  {
    name: "never rotated and its first rotation failing: Failing, not Overdue",
    series: rotation(A, { failing: flat(1), nextDue: flat(-600), maxAge: flat(MONTH) }),
    checks: [
      { at: "29m", firing: [] },
      { at: "90m", firing: [{ alert: "AzPlatformSecretRotationFailing", labels: XR }] },
    ],
  },
  {
    name: "stuck after its last rotation without an error: TooOld after an hour, not Overdue",
    // Due 10 minutes before t=0; older than the schedule allows from 11m.
    series: rotation(A, { failing: flat(0), since: ageing(MONTH - 600), nextDue: flat(-600), maxAge: flat(MONTH) }),
    checks: [
      { at: "60m", firing: [] },
      { at: "70m", firing: [] },
      { at: "75m", firing: [{ alert: "AzPlatformSecretTooOld", labels: XR, value: "30d 1h 5m 0s" }] },
    ],
  },
  {
    name: "a rotation that fails past its schedule: Failing and TooOld",
    series: rotation(A, { failing: flat(1), since: ageing(MONTH - 600), nextDue: flat(-600), maxAge: flat(MONTH) }),
    checks: [
      { at: "31m", firing: [{ alert: "AzPlatformSecretRotationFailing", labels: XR }] },
      {
        at: "75m",
        firing: [
          { alert: "AzPlatformSecretRotationFailing", labels: XR },
          { alert: "AzPlatformSecretTooOld", labels: XR, value: "30d 1h 5m 0s" },
        ],
      },
    ],
  },
  {
    name: "a rotation that falls due and rotates within minutes raises nothing",
    // Due at 5m, rotated at 8m on both replicas.
    series: {
      ...rotation(A, { failing: flat(0), since: `${MONTH - 300}+60x7 0+60x180`, nextDue: `300x7 ${MONTH + 480}x180`, maxAge: flat(MONTH) }),
      ...rotation(B, { failing: flat(0), since: `${MONTH - 300}+60x7 0+60x180`, nextDue: `300x7 ${MONTH + 480}x180`, maxAge: flat(MONTH) }),
    },
    checks: [
      { at: "30m", firing: [] },
      { at: "120m", firing: [] },
    ],
  },
];

// ---- Calls, outcomes and latency ---------------------------------------------------------------------------

const calls = (fn: string, outcome: string, replica: Record<string, string>) => sel("azplatform_function_calls_total", { function: fn, outcome }, replica, TARGET_NS);
const refused = (reason: string, replica: Record<string, string>) => sel("azplatform_function_requests_refused_total", { reason }, replica, TARGET_NS);

const BUCKETS = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "+Inf"];

/**
 * Histogram bucket series of one function on one replica. Each phase lasts `minutes` samples and observes,
 * every minute, `perMinute[duration] = count` calls of that duration.
 */
function latency(fn: string, replica: Record<string, string>, phases: { minutes: number; perMinute: Record<number, number> }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const le of BUCKETS) {
    const bound = le === "+Inf" ? Infinity : Number(le);
    let total = 0;
    const parts: string[] = [];
    for (const { minutes, perMinute } of phases) {
      const inc = Object.entries(perMinute).reduce((n, [d, count]) => (Number(d) <= bound ? n + count : n), 0);
      parts.push(`${total}+${inc}x${minutes - 1}`);
      total += inc * minutes;
    }
    out[sel("azplatform_function_call_duration_seconds_bucket", { function: fn, le }, replica, TARGET_NS)] = parts.join(" ");
  }
  return out;
}

const functionScenarios: Scenario[] = [
  {
    name: "the first internal error of a replica fires at once, and clears after 10 minutes",
    series: {
      [calls("database", "ok", A)]: `0+100x${N}`,
      [calls("database", "error", A)]: `_x5 1x${N}`, // the series starts at 5m, with the first error
    },
    checks: [
      { at: "4m", firing: [] },
      { at: "6m", firing: [{ alert: "AzPlatformFunctionErrors", labels: { function: "database", reason: "exception" } }] },
      { at: "16m", firing: [] },
    ],
  },
  {
    name: "an old error count stays quiet; a new error in the same series fires",
    series: {
      [calls("secret-rotation", "ok", B)]: `0+10x${N}`,
      [calls("secret-rotation", "error", B)]: `2x29 3x${N}`,
    },
    checks: [
      { at: "25m", firing: [] },
      { at: "31m", firing: [{ alert: "AzPlatformFunctionErrors", labels: { function: "secret-rotation", reason: "exception" } }] },
      { at: "45m", firing: [] },
    ],
  },
  {
    name: "a refused request (nested too deep) fires with function unknown and its reason, and clears after 10 minutes",
    series: {
      [calls("database", "ok", A)]: `0+100x${N}`,
      // Every reason is exported at 0 from the start; one request nested too deep at 8m.
      [refused("malformed", A)]: `0x${N}`,
      [refused("too_deep", A)]: `0x7 1x${N}`,
      [refused("too_large", A)]: `0x${N}`,
    },
    checks: [
      { at: "7m", firing: [] },
      { at: "9m", firing: [{ alert: "AzPlatformFunctionErrors", labels: { function: "unknown", reason: "too_deep" } }] },
      { at: "19m", firing: [] },
    ],
  },
  {
    name: "a replica whose first scrape already counts a refused request (too large) fires; refusals on two replicas fire once",
    series: {
      [refused("too_large", A)]: `_x5 1x${N}`,
      [refused("malformed", A)]: `_x5 0x5 1+1x${N}`,
      [refused("malformed", B)]: `0x11 1+1x${N}`,
      [refused("too_large", B)]: `0x${N}`,
    },
    checks: [
      { at: "4m", firing: [] },
      { at: "6m", firing: [{ alert: "AzPlatformFunctionErrors", labels: { function: "unknown", reason: "too_large" } }] },
      {
        at: "13m",
        firing: [
          { alert: "AzPlatformFunctionErrors", labels: { function: "unknown", reason: "too_large" } },
          { alert: "AzPlatformFunctionErrors", labels: { function: "unknown", reason: "malformed" } },
        ],
      },
      { at: "17m", firing: [{ alert: "AzPlatformFunctionErrors", labels: { function: "unknown", reason: "malformed" } }] },
    ],
  },
  {
    name: "Fatal results on 20% of calls do not fire",
    series: {
      [calls("database", "ok", A)]: `0+40x${N}`,
      [calls("database", "fatal", A)]: `0+10x${N}`,
      [calls("database", "ok", B)]: `0+40x${N}`,
      [calls("database", "fatal", B)]: `0+10x${N}`,
    },
    checks: [{ at: "45m", firing: [] }],
  },
  {
    name: "Fatal results on 30% of calls for 15 minutes fire",
    series: {
      [calls("secret-rotation", "ok", A)]: `0+35x${N}`,
      [calls("secret-rotation", "fatal", A)]: `0+15x${N}`,
      [calls("secret-rotation", "ok", B)]: `0+35x${N}`,
      [calls("secret-rotation", "fatal", B)]: `0+15x${N}`,
      [calls("database", "ok", A)]: `0+100x${N}`,
    },
    checks: [
      { at: "14m", firing: [] },
      { at: "20m", firing: [{ alert: "AzPlatformFunctionFatalResults", labels: { function: "secret-rotation" }, value: "30%" }] },
    ],
  },
  {
    name: "Database p99 of 2.2 s fires; secret-rotation at 28 s (real rotations) does not",
    series: {
      ...latency("database", A, [{ minutes: N, perMinute: { 0.004: 95, 2: 5 } }]),
      ...latency("secret-rotation", B, [{ minutes: N, perMinute: { 0.002: 9, 20: 1 } }]),
    },
    checks: [
      { at: "10m", firing: [] },
      { at: "20m", firing: [{ alert: "AzPlatformFunctionSlow", labels: { function: "database" }, value: "2.2s" }] },
    ],
  },
  {
    name: "p99 just under the thresholds (Database 0.9 s, secret-rotation 57 s) does not fire",
    series: {
      ...latency("database", A, [{ minutes: N, perMinute: { 0.004: 95, 0.8: 5 } }]),
      ...latency("secret-rotation", B, [{ minutes: N, perMinute: { 0.002: 9, 45: 1 } }]),
    },
    checks: [{ at: "45m", firing: [] }],
  },
  {
    name: "a burst of slow Database calls shorter than 15 minutes does not fire",
    series: latency("database", A, [
      { minutes: 5, perMinute: { 0.004: 100 } },
      { minutes: 1, perMinute: { 0.004: 90, 4: 10 } },
      { minutes: N, perMinute: { 0.004: 100 } },
    ]),
    checks: [
      { at: "10m", firing: [] },
      { at: "30m", firing: [] },
    ],
  },
  {
    name: "secret-rotation p99 of 113 s for 30 minutes fires",
    // 1 call in 12 takes 90 s: p99 = 60 + 60 * 0.88 = 112.8 s (not on a second boundary, so the rendering is exact)
    series: latency("secret-rotation", A, [{ minutes: N, perMinute: { 0.002: 11, 90: 1 } }]),
    checks: [
      { at: "25m", firing: [] },
      { at: "35m", firing: [{ alert: "AzPlatformFunctionSlowSecretRotation", labels: { function: "secret-rotation" }, value: "1m 52s" }] },
    ],
  },
];

// ---- Scrape health -----------------------------------------------------------------------------------------

const scrapeScenarios: Scenario[] = [
  {
    name: "no target at all (PodMonitor selects nothing): FunctionDown after 5 minutes",
    series: {},
    up: {},
    checks: [
      { at: "4m", firing: [] },
      { at: "6m", firing: [{ alert: "AzPlatformFunctionDown", labels: {} }] },
    ],
  },
  {
    name: "both replicas down: FunctionDown, not ReplicaDown",
    series: {},
    up: upSeries({ a: `0x${N}`, b: `0x${N}` }),
    checks: [{ at: "20m", firing: [{ alert: "AzPlatformFunctionDown", labels: {} }] }],
  },
  {
    name: "one replica down for 15 minutes: ReplicaDown names the pod",
    series: {},
    up: upSeries({ a: `1x${N}`, b: `1x4 0x${N}` }),
    checks: [
      { at: "19m", firing: [] },
      { at: "21m", firing: [{ alert: "AzPlatformFunctionReplicaDown", labels: { ...B, ...TARGET_NS } }] },
    ],
  },
  {
    name: "a replica down for 3 minutes (rolling update) raises nothing",
    series: {},
    up: upSeries({ a: `1x${N}`, b: `1x4 0x2 1x${N}` }),
    checks: [
      { at: "6m", firing: [] },
      { at: "30m", firing: [] },
    ],
  },
];

// ---- Calls stop --------------------------------------------------------------------------------------------

const H = 12; // 5-minute samples per hour
const notCalledScenarios: Scenario[] = [
  {
    name: "Database served all day, then no call for 2 hours: NotCalled",
    interval: "5m",
    series: { [calls("database", "ok", A)]: `0+50x${25 * H} ${50 * 25 * H}x${5 * H}` },
    up: upSeries({ a: `1x${30 * H}`, b: `1x${30 * H}` }),
    checks: [
      { at: "26h30m", firing: [] },
      { at: "27h20m", firing: [{ alert: "AzPlatformFunctionNotCalled", labels: { function: "database" } }] },
    ],
  },
  {
    name: "calls move to a new pod after a restart: no NotCalled",
    interval: "5m",
    series: {
      [calls("database", "ok", A)]: `0+50x${12 * H}`,
      [calls("database", "ok", B)]: `_x${12 * H} 1+50x${18 * H}`,
      // secret-rotation called about once an hour, idle rotations with the sync interval
      [calls("secret-rotation", "ok", B)]: `0x${6} 1x${H} 2x${H} 3x${H} 4x${H} 5x${H} 6x${H} 7x${H} 8x${H} 9x${H} 10x${H} 11x${H} 12x${H} 13x${H} 14x${H} 15x${H} 16x${H} 17x${H} 18x${H} 19x${H} 20x${H} 21x${H} 22x${H} 23x${H} 24x${H} 25x${H} 26x${H} 27x${H} 28x${H} 29x${H}`,
    },
    up: upSeries({ a: `1x${12 * H} _x${18 * H}`, b: `1x${30 * H}` }),
    checks: [
      { at: "26h", firing: [] },
      { at: "28h", firing: [] },
    ],
  },
];

export const SCENARIOS: Scenario[] = [...rotationScenarios, ...functionScenarios, ...scrapeScenarios, ...notCalledScenarios];
