// Picks the handler by the kind of the pipeline step's input, so one image serves every function of the package.
import type { RunFunctionRequest, RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { runDatabase } from "./database/fn.ts";
import { POLICY_API_VERSION, POLICY_KIND } from "./database/policy.ts";
import { runDueRotations } from "./operations/due-rotations.ts";
import { DUE_ROTATIONS_POLICY_KIND, ROLLOUT_POLICY_KIND } from "./operations/policy.ts";
import { runRollout } from "./operations/rollout.ts";
import { connect } from "./secret-rotation/connect.ts";
import { runSecretRotation } from "./secret-rotation/fn.ts";
import { ROTATION_POLICY_KIND } from "./secret-rotation/policy.ts";
import { fatalResponse } from "./shared/results.ts";

/** `signal` fires when the caller (Crossplane) gives up on the call. */
export type Handler = (req: RunFunctionRequest, signal?: AbortSignal) => RunFunctionResponse | Promise<RunFunctionResponse>;

export const handlers: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  [`${POLICY_API_VERSION}/${POLICY_KIND}`, (req) => runDatabase(req)],
  [`${POLICY_API_VERSION}/${ROTATION_POLICY_KIND}`, (req, signal) => runSecretRotation(req, { now: () => new Date(), connect, ...(signal !== undefined ? { signal } : {}) })],
  [`${POLICY_API_VERSION}/${ROLLOUT_POLICY_KIND}`, (req) => runRollout(req)],
  [`${POLICY_API_VERSION}/${DUE_ROTATIONS_POLICY_KIND}`, (req) => runDueRotations(req, { now: () => new Date() })],
]);

const served = [...handlers.keys()].map((k) => {
  const i = k.lastIndexOf("/");
  return `${k.slice(i + 1)} (${k.slice(0, i)})`;
});

export function inputKind(req: RunFunctionRequest): string | undefined {
  const input = req.input;
  if (input === undefined || input === null) return undefined;
  const apiVersion: unknown = input.apiVersion;
  const kind: unknown = input.kind;
  return typeof apiVersion === "string" && typeof kind === "string" ? `${apiVersion}/${kind}` : "";
}

export async function route(req: RunFunctionRequest, signal?: AbortSignal): Promise<RunFunctionResponse> {
  const kind = inputKind(req);
  if (kind === undefined) {
    return fatalResponse(req, "MissingInput", `the pipeline step has no input; set input to one of: ${served.join(", ")}`);
  }
  const handler = handlers.get(kind);
  if (handler === undefined) {
    const shown = kind === "" ? "an input without apiVersion and kind" : `input ${kind}`;
    return fatalResponse(req, "UnknownInput", `this function does not serve ${shown}; set input to one of: ${served.join(", ")}`);
  }
  return handler(req, signal);
}
