// The settle phase: faults have stopped, the drivers keep calling, and every rotation must come to rest within the
// bound: the last reply says Idle with every trigger handled, the state Secret says Idle, and the app Secret logs in.
// A back-off still running is cut short (in the last status and in the state Secret, as if its time had passed), so a
// short run need not wait out 30 s or more for a retry the faults caused.
import { A } from "../../functions/secret-rotation/state.ts";
import type { Kube } from "../cluster/kube.ts";
import type { Checker } from "./checker.ts";
import type { RotationDriver } from "./driver.ts";
import { readSecret } from "./read-secret.ts";
import type { ValueBook } from "./values.ts";
import type { RotationUnderTest } from "./world.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface SettleParts {
  admin: Kube;
  checker: Checker;
  book: ValueBook;
  rotations: { rotation: RotationUnderTest; driver: RotationDriver }[];
  boundMs: number;
}

/** Waits until every rotation is at rest, at most `boundMs`; returns how long it took and what is not at rest. */
export async function settle(parts: SettleParts): Promise<{ ms: number; unsettled: { xr: string; why: string }[] }> {
  const started = Date.now();
  for (;;) {
    const unsettled: { xr: string; why: string }[] = [];
    for (const { rotation, driver } of parts.rotations) {
      driver.skipBackoff();
      const why = await notAtRest(parts, rotation, driver);
      if (why !== undefined) unsettled.push({ xr: rotation.name, why });
    }
    const ms = Date.now() - started;
    if (unsettled.length === 0 || ms > parts.boundMs) return { ms, unsettled };
    await sleep(500);
  }
}

async function notAtRest(parts: SettleParts, rotation: RotationUnderTest, driver: RotationDriver): Promise<string | undefined> {
  const ref = { apiVersion: "v1", kind: "Secret", namespace: rotation.namespace, name: `${rotation.name}-rotation-state` };
  const state = await readSecret(parts.admin, rotation.namespace, ref.name);
  const annotations = state?.annotations ?? {};
  const retryAt = annotations[A.retryAt];
  if (retryAt !== undefined && new Date(retryAt) > new Date()) await parts.admin.mergePatch(ref, { metadata: { annotations: { [A.retryAt]: new Date().toISOString() } } });
  const status = driver.lastStatus();
  // A deleted state Secret stays deleted while the status says nothing is due (the function then reads nothing).
  const statePhase = state === undefined ? "Idle" : annotations[A.phase];
  const problems = [
    driver.atRest() ? undefined : `last reply: phase ${String(status?.phase ?? "none")}, ${driver.causesHandled().length} of ${driver.causesIssued().length} rotations asked for handled`,
    statePhase === "Idle" ? undefined : `state Secret: phase ${statePhase ?? "none"}`,
    parts.checker.logsIn(rotation.name) ? undefined : "the app Secret does not log in",
  ].filter((p): p is string => p !== undefined);
  if (problems.length === 0) return undefined;
  const lastError = typeof status?.lastError === "string" ? `; last error: ${parts.book.redact(status.lastError)}` : "";
  return `${problems.join("; ")}${lastError}`;
}
