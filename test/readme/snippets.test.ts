// README's YAML is what teams copy: every Database and SecretRotation in it must pass `validate` as it stands.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatFindings, validate } from "../../cli/validate.ts";
import { repoRoot } from "../support/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "readme-snippets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
const ours = blocks.filter((b) => /^kind: (Database|SecretRotation)$/m.test(b) && /^apiVersion: azplatform\.io\//m.test(b));

describe("README's Database and SecretRotation snippets", () => {
  it("there are some (a README without them would make this test vacuous)", () => {
    expect(ours.length).toBeGreaterThanOrEqual(2);
  });
  for (const [i, block] of ours.entries()) {
    const kind = /^kind: (\w+)$/m.exec(block)?.[1];
    it(`snippet ${i} (${kind}) passes validate against this package's Compositions`, async () => {
      const file = join(dir, `snippet-${i}.yaml`);
      writeFileSync(file, block);
      const report = await validate([file]);
      expect(formatFindings(report, "text")).toBe(`checked 1 ${kind}: 0 error(s), 0 warning(s)\n`);
    });
  }
});

describe("README's metrics table", () => {
  it("lists exactly the azplatform_* metrics the server exports", async () => {
    const { Metrics } = await import("../../functions/metrics.ts");
    const exported = (await new Metrics({ processMetrics: false }).registry.getMetricsAsJSON())
      .filter((m) => m.name.startsWith("azplatform_"))
      .map((m) => m.name)
      .sort();
    const section = readme.slice(readme.indexOf("## Metrics and alerts"));
    const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| metric |")));
    const listed = [...table.matchAll(/^\| `(azplatform_\w+)` \|/gm)].map((m) => m[1] ?? "").sort();
    expect(listed).toEqual(exported);
  });
});
