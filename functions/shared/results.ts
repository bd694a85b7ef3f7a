// Results and conditions with a target and a reason, which the SDK's normal/warning/fatal helpers omit.
import {
  Severity,
  Status,
  Target,
  type Condition,
  type Result,
  type RunFunctionRequest,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";

export function result(severity: "Fatal" | "Warning" | "Normal", reason: string, message: string): Result {
  const s =
    severity === "Fatal"
      ? Severity.SEVERITY_FATAL
      : severity === "Warning"
        ? Severity.SEVERITY_WARNING
        : Severity.SEVERITY_NORMAL;
  return { severity: s, message, reason, target: Target.TARGET_COMPOSITE };
}

export function condition(type: string, status: boolean, reason: string, message: string): Condition {
  return {
    type,
    status: status ? Status.STATUS_CONDITION_TRUE : Status.STATUS_CONDITION_FALSE,
    reason,
    message,
    target: Target.TARGET_COMPOSITE,
  };
}

export const DEFAULT_TTL = { seconds: 60, nanos: 0 };

/**
 * A response that leaves the pipeline's desired state exactly as it came in and reports one Fatal result.
 * Crossplane discards desired state on Fatal, so nothing the earlier steps built is half-applied.
 */
export function fatalResponse(req: RunFunctionRequest, reason: string, message: string): RunFunctionResponse {
  return {
    meta: { tag: req.meta?.tag ?? "", ttl: DEFAULT_TTL },
    desired: req.desired ?? { composite: undefined, resources: {} },
    results: [result("Fatal", reason, message)],
    conditions: [],
    requirements: undefined,
    context: req.context,
  };
}
