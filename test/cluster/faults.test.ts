// SecretRotation under faults, against the real API server, a real PostgreSQL and the Azure stand-in: two replicas of
// this project's server driven the way Crossplane core drives them, with replies lost, calls given up and repeated,
// processes paused and killed, Kubernetes and Azure requests landing late or answered into a closed connection, the
// state Secret deleted and old values applied by someone else. The harness (test/faults/) checks the product's
// promises all along: apps can always log in, Key Vault follows the app Secret, one new value per trigger, no value
// in any log or answer, and a rest once the faults stop. FAULT_SEED and FAULT_SECONDS pick the schedule and its length
// (test/faults/config.ts).
import { afterAll, describe, expect, it } from "vitest";
import { faultConfig } from "../faults/config.ts";
import { runFaultHarness } from "../faults/harness.ts";
import { stopAllServers } from "../support/server-process.ts";
import { cluster } from "./context.ts";

const config = faultConfig();
const { info, admin } = cluster();
// Start-up of PostgreSQL and the replicas, the settle bound, and room for the replicas to stop.
const timeoutMs = config.faultSeconds * 1000 + config.bounds.settleMs + 120_000;

afterAll(stopAllServers);

describe(`SecretRotation under faults (FAULT_SEED=${config.seed}, FAULT_SECONDS=${config.faultSeconds})`, () => {
  it("keeps its promises: apps always log in, nothing lost, one new value per trigger, no value leaked", async () => {
    const { text, violations } = await runFaultHarness(info, admin, config);
    process.stderr.write(`${text}\n`);
    expect(violations, text).toBe(0);
  }, timeoutMs);
});
