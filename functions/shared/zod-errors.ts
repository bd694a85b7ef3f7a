import type { z } from "zod";

/** Formats a field path the way users write it: `spec.databases[1]`. */
export function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

export interface FieldProblem {
  /** `spec.databases[1]`; "" for the whole object. For an unknown field, the field itself. */
  path: string;
  message: string;
}

const isMissing = (issue: z.core.$ZodIssue) => issue.code === "invalid_type" && / received undefined$/.test(issue.message);

/**
 * One problem per field, in the words kubectl uses for the same mistake, so a PR check, the API server and the
 * function say it alike: a missing field is "Required value", an unknown one `unknown field "x"`.
 */
export function fieldProblems(prefix: string, error: z.ZodError): FieldProblem[] {
  return error.issues.flatMap((issue): FieldProblem[] => {
    const path = fieldPath(prefix, issue.path);
    if (issue.code === "unrecognized_keys") return issue.keys.map((k) => ({ path: fieldPath(path, [k]), message: `unknown field "${k}"` }));
    return [{ path, message: isMissing(issue) ? "Required value" : issue.message }];
  });
}

/** One clause per problem, each naming the field by its full path (an unknown field by the object holding it). */
export function describeIssues(prefix: string, error: z.ZodError): string {
  return error.issues
    .flatMap((issue) => {
      const path = fieldPath(prefix, issue.path);
      const at = (m: string) => (path === "" ? m : `${path}: ${m}`);
      if (issue.code === "unrecognized_keys") return issue.keys.map((k) => at(`unknown field "${k}"`));
      return [at(isMissing(issue) ? "Required value" : issue.message)];
    })
    .join("; ");
}
