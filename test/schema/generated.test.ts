// The input CRD and the XRD are generated from the zod schemas the function enforces; they must not drift.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generated, render } from "../../scripts/manifests.ts";
import { repoRoot } from "../support/schema.ts";

describe("generated manifests are up to date (npm run manifests)", () => {
  for (const [file, doc] of Object.entries(generated)) {
    it(file, () => expect(readFileSync(join(repoRoot, file), "utf8")).toBe(render(doc)));
  }
});

type Node = Record<string, unknown>;

/** The rules of Kubernetes structural schemas that JSON-schema generators break (apiextensions "Specifying a structural schema"). */
function structuralProblems(node: Node, path: string): string[] {
  const out: string[] = [];
  const typed = typeof node.type === "string" || node["x-kubernetes-preserve-unknown-fields"] === true || node["x-kubernetes-int-or-string"] === true;
  if (!typed) out.push(`${path}: no type`);
  if (node.additionalProperties === false) out.push(`${path}: additionalProperties: false`);
  if (node.properties !== undefined && node.additionalProperties !== undefined) out.push(`${path}: properties and additionalProperties together`);
  for (const junction of ["anyOf", "oneOf", "allOf"] as const) {
    for (const [i, sub] of ((node[junction] as Node[] | undefined) ?? []).entries()) {
      for (const banned of ["type", "default", "description", "nullable", "additionalProperties"]) {
        if (banned in sub) out.push(`${path}.${junction}[${i}]: sets ${banned}`);
      }
    }
  }
  for (const [k, v] of Object.entries((node.properties as Record<string, Node> | undefined) ?? {})) out.push(...structuralProblems(v, `${path}.${k}`));
  if (typeof node.additionalProperties === "object") out.push(...structuralProblems(node.additionalProperties as Node, `${path}[*]`));
  if (node.items !== undefined) out.push(...structuralProblems(node.items as Node, `${path}[]`));
  return out;
}

describe("generated schemas are structural, as the API server requires", () => {
  for (const [file, doc] of Object.entries(generated)) {
    it(file, () => {
      const versions = (doc.spec as { versions: Array<{ name: string; schema: { openAPIV3Schema: Node } }> }).versions;
      expect(versions.flatMap((v) => structuralProblems(v.schema.openAPIV3Schema, v.name))).toEqual([]);
    });
  }
});
