// The durable state of a SecretRotation: one Secret in its namespace, written only with compare-and-swap on
// resourceVersion, so every replica of the function sees the same phase and no two write conflicting steps.
// It is a cache of what the targets and the app Secret say, plus the one thing only it holds: the pending value
// between Begin and Promote. Lost, it is rebuilt from the app Secret and the role's fence (engine.ts recover()).
import { OWNED_KEYS, ROTATED_BY, ROTATION_VERSION } from "../shared/rotation-contract.ts";
import type { SecretView } from "./ports.ts";

export type Phase = "Idle" | "Pending" | "Set" | "Tested" | "Promoted" | "Rolled";
export const PHASES: readonly Phase[] = ["Idle", "Pending", "Set", "Tested", "Promoted", "Rolled"];
/** How many handled manual triggers are remembered, so a stale call can never run one again. */
export const HANDLED_TRIGGERS_KEPT = 32;

export interface RotationState {
  resourceVersion: string | undefined;
  phase: Phase;
  /** Version of the value apps read; 0 until the first rotation. */
  version: number;
  current: string | undefined;
  currentUser: string | undefined;
  previous: string | undefined;
  previousUser: string | undefined;
  pending: string | undefined;
  pendingUser: string | undefined;
  rotationId: string | undefined;
  lastRotatedAt: string | undefined;
  /** The most recent manual triggers handled, newest last. */
  handledTriggers: string[];
  /** When the app Secret and Key Vault were last compared with the current value. */
  verifiedAt: string | undefined;
  /** Keys of the app Secret the rotation owns (the value, values derived from it, the username when alternating). */
  ownedKeys: string[];
  failures: number;
  lastError: string | undefined;
  retryAt: string | undefined;
  /** The deleted SecretRotation (a name in this namespace) whose Secret and role this one took over. */
  tookOverFrom: string | undefined;
}

export const A = {
  phase: "rotation.azplatform.io/phase",
  version: ROTATION_VERSION,
  rotationId: "rotation.azplatform.io/rotation-id",
  lastRotatedAt: "rotation.azplatform.io/last-rotated-at",
  handledTriggers: "rotation.azplatform.io/handled-triggers",
  verifiedAt: "rotation.azplatform.io/verified-at",
  ownedKeys: OWNED_KEYS,
  failures: "rotation.azplatform.io/failures",
  lastError: "rotation.azplatform.io/last-error",
  retryAt: "rotation.azplatform.io/retry-at",
  /** On the app Secret: which SecretRotation manages it. The Database function stops writing owned keys then. */
  rotatedBy: ROTATED_BY,
  /** On the app Secret: the manual trigger its value answered, so a lost state never runs it again. */
  lastTrigger: "rotation.azplatform.io/last-trigger",
  /** On both: the deleted SecretRotation this one succeeded on the Secret; its fence on the role may be replaced. */
  tookOverFrom: "rotation.azplatform.io/took-over-from",
} as const;

export const STATE_LABEL = "rotation.azplatform.io/state-of";
export const stateSecretName = (xrName: string) => `${xrName}-rotation-state`;

const DATA_FIELDS = ["current", "currentUser", "previous", "previousUser", "pending", "pendingUser"] as const;

export function emptyState(): RotationState {
  return {
    resourceVersion: undefined,
    phase: "Idle",
    version: 0,
    current: undefined,
    currentUser: undefined,
    previous: undefined,
    previousUser: undefined,
    pending: undefined,
    pendingUser: undefined,
    rotationId: undefined,
    lastRotatedAt: undefined,
    handledTriggers: [],
    verifiedAt: undefined,
    ownedKeys: [],
    failures: 0,
    lastError: undefined,
    retryAt: undefined,
    tookOverFrom: undefined,
  };
}

export function fromSecret(s: SecretView): RotationState {
  const a = s.annotations;
  const phase = PHASES.find((p) => p === a[A.phase]) ?? "Idle";
  const state: RotationState = {
    ...emptyState(),
    resourceVersion: s.resourceVersion,
    phase,
    version: Number(a[A.version] ?? 0) || 0,
    rotationId: a[A.rotationId],
    lastRotatedAt: a[A.lastRotatedAt],
    handledTriggers: parseList(a[A.handledTriggers]),
    verifiedAt: a[A.verifiedAt],
    ownedKeys: (a[A.ownedKeys] ?? "").split(",").filter((k) => k !== ""),
    failures: Number(a[A.failures] ?? 0) || 0,
    lastError: a[A.lastError],
    retryAt: a[A.retryAt],
    tookOverFrom: a[A.tookOverFrom],
  };
  for (const f of DATA_FIELDS) state[f] = s.data[f];
  return state;
}

export function toSecret(state: RotationState): { data: Record<string, string>; annotations: Record<string, string> } {
  const data: Record<string, string> = {};
  for (const f of DATA_FIELDS) {
    const v = state[f];
    if (v !== undefined) data[f] = v;
  }
  const annotations: Record<string, string> = { [A.phase]: state.phase, [A.version]: String(state.version) };
  const put = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== "") annotations[k] = v;
  };
  put(A.rotationId, state.rotationId);
  put(A.lastRotatedAt, state.lastRotatedAt);
  if (state.handledTriggers.length > 0) annotations[A.handledTriggers] = JSON.stringify(state.handledTriggers.slice(-HANDLED_TRIGGERS_KEPT));
  put(A.verifiedAt, state.verifiedAt);
  put(A.ownedKeys, state.ownedKeys.join(","));
  if (state.failures > 0) annotations[A.failures] = String(state.failures);
  put(A.lastError, state.lastError);
  put(A.retryAt, state.retryAt);
  put(A.tookOverFrom, state.tookOverFrom);
  return { data, annotations };
}

/** Triggers are any annotation value a user writes: kept as a JSON list, and an unreadable one as none. */
function parseList(text: string | undefined): string[] {
  try {
    const v: unknown = JSON.parse(text ?? "[]");
    return Array.isArray(v) ? v.filter((t): t is string => typeof t === "string") : [];
  } catch {
    return [];
  }
}

export const lastTrigger = (s: RotationState): string | undefined => s.handledTriggers[s.handledTriggers.length - 1];
