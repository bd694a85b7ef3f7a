// The requests the benchmark and the profiler send: a Database XR with its observed resources (realistic size), and
// a SecretRotation that is not due; and the load both drive with them.
import type { JsonObject, PlainRequest, RunFunctionClient } from "../test/support/proto-client.ts";
import { readDocs } from "../cli/yaml.ts";

const [xr] = readDocs("examples/database/xr.yaml") as JsonObject[];
const [composition] = readDocs("compositions/database-postgres.yaml") as JsonObject[];
const observed = readDocs("examples/database/observed.yaml") as JsonObject[];
const dbInput = ((composition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
const resources = Object.fromEntries(observed.map((r) => [((r.metadata as JsonObject).annotations as Record<string, string>)["crossplane.io/composition-resource-name"], { resource: r }]));
export const database: PlainRequest = { meta: { tag: "bench" }, observed: { composite: { resource: xr as JsonObject }, resources }, input: dbInput };

const [rotationComposition] = readDocs("compositions/secret-rotation.yaml") as JsonObject[];
const rotationInput = ((rotationComposition?.spec as JsonObject).pipeline as JsonObject[])[0]?.input as JsonObject;
const [rotationXr] = readDocs("examples/secret-rotation/database-admin.yaml") as JsonObject[];
const rotationIdle: PlainRequest = {
  meta: { tag: "bench" },
  observed: {
    composite: {
      resource: {
        ...(rotationXr as JsonObject),
        status: { phase: "Idle", currentVersion: 3, lastRotatedAt: new Date().toISOString(), nextRotationAt: new Date(Date.now() + 20 * 86_400_000).toISOString(), schedule: "720h" },
      },
    },
  },
  input: rotationInput,
  credentials: { azure: { credentialData: { data: { clientId: Buffer.from("c"), clientSecret: Buffer.from("s"), tenantId: Buffer.from("t") } } } },
};
export const scenarios: Record<string, PlainRequest> = { database, rotation_idle: rotationIdle };

/**
 * The same SecretRotation never rotated, so due, with the Database it names as Crossplane passes it: the server
 * loads its Kubernetes, PostgreSQL and Azure adapters for it, as for the first rotation in a cluster.
 */
export const rotationDue: PlainRequest = {
  ...rotationIdle,
  meta: { tag: "bench-due" },
  observed: { composite: { resource: rotationXr as JsonObject } },
  requiredResources: {
    "database-orders": {
      items: [
        {
          resource: {
            apiVersion: "azplatform.io/v1alpha1",
            kind: "Database",
            metadata: { name: "orders", namespace: "team-payments" },
            status: { serverName: "pg-payments-orders-prod-edfe87", resourceGroupName: "rg-data-prod", connectionSecretName: "orders-db", adminSecretName: "orders-db-admin" },
          },
        },
      ],
    },
  },
};

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export interface Run {
  /** Each call's latency in milliseconds, in the order they finished. */
  latencies: number[];
  seconds: number;
}

/** `calls` calls over `concurrency` workers; refuses a Fatal result, so a broken request is never what is measured. */
export async function load(client: RunFunctionClient, req: PlainRequest, calls: number, concurrency: number): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      const t = process.hrtime.bigint();
      const rsp = await client.runFunction(req, { deadlineMs: 30_000 });
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (rsp.results?.some((r) => r.severity === "SEVERITY_FATAL")) throw new Error(`fatal result: ${rsp.results[0]?.message}`);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Percentiles of the runs' latencies taken together, and their calls per second of the time they took. */
export function summarize(runs: Run[]) {
  const lat = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  return { p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99), throughput: seconds === 0 ? 0 : lat.length / seconds };
}
