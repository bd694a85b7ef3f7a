// The requests the benchmark and the profiler send: a Database XR with its observed resources (realistic size), and
// a SecretRotation that is not due.
import type { JsonObject, PlainRequest } from "../test/support/proto-client.ts";
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

