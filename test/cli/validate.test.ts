// `validate` as a team's CI runs it: the real CLI process on sample PRs, good and bad, with the whole output.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/schema.ts";

const exec = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(process.execPath, ["cli/main.ts", ...args], { cwd: repoRoot }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const BAD = [
  'test/cli/prs/bad/databases.yaml:11: error: document 0 (Database team-billing/billing): spec.size: unsupported value "xlarge": supported values: "small", "medium", "large"',
  'test/cli/prs/bad/databases.yaml:12: error: document 0 (Database team-billing/billing): spec.sku: unknown field "sku"',
  // The example Composition routes alerts for team-payments only: another team's Database is refused until the DBAs add it.
  "test/cli/prs/bad/databases.yaml:18: error: document 1 (Database team-billing/ledger): metadata.namespace: team-billing has no action group in the DBA policy's alerts.actionGroups; every server's alerts must reach its team, so the DBA team must add one before Databases in team-billing can be composed",
  'test/cli/prs/bad/databases.yaml:24: error: document 1 (Database team-billing/ledger): spec.version "13" is not allowed; choose one of 15, 16, 17',
  'test/cli/prs/bad/databases.yaml:29: error: document 2 (Database team-billing/reports): metadata: label azplatform.io/cost-center is required by the DBA policy (tags.fromMetadata[0], Azure tag "cost-center"); add it to the Database',
  "test/cli/prs/bad/databases.yaml:30: error: document 2 (Database team-billing/reports): metadata.namespace: team-billing has no action group in the DBA policy's alerts.actionGroups; every server's alerts must reach its team, so the DBA team must add one before Databases in team-billing can be composed",
  "test/cli/prs/bad/databases.yaml:36: error: document 3 (Cache team-billing/sessions): kind: unknown kind azplatform.io/v1alpha1 Cache; this package defines azplatform.io/v1alpha1 Database and azplatform.io/v1alpha1 SecretRotation",
  "test/cli/prs/bad/rotations.yaml:9: error: document 0 (SecretRotation team-billing/billing-vault): spec.rotateEvery rotates every 1h; the policy allows at most one rotation every 24h",
  "test/cli/prs/bad/rotations.yaml:19: error: document 1 (SecretRotation team-billing/billing-both): spec: set exactly one of rotateEvery or schedule",
];

describe("function-azure-platform validate", () => {
  it.each([
    {
      name: "a good PR (a Database, a SecretRotation and the app's Deployment) passes",
      args: ["test/cli/prs/good"],
      code: 0,
      stdout: ["checked 1 Database, 1 SecretRotation (1 other document(s) not ours): 0 error(s), 0 warning(s)"],
    },
    {
      name: "a bad PR: schema errors (every one), policy refusals, an unknown kind; each with file, line, document and field",
      args: ["test/cli/prs/bad"],
      code: 1,
      stdout: [...BAD, "checked 1 Cache, 3 Database, 2 SecretRotation: 9 error(s), 0 warning(s)"],
    },
    {
      name: "a file that is not YAML is reported and the rest is still checked",
      args: ["test/cli/prs/broken", "test/cli/prs/good"],
      code: 1,
      stdout: [
        "test/cli/prs/broken/syntax.yaml:9: error: document 0: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 9, column 1",
        "checked 1 Database, 1 SecretRotation (1 other document(s) not ours): 1 error(s), 0 warning(s)",
      ],
    },
    {
      name: "YAML as kubectl reads it: a merge key merges, yes and on are true",
      args: ["test/cli/prs/yaml11"],
      code: 0,
      stdout: ["checked 2 Database: 0 error(s), 0 warning(s)"],
    },
    {
      name: "an alias to another document's anchor and an alias bomb are findings with their line, and the next document is still checked",
      args: ["test/cli/prs/aliases"],
      code: 1,
      stdout: [
        "test/cli/prs/aliases/databases.yaml:18: error: document 1: not valid YAML: alias *spec names no anchor of this document (an anchor in another document does not count, as in kubectl)",
        'test/cli/prs/aliases/databases.yaml:21: error: document 2: not valid YAML: more than 100 aliases expanded (nested aliases that multiply, as in a "billion laughs" bomb)',
        'test/cli/prs/aliases/databases.yaml:40: error: document 3 (Database team-payments/reports): spec.size: unsupported value "xlarge": supported values: "small", "medium", "large"',
        "checked 2 Database: 3 error(s), 0 warning(s)",
      ],
    },
    {
      name: "a tab-indented document does not hide the Database after it",
      args: ["test/cli/prs/onebroken"],
      code: 1,
      stdout: [
        "test/cli/prs/onebroken/app.yaml:7: error: document 0: not valid YAML: Tabs are not allowed as indentation at line 7, column 1",
        'test/cli/prs/onebroken/app.yaml:18: error: document 1 (Database team-payments/orders): spec.size: unsupported value "gigantic": supported values: "small", "medium", "large"',
        "checked 1 Database: 2 error(s), 0 warning(s)",
      ],
    },
    {
      name: "an XR without a namespace takes the one its kustomizations set (the outermost, as kustomize builds), and is then checked",
      args: ["test/cli/prs/kustomize"],
      code: 1,
      stdout: [
        'test/cli/prs/kustomize/apps/orders/database.yaml:10: error: document 0 (Database team-payments/orders): spec.size: unsupported value "xlarge": supported values: "small", "medium", "large"',
        "checked 1 Database (2 other document(s) not ours): 1 error(s), 0 warning(s)",
      ],
    },
    {
      name: "an XR with no namespace from anywhere is told where to set one",
      args: ["test/cli/prs/nonamespace"],
      code: 1,
      stdout: [
        "test/cli/prs/nonamespace/database.yaml:5: error: document 0 (Database orders): metadata.namespace: not set: a Database is namespaced; set it here, in a kustomization.yaml above this file (namespace:), or pass --namespace as your deployment does",
        "checked 1 Database: 1 error(s), 0 warning(s)",
      ],
    },
    {
      name: "--namespace gives it the one ArgoCD's destination would",
      args: ["--namespace", "team-payments", "test/cli/prs/nonamespace"],
      code: 0,
      stdout: ["checked 1 Database: 0 error(s), 0 warning(s)"],
    },
    {
      name: "every policy problem of one Database in one run, each at its field's line",
      args: ["test/cli/prs/manyproblems"],
      code: 1,
      stdout: [
        'test/cli/prs/manyproblems/database.yaml:12: error: document 0 (Database team-payments/orders): spec.version "14" is not allowed; choose one of 15, 16, 17',
        "test/cli/prs/manyproblems/database.yaml:13: error: document 0 (Database team-payments/orders): spec.highAvailability is not allowed for size small (SKU B_Standard_B2s); choose size medium or large, or set highAvailability: false",
        "checked 1 Database: 2 error(s), 0 warning(s)",
      ],
    },
    {
      name: "a policy-only PR is checked on its own, at the Composition's lines, in the function's words",
      args: ["test/cli/prs/policy"],
      code: 1,
      stdout: [
        "test/cli/prs/policy/composition.yaml:42: error: document 0 (Composition database-postgres): spec.pipeline[0].input.sizes.medium.skuName: is not a Flexible Server SKU the provider accepts (e.g. GP_Standard_D2ds_v5)",
        "test/cli/prs/policy/composition.yaml:49: error: document 0 (Composition database-postgres): spec.pipeline[0].input.highAvailability.allowedSizes: size small uses Burstable SKU B_Standard_B2s, which cannot run high availability",
        "checked 1 Composition: 2 error(s), 0 warning(s)",
      ],
    },
    {
      name: "a broken policy beside XRs is reported once, at the Composition, not again on every XR",
      args: ["test/cli/prs/policy", "test/cli/prs/good"],
      code: 1,
      stdout: [
        "test/cli/prs/policy/composition.yaml:42: error: document 0 (Composition database-postgres): spec.pipeline[0].input.sizes.medium.skuName: is not a Flexible Server SKU the provider accepts (e.g. GP_Standard_D2ds_v5)",
        "test/cli/prs/policy/composition.yaml:49: error: document 0 (Composition database-postgres): spec.pipeline[0].input.highAvailability.allowedSizes: size small uses Burstable SKU B_Standard_B2s, which cannot run high availability",
        "checked 1 Composition, 1 Database, 1 SecretRotation (1 other document(s) not ours): 2 error(s), 0 warning(s)",
      ],
    },
    {
      name: "a Composition in the PR replaces the package's of the same name: the XR is judged by the new policy alone",
      args: ["test/cli/prs/stricter"],
      code: 1,
      stdout: [
        'test/cli/prs/stricter/database.yaml:11: error: document 0 (Database team-payments/orders): spec.version "16" is not allowed; choose one of 17',
        "checked 1 Composition, 1 Database: 1 error(s), 0 warning(s)",
      ],
    },
    {
      name: "an application team's CI trusts only the platform's Compositions: a PR's own is an error, and its XRs are judged by the trusted ones",
      args: ["--only-trusted-compositions", "test/cli/prs/stricter"],
      code: 1,
      stdout: [
        "test/cli/prs/stricter/composition.yaml:4: error: document 0 (Composition database-postgres): a Composition in this PR is not used as policy (--only-trusted-compositions): the platform's Compositions are the policy; propose this change in their repository",
        "checked 1 Composition, 1 Database: 1 error(s), 0 warning(s)",
      ],
    },
    {
      name: "a values file and a JSON patch are not ours and are skipped; a misspelt group is not",
      args: ["test/cli/prs/mixed"],
      code: 1,
      stdout: [
        "test/cli/prs/mixed/typo.yaml:1: error: document 0 (Database team-payments/orders): apiVersion: unknown group in apiVersion azplatfrom.io/v1alpha1; a Database is azplatform.io/v1alpha1",
        "checked no documents of ours (2 other document(s) not ours): 1 error(s), 0 warning(s)",
      ],
    },
    {
      name: "GitHub annotations put each problem on the PR's line",
      args: ["--format", "github", "test/cli/prs/bad/rotations.yaml"],
      code: 1,
      stdout: [
        "::error file=test/cli/prs/bad/rotations.yaml,line=9,title=SecretRotation team-billing/billing-vault::document 0: spec.rotateEvery rotates every 1h; the policy allows at most one rotation every 24h",
        "::error file=test/cli/prs/bad/rotations.yaml,line=19,title=SecretRotation team-billing/billing-both::document 1: spec: set exactly one of rotateEvery or schedule",
        "checked 2 SecretRotation: 2 error(s), 0 warning(s)",
      ],
    },
    {
      name: "a platform PR: step inputs against our input CRDs, credentials the policy names, and Crossplane's CRDs when asked",
      args: ["test/cli/prs/platform", "--crossplane-crds", "../shared/reference/crossplane/crds"],
      code: 1,
      stdout: [
        "test/cli/prs/platform/composition.yaml:14: error: document 0 (Composition secret-rotation-staging): spec.pipeline[0].step: Required value",
        'test/cli/prs/platform/composition.yaml:34: error: document 0 (Composition secret-rotation-staging): spec.pipeline[0].input.maxParallel: unknown field "maxParallel"',
        'test/cli/prs/platform/composition.yaml:36: error: document 0 (Composition secret-rotation-staging): spec.pipeline[0].input.credentials.azure: names the credential "azure", which step 0 does not declare (declared: azure-sp)',
        "checked 1 Composition: 3 error(s), 0 warning(s)",
      ],
    },
    {
      name: "XRs are checked against the Compositions given, not only this package's",
      args: ["test/cli/prs/good", "--compositions", "test/cli/prs/platform"],
      code: 1,
      stdout: [
        "test/cli/prs/good/apps/orders/database.yaml:2: error: document 0 (Database team-payments/orders): no Composition composes azplatform.io/v1alpha1 Database; pass --compositions with the DBA team's Compositions",
        'test/cli/prs/good/apps/orders/database.yaml:14: error: document 1 (SecretRotation team-payments/orders-app-password): the Composition\'s SecretRotationPolicy input is invalid: unknown field "maxParallel"',
        "checked 1 Database, 1 SecretRotation (1 other document(s) not ours): 2 error(s), 0 warning(s)",
      ],
    },
  ])("$name", async ({ args, code, stdout }) => {
    const r = await cli("validate", ...args);
    expect({ code: r.code, stdout: r.stdout.split("\n").filter((l) => l !== ""), stderr: r.stderr }).toEqual({ code, stdout, stderr: "" });
  });

  it("this repository's own examples, Compositions and XRDs pass, Crossplane's CRDs included", async () => {
    const r = await cli("validate", "examples", "compositions", "xrds", "--crossplane-crds", "../shared/reference/crossplane/crds");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toMatch(/^checked 2 CompositeResourceDefinition, 2 Composition, .*1 Database, 1 DeploymentRuntimeConfig, 2 Function, 2 SecretRotation.*: 0 error\(s\), 0 warning\(s\)\n$/);
  });

  it.each([
    { args: ["validate", "no-such-dir"], stderr: "function-azure-platform: cannot read no-such-dir: ENOENT\n" },
    { args: ["validate", "--format", "json", "examples"], stderr: 'function-azure-platform: --format must be text or github, got "json"\n' },
    { args: ["frobnicate"], stderrStart: 'function-azure-platform: unknown command "frobnicate"' },
    { args: ["validate", "--no-such-flag", "x"], stderrStart: "function-azure-platform: Unknown option '--no-such-flag'" },
    { args: ["render", "examples/database/xr.yaml", "compositions/secret-rotation.yaml"], code: 1, stderr: "function-azure-platform: the Composition secret-rotation composes azplatform.io/v1alpha1 SecretRotation, not azplatform.io/v1alpha1 Database\n" },
  ])("usage errors exit 2 (or 1 for a wrong Composition) with one clear line: $args", async ({ args, stderr, stderrStart, code }) => {
    const r = await cli(...args);
    expect(r.code).toBe(code ?? 2);
    expect(r.stdout).toBe("");
    if (stderr !== undefined) expect(r.stderr).toBe(stderr);
    else expect(r.stderr.startsWith(stderrStart ?? "")).toBe(true);
  });
});
