// `render` on malformed input, as the real CLI process answers it: exit code 1 and one line on stderr naming the file,
// the line, the document and the field, never a stack trace. Each case writes its own small YAML files.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, it } from "vitest";
import { repoRoot } from "../support/schema.ts";

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "render-input-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (...ls: string[]) => `${ls.join("\n")}\n`;

const XR = lines(
  "apiVersion: example.org/v1", // 1
  "kind: App",
  "metadata:",
  "  name: shop",
  "  namespace: team-a", // 5
  "spec:",
  "  size: small",
);

/** A Composition for the XR; its first step starts on line 11. */
const composition = (...pipeline: string[]) =>
  lines(
    "apiVersion: apiextensions.crossplane.io/v1", // 1
    "kind: Composition",
    "metadata:",
    "  name: app",
    "spec:", // 5
    "  compositeTypeRef:",
    "    apiVersion: example.org/v1",
    "    kind: App",
    "  mode: Pipeline",
    "  pipeline:", // 10
    ...pipeline,
  );
const STEP = ["    - step: compose", "      functionRef:", "        name: function-other"];

/** A v1 Secret in crossplane-system; its data starts on line 7. */
const secret = (...data: string[]) => lines("apiVersion: v1", "kind: Secret", "metadata:", "  name: sp", "  namespace: crossplane-system", "data:", ...data);

/** A ConfigMap composed as "config" (lines 1 to 7), then whatever follows. */
const observed = (...more: string[]) =>
  lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: shop-config", "  namespace: team-a", "  annotations:", "    crossplane.io/composition-resource-name: config", ...more);

interface Case {
  /** Files besides xr.yaml and composition.yaml (which these replace). */
  files: Record<string, string>;
  /** After `render`; file names are in the case's folder. */
  args: string[];
  /** The one line on stderr after "function-azure-platform: ", starting with the file's name in the case's folder. */
  stderr: string;
}

const ARGS = ["xr.yaml", "composition.yaml"];

const cases: Record<string, Case> = {
  ObservedOwnerReferencesAMapping: {
    files: {
      "observed.yaml": observed("---", "apiVersion: v1", "kind: Secret", "metadata:", "  name: shop-db", "  namespace: team-a", "  annotations:", "    crossplane.io/composition-resource-name: db", "  ownerReferences:", "    controller: true"),
    },
    args: [...ARGS, "-o", "observed.yaml"],
    stderr: "observed.yaml:17: document 1 (Secret team-a/shop-db): metadata.ownerReferences must be a list",
  },
  ObservedControllerNotABoolean: {
    files: { "observed.yaml": observed("  ownerReferences:", "    - apiVersion: example.org/v1", "      kind: App", "      name: shop", "      uid: abc", '      controller: "yes"') },
    args: [...ARGS, "-o", "observed.yaml"],
    stderr: "observed.yaml:13: document 0 (ConfigMap team-a/shop-config): metadata.ownerReferences[0].controller must be true or false",
  },
  ObservedWithoutCompositionResourceName: {
    files: { "observed.yaml": lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: shop-config", "  namespace: team-a") },
    args: [...ARGS, "-o", "observed.yaml"],
    stderr: 'observed.yaml:4: document 0 (ConfigMap team-a/shop-config): metadata.annotations["crossplane.io/composition-resource-name"] is required',
  },
  ObservedConditionsAMapping: {
    files: { "observed.yaml": observed("status:", "  conditions:", '    Ready: "True"') },
    args: [...ARGS, "-o", "observed.yaml"],
    stderr: "observed.yaml:10: document 0 (ConfigMap team-a/shop-config): status.conditions must be a list",
  },
  ObservedSecretDataNotBase64: {
    files: { "observed.yaml": lines("apiVersion: v1", "kind: Secret", "metadata:", "  name: shop-db", "  namespace: team-a", "  annotations:", "    crossplane.io/composition-resource-name: db", "data:", "  password: hunter2!") },
    args: [...ARGS, "-o", "observed.yaml"],
    stderr: "observed.yaml:9: document 0 (Secret team-a/shop-db): data.password is not valid base64",
  },
  ObservedDocumentAScalar: {
    files: { "observed.yaml": observed("---", "just some text") },
    args: [...ARGS, "-o", "observed.yaml"],
    stderr: "observed.yaml:9: document 1: must be a mapping (a Kubernetes object), not a string",
  },
  StepCredentialsAMapping: {
    files: { "composition.yaml": composition(...STEP, "      credentials:", "        azure:", "          source: Secret") },
    args: ARGS,
    stderr: "composition.yaml:15: document 0 (Composition app): spec.pipeline[0].credentials must be a list",
  },
  StepCredentialSourceUnknown: {
    files: { "composition.yaml": composition(...STEP, "      credentials:", "        - name: azure", "          source: secret") },
    args: ARGS,
    stderr: "composition.yaml:16: document 0 (Composition app): spec.pipeline[0].credentials[0].source must be None or Secret",
  },
  StepWithoutFunctionRef: {
    files: { "composition.yaml": composition("    - step: compose", "      input:", "        apiVersion: example.org/v1") },
    args: ARGS,
    stderr: "composition.yaml:11: document 0 (Composition app): spec.pipeline[0].functionRef is required",
  },
  StepInputAString: {
    files: { "composition.yaml": composition(...STEP, "      input: compose everything") },
    args: ARGS,
    stderr: "composition.yaml:14: document 0 (Composition app): spec.pipeline[0].input must be a mapping",
  },
  PipelineAMapping: {
    files: { "composition.yaml": composition("    compose:", "      functionRef:", "        name: function-other") },
    args: ARGS,
    stderr: "composition.yaml:11: document 0 (Composition app): spec.pipeline must be a list",
  },
  CompositionOfAnotherKind: {
    files: {},
    args: ["xr.yaml", "xr.yaml"],
    stderr: "xr.yaml:2: document 0 (App team-a/shop): kind must be Composition",
  },
  XrAList: {
    files: { "xr.yaml": lines("- apiVersion: example.org/v1", "  kind: App") },
    args: ARGS,
    stderr: "xr.yaml:1: document 0: must be a mapping (a Kubernetes object), not a list",
  },
  XrWithoutName: {
    files: { "xr.yaml": lines("apiVersion: example.org/v1", "kind: App", "metadata:", "  namespace: team-a") },
    args: ARGS,
    stderr: "xr.yaml:4: document 0 (App team-a/(no name)): metadata.name is required",
  },
  XrConditionsAMapping: {
    files: { "xr.yaml": XR + lines("status:", "  conditions:", '    Ready: "True"') },
    args: ARGS,
    stderr: "xr.yaml:10: document 0 (App team-a/shop): status.conditions must be a list",
  },
  FunctionOfAnotherKind: {
    files: { "functions.yaml": lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: function-other") },
    args: [...ARGS, "functions.yaml"],
    stderr: "functions.yaml:2: document 0 (ConfigMap function-other): kind must be Function",
  },
  FunctionTargetNotAString: {
    files: {
      "functions.yaml": lines("apiVersion: pkg.crossplane.io/v1", "kind: Function", "metadata:", "  name: function-other", "  annotations:", "    render.crossplane.io/runtime: Development", "    render.crossplane.io/runtime-development-target: 9443"),
    },
    args: [...ARGS, "functions.yaml"],
    stderr: 'functions.yaml:7: document 0 (Function function-other): metadata.annotations["render.crossplane.io/runtime-development-target"] must be a string',
  },
  RequiredWithoutName: {
    files: { "required.yaml": lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  namespace: team-a") },
    args: [...ARGS, "-e", "required.yaml"],
    stderr: "required.yaml:4: document 0 (ConfigMap team-a/(no name)): metadata.name is required",
  },
  RequiredLabelsAList: {
    files: { "required.yaml": lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: settings", "  labels:", "    - team-a") },
    args: [...ARGS, "-e", "required.yaml"],
    stderr: "required.yaml:6: document 0 (ConfigMap settings): metadata.labels must be a mapping",
  },
  CredentialDataNotAString: {
    files: { "credentials.yaml": secret("  clientId: 5") },
    args: [...ARGS, "--function-credentials", "credentials.yaml"],
    stderr: "credentials.yaml:7: document 0 (Secret crossplane-system/sp): data.clientId must be a base64 string",
  },
  CredentialDataNotBase64: {
    files: { "credentials.yaml": secret("  clientId: aWQ=", "  clientSecret: not base64!") },
    args: [...ARGS, "--function-credentials", "credentials.yaml"],
    stderr: "credentials.yaml:8: document 0 (Secret crossplane-system/sp): data.clientSecret is not valid base64",
  },
  CredentialDataNotBase64WithServe: {
    files: { "credentials.yaml": secret("  clientId: aWQ") },
    args: [...ARGS, "--serve", "--function-credentials", "credentials.yaml"],
    stderr: "credentials.yaml:7: document 0 (Secret crossplane-system/sp): data.clientId is not valid base64",
  },
  CredentialOfAnotherKind: {
    files: { "credentials.yaml": lines("apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: sp", "  namespace: crossplane-system") },
    args: [...ARGS, "--function-credentials", "credentials.yaml"],
    stderr: "credentials.yaml:2: document 0 (ConfigMap crossplane-system/sp): kind must be Secret",
  },
};

describe("function-azure-platform render refuses malformed input with the file, the document and the field", () => {
  for (const [name, c] of Object.entries(cases)) {
    it.concurrent(name, async ({ expect }) => {
      const here = join(dir, name);
      mkdirSync(here);
      for (const [file, text] of Object.entries({ "xr.yaml": XR, "composition.yaml": composition(...STEP), ...c.files })) writeFileSync(join(here, file), text);
      const args = c.args.map((a) => (a.endsWith(".yaml") ? join(here, a) : a));
      const got = await exec(process.execPath, ["cli/main.ts", "render", ...args], { cwd: repoRoot }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      expect(got.stderr).not.toMatch(/^ {4}at /m);
      expect(got).toEqual({ code: 1, stdout: "", stderr: `function-azure-platform: ${here}/${c.stderr}\n` });
    });
  }
});

describe("function-azure-platform render finds the XR in a team's file and says what the XRD does not know", () => {
  const database = (...extra: string[]) =>
    lines("apiVersion: azplatform.io/v1alpha1", "kind: Database", "metadata:", "  name: orders", "  namespace: team-payments", "  labels: {azplatform.io/cost-center: cc-4711}", "spec:", "  team: payments", "  size: medium", ...extra);
  const deployment = lines("apiVersion: apps/v1", "kind: Deployment", "metadata: {name: api, namespace: team-payments}");
  const cases: Record<string, { file: string; code: number; stderr: (f: string) => string[]; stdoutStart?: string }> = {
    TheOneDatabaseAmongAnAppsDocumentsWithTypos: {
      file: `${deployment}---\n${database('  verison: "17"', "  storageGb: 64")}`,
      code: 0,
      stderr: (f) => [
        `render: ${f}: rendering document 1 (Database team-payments/orders); 1 other document(s) left out`,
        `render: warning: ${f}:14: spec.verison: unknown field "verison" (not in the Database XRD: the API server drops it, so the function never sees it)`,
        `render: warning: ${f}:15: spec.storageGb: unknown field "storageGb" (not in the Database XRD: the API server drops it, so the function never sees it)`,
      ],
      stdoutStart: "---\napiVersion: azplatform.io/v1alpha1\nkind: Database\n",
    },
    AValuesFile: {
      file: lines("replicaCount: 2", "image: {tag: v1}"),
      code: 2,
      stderr: (f) => [`function-azure-platform: ${f} holds a document without kind, not a Database or SecretRotation; render takes an XR (for another kind, pass the Composition that composes it)`],
    },
    TwoXrsInOneFile: {
      file: `${database()}---\n${database().replace("name: orders", "name: ledger")}`,
      code: 2,
      stderr: (f) => [`function-azure-platform: ${f} holds 2 XRs (Database team-payments/orders, Database team-payments/ledger); render takes one: give it a file of its own`],
    },
    OnlyOtherKinds: {
      file: `${deployment}---\n${deployment.replace("name: api", "name: worker")}`,
      code: 2,
      stderr: (f) => [`function-azure-platform: ${f} holds 2 documents and no Database or SecretRotation (Deployment team-payments/api, Deployment team-payments/worker); render takes one XR`],
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it.concurrent(name, async ({ expect }) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, c.file);
      const got = await exec(process.execPath, ["cli/main.ts", "render", file], { cwd: repoRoot }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      expect({ code: got.code, stderr: got.stderr.split("\n").filter((l) => l !== "") }).toEqual({ code: c.code, stderr: c.stderr(file) });
      expect(got.stdout.startsWith(c.stdoutStart ?? "")).toBe(true);
      if (c.stdoutStart === undefined) expect(got.stdout).toBe("");
    });
  }
});
