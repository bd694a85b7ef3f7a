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
