// One fault run, start to end: the systems (the Azure stand-in with its fault hook, a real PostgreSQL over TLS, the
// fault proxy in front of the real API server), the world, two replicas, then the drivers, the checker, the process
// chaos and the meddlers for `faultSeconds`; then faults stop, the rotations settle, the end is checked, values are
// looked for in every text, and the report is written. Everything started here is stopped here, whatever happens.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ClusterInfo } from "../cluster/context.ts";
import type { Kube } from "../cluster/kube.ts";
import { startAzureFake, type AzureFake } from "../servers/azure/index.ts";
import { makeTestPki, type TestPki } from "../support/certs.ts";
import { writeKubeconfig } from "../support/kubeconfig.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { ProcessChaos } from "./chaos.ts";
import { Checker, type Watched } from "./checker.ts";
import type { FaultConfig } from "./config.ts";
import { RotationDriver } from "./driver.ts";
import { startKubeFaultProxy } from "./kube-proxy.ts";
import { findLeaks } from "./leaks.ts";
import { Meddlers } from "./meddlers.ts";
import { FaultPlan, type HttpFault } from "./plan.ts";
import { Random } from "./random.ts";
import { RunRecord, seconds } from "./record.ts";
import { Replicas } from "./replicas.ts";
import { formatReport, summarize, writeReport, type FaultReport } from "./report.ts";
import { policyInput } from "./scenario.ts";
import { settle } from "./settle.ts";
import { ValueBook } from "./values.ts";
import { Violations } from "./violations.ts";
import { buildWorld, type RotationUnderTest } from "./world.ts";

const NAMESPACE = "faults";

/** What every part of a run shares: the schedule, the record of faults, the values seen, the violations found. */
interface Run {
  config: FaultConfig;
  random: Random;
  plan: FaultPlan;
  record: RunRecord;
  book: ValueBook;
  violations: Violations;
  /** Stops what was started, last first. */
  cleanup: (() => Promise<unknown>)[];
}

interface Systems {
  pki: TestPki;
  azure: AzureFake;
  pg: TestPostgres;
  /** The function's kubeconfig: its own ServiceAccount token, the API server behind the fault proxy. */
  kubeconfig: string;
}

const KUBE_FAULT_NAMES: Record<HttpFault["kind"], string> = { delay: "kubeDelayWrite", hold: "kubeHoldRead", loseReply: "kubeLoseReply" };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runFaultHarness(info: ClusterInfo, admin: Kube, config: FaultConfig): Promise<{ report: FaultReport; text: string; violations: number }> {
  const random = new Random(config.seed);
  const run: Run = { config, random, plan: new FaultPlan(config, random), record: new RunRecord(), book: new ValueBook(), violations: new Violations(), cleanup: [] };
  try {
    const systems = await startSystems(info, run);
    const rotations = await buildWorld(admin, systems.pg, systems.azure, NAMESPACE, run.book);
    const replicas = await startReplicas(info, systems, run);
    const transcript: string[] = [];
    const watched = rotations.map((rotation) => ({ rotation, driver: driverFor(rotation, systems, replicas, transcript, run) }));
    const checker = new Checker({ admin, postgres: { host: systems.pg.admin.host, port: systems.pg.admin.port, caPem: systems.pki.ca.certPem }, azure: systems.azure, watched, book: run.book, record: run.record, violations: run.violations, config });
    const chaos = new ProcessChaos(replicas, run.plan);
    const meddlers = new Meddlers(admin, run.plan, random.fork("meddlers' picks"), run.record, run.book, rotations);
    run.cleanup.push(() => chaos.stop(), () => meddlers.stop(), () => Promise.all(watched.map((w) => w.driver.stop())), () => checker.stop());

    checker.start();
    for (const { driver } of watched) driver.start();
    chaos.start();
    meddlers.start();
    await sleep(config.faultSeconds * 1000);

    run.plan.stop();
    await Promise.all([chaos.stop(), meddlers.stop()]);
    const settled = await settleAll(admin, checker, watched, run);
    await Promise.all(watched.map((w) => w.driver.stop()));
    await checker.finish();
    lookForLeaks(replicas, transcript, systems.pg, run);

    const report = summarize({ config, record: run.record, violations: run.violations, book: run.book, checker, watched, settled });
    const file = await writeReport(report);
    return { report, text: formatReport(report, file), violations: run.violations.total() };
  } finally {
    for (const step of run.cleanup.reverse()) await step().catch(() => undefined);
  }
}

async function startSystems(info: ClusterInfo, run: Run): Promise<Systems> {
  const { plan, record } = run;
  // One CA for every TLS server the replicas reach: the Azure stand-in, PostgreSQL, the fault proxy.
  const pki = await makeTestPki();
  const azure = await startAzureFake({
    pki,
    interfere: (call) => {
      const fault = plan.forAzureRequest();
      if (fault?.delayMs !== undefined) record.event(`azureDelay:${call.service}`, `${call.method} ${call.path} ${fault.delayMs} ms`);
      if (fault?.loseReply) record.event(`azureLoseReply:${call.service}`, `${call.method} ${call.path}`);
      return fault;
    },
  });
  run.cleanup.push(() => azure.close());
  const pg = await startPostgres({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem } });
  run.cleanup.push(() => pg.stop());
  const proxy = await startKubeFaultProxy({
    upstream: info.server,
    upstreamCaPem: info.caPem,
    serving: pki.server,
    decide: (method, path) => {
      const fault = plan.forKubeRequest(method);
      if (fault !== undefined) record.event(KUBE_FAULT_NAMES[fault.kind], `${method} ${path.split("?")[0]}${"ms" in fault ? ` ${fault.ms} ms` : ""}`);
      return fault;
    },
  });
  run.cleanup.push(() => proxy.close());
  const kubeconfig = await writeKubeconfig(join(info.dir, "faults-function.kubeconfig"), { server: proxy.url, token: info.functionToken, caPem: pki.ca.certPem });
  return { pki, azure, pg, kubeconfig };
}

/** Two replicas; their logs (and PostgreSQL's) are kept in the cluster directory's logs when they stop. */
async function startReplicas(info: ClusterInfo, systems: Systems, run: Run): Promise<Replicas> {
  const { azure, pg } = systems;
  const env = { KUBECONFIG: systems.kubeconfig, NODE_EXTRA_CA_CERTS: azure.caFile, HTTPS_PROXY: azure.proxy.url, NO_PROXY: "127.0.0.1,localhost", METRICS_ADDRESS: "off" };
  const replicas = new Replicas(["a", "b"], env, run.record, (incarnation, how) =>
    run.violations.record("replicasStayUp", { at: seconds(run.record.now()), what: `replica ${incarnation} exited (${how}) without being killed`, recentFaults: run.record.before(run.record.now()) }),
  );
  run.cleanup.push(async () => {
    await replicas.stop();
    await mkdir(join(info.dir, "logs"), { recursive: true });
    for (const { name, lines } of replicas.logs()) await writeFile(join(info.dir, "logs", `faults-replica-${name}.log`), `${lines.join("\n")}\n`);
    await writeFile(join(info.dir, "logs", "faults-postgres.log"), `${pg.log.join("\n")}\n`);
  });
  await replicas.start();
  return replicas;
}

function driverFor(rotation: RotationUnderTest, systems: Systems, replicas: Replicas, transcript: string[], run: Run): RotationDriver {
  const { azure } = systems;
  return new RotationDriver({
    resource: rotation.resource,
    input: policyInput(NAMESPACE),
    credentials: { azure: { credentialData: { data: { clientId: Buffer.from(azure.clientId), clientSecret: Buffer.from(azure.clientSecret), tenantId: Buffer.from(azure.tenantId) } } } },
    replicas,
    plan: run.plan,
    random: run.random.fork(`driver ${rotation.name}`),
    record: run.record,
    triggerGapMs: run.config.durations.triggerGapMs,
    callDeadlineMs: run.config.durations.callDeadlineMs,
    transcript,
  });
}

async function settleAll(admin: Kube, checker: Checker, watched: Watched[], run: Run): Promise<{ ms: number; settled: boolean }> {
  for (const { driver } of watched) driver.settle();
  const { ms, unsettled } = await settle({ admin, checker, book: run.book, rotations: watched, boundMs: run.config.bounds.settleMs });
  for (const u of unsettled) {
    run.violations.record("settles", { at: seconds(run.record.now()), xr: u.xr, what: `not at rest ${seconds(ms)} after the faults stopped: ${u.why}` });
  }
  return { ms, settled: unsettled.length === 0 };
}

function lookForLeaks(replicas: Replicas, transcript: string[], pg: TestPostgres, run: Run): void {
  const sources = [
    ...replicas.logs().map((l) => ({ name: `replica ${l.name}'s log`, lines: l.lines })),
    { name: "the gRPC responses", lines: transcript },
    { name: "PostgreSQL's log", lines: pg.log },
  ];
  for (const leak of findLeaks(run.book, sources)) run.violations.record("noValueLeaked", { at: seconds(run.record.now()), what: `${leak.value} in ${leak.source}: ${leak.line}` });
}
