import { describe, expect, it } from "vitest";
import { rolloutAnnotation, rolloutValue, secretsOf } from "./consumers.ts";

describe("secretsOf", () => {
  const cases: Record<string, { spec: unknown; want: string[] }> = {
    EveryWayAPodReadsASecret: {
      spec: {
        volumes: [{ name: "a", secret: { secretName: "vol" } }, { name: "b", projected: { sources: [{ secret: { name: "proj" } }, { configMap: { name: "cm" } }] } }, { name: "c", emptyDir: {} }],
        initContainers: [{ name: "i", envFrom: [{ secretRef: { name: "init" } }] }],
        containers: [{ name: "c", env: [{ name: "X", valueFrom: { secretKeyRef: { name: "env", key: "k" } } }, { name: "Y", value: "plain" }], envFrom: [{ configMapRef: { name: "cm" } }, { secretRef: { name: "vol" } }] }],
        ephemeralContainers: [{ name: "debug", envFrom: [{ secretRef: { name: "eph" } }] }],
      },
      want: ["env", "eph", "init", "proj", "vol"],
    },
    NoPodSpec: { spec: undefined, want: [] },
    MalformedPartsAreSkipped: { spec: { volumes: "x", containers: [null, { env: [{ valueFrom: { secretKeyRef: { name: 7 } } }] }, { envFrom: [{ secretRef: { name: "ok" } }] }] }, want: ["ok"] },
  };
  for (const [name, { spec, want }] of Object.entries(cases)) it(name, () => expect(secretsOf(spec)).toEqual(want));
});

describe("rolloutAnnotation", () => {
  it("names the Secret after the prefix", () => expect(rolloutAnnotation("orders-app-db")).toBe("rotation.azplatform.io/orders-app-db"));
  it("keeps a long Secret name within the 63 characters of an annotation name, unique by hash", () => {
    const long = `${"a".repeat(60)}.example-secret`;
    const key = rolloutAnnotation(long);
    expect(key).toMatch(/^rotation\.azplatform\.io\/a{54}-[0-9a-f]{8}$/);
    expect(key.split("/")[1]?.length).toBe(63);
    expect(rolloutAnnotation(`${long}-2`)).not.toBe(key);
  });
  it("derives the value from the version", () => expect(rolloutValue(3)).toBe("v3"));
});
