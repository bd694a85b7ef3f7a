// Every fault the harness can inject, with its rate, and the bounds the invariants allow: the one place to tune a run.
//
//   FAULT_SEED=<n>          the PRNG seed (default 1); a failing run prints it
//   FAULT_SECONDS=<n>       how long faults are injected (default 60; long runs: 600 or more)
//   FAULT_ONLY=a,b          only these kinds (to find which fault breaks an invariant)
//   FAULT_OFF=a,b | all     these kinds off; `all` runs the same load with no fault (the harness's own baseline)

/** What a rate counts per: a RunFunction call, a proxied HTTP request, or a second of the run (per replica or XR). */
type Per = "call" | "request" | "second";

export interface FaultKind {
  on: boolean;
  /** Probability per `per`. */
  rate: number;
  per: Per;
  what: string;
}

const kinds = {
  giveUp: { rate: 0.1, per: "call", what: "the driver stops waiting (giveUpAfterMs) while the server keeps working" },
  dropReply: { rate: 0.1, per: "call", what: "the reply arrives but is ignored: its status is not fed back" },
  duplicateCall: { rate: 0.1, per: "call", what: "the same request goes to both replicas at once" },
  replayOldCall: { rate: 0.05, per: "call", what: "an older request (stale status, old trigger) is sent again; its reply is ignored" },
  pauseReplica: { rate: 0.04, per: "second", what: "SIGSTOP a replica for pauseMs, then SIGCONT" },
  killReplica: { rate: 0.015, per: "second", what: "SIGKILL a replica, then start it again" },
  kubeDelayWrite: { rate: 0.1, per: "request", what: "a Kubernetes write is forwarded after kubeDelayMs: it lands late" },
  kubeHoldRead: { rate: 0.1, per: "request", what: "a Kubernetes read is answered kubeDelayMs after the API server answered" },
  kubeLoseReply: { rate: 0.04, per: "request", what: "a Kubernetes request is applied, then the client's connection is closed" },
  azureDelay: { rate: 0.15, per: "request", what: "a Key Vault or ARM request is handled after azureDelayMs" },
  azureLoseReply: { rate: 0.08, per: "request", what: "a Key Vault or ARM request is applied, then the connection is closed" },
  deleteState: { rate: 0.005, per: "second", what: "the admin deletes the state Secret <xr>-rotation-state" },
  outsideWrite: { rate: 0.005, per: "second", what: "another field manager force-applies an old value into the app Secret's key" },
} satisfies Record<string, Omit<FaultKind, "on">>;

export type FaultKindName = keyof typeof kinds;
const FAULT_KIND_NAMES = Object.keys(kinds) as FaultKindName[];

export interface FaultConfig {
  seed: number;
  faultSeconds: number;
  kinds: Record<FaultKindName, FaultKind>;
  durations: {
    giveUpAfterMs: [number, number];
    pauseMs: [number, number];
    kubeDelayMs: [number, number];
    azureDelayMs: [number, number];
    /** After a trigger is handled, the driver waits this long before the next one. */
    triggerGapMs: [number, number];
    /** The driver's deadline for a call it does not give up on. */
    callDeadlineMs: number;
  };
  bounds: {
    /** How long the app Secret's credentials may fail to log in; `single` has a window by design, alternating none. */
    loginWindowMs: { single: number; alternating: number };
    /** How long Key Vault's latest version may differ from the app Secret (it is written after the app Secret). */
    vaultLagMs: number;
    /**
     * How long an old value forced into the app Secret by another writer may stay: the policy's driftCheckEvery
     * (scenario.ts: 5 s) plus the calls' interval and a write held up by the faults.
     */
    driftRepairMs: number;
    /** How long the rotations may take to come to rest once the faults stop. */
    settleMs: number;
  };
  checkEveryMs: number;
}

function namesIn(variable: string, env: NodeJS.ProcessEnv): Set<string> | undefined {
  const text = env[variable];
  if (text === undefined || text === "") return undefined;
  const names = new Set(text.split(",").map((n) => n.trim()));
  const unknown = [...names].filter((n) => n !== "all" && !(FAULT_KIND_NAMES as string[]).includes(n));
  if (unknown.length > 0) throw new Error(`${variable}: unknown fault kind(s) ${unknown.join(", ")}; known: ${FAULT_KIND_NAMES.join(", ")}`);
  return names;
}

function positive(variable: string, env: NodeJS.ProcessEnv, fallback: number): number {
  const text = env[variable];
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${variable}=${text} is not a whole number`);
  return n;
}

export function faultConfig(env = process.env): FaultConfig {
  const only = namesIn("FAULT_ONLY", env);
  const off = namesIn("FAULT_OFF", env);
  const isOn = (name: string) => (only === undefined || only.has(name)) && !(off?.has(name) || off?.has("all"));
  return {
    seed: positive("FAULT_SEED", env, 1),
    faultSeconds: positive("FAULT_SECONDS", env, 60),
    kinds: Object.fromEntries(Object.entries(kinds).map(([name, k]) => [name, { ...k, on: isOn(name) }])) as Record<FaultKindName, FaultKind>,
    durations: {
      giveUpAfterMs: [100, 3_000],
      pauseMs: [300, 5_000],
      kubeDelayMs: [300, 3_000],
      azureDelayMs: [300, 3_000],
      triggerGapMs: [1_500, 5_000],
      callDeadlineMs: 20_000,
    },
    bounds: {
      // A pause (5 s) plus a late write (3 s) each way between setting the role and promoting the value, and margin.
      loginWindowMs: { single: 15_000, alternating: 0 },
      vaultLagMs: 15_000,
      driftRepairMs: 15_000,
      settleMs: 20_000,
    },
    checkEveryMs: 100,
  };
}
