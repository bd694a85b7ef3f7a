// The real control plane on loopback, as envtest starts it: etcd, kube-apiserver (RBAC on) and the controllers a
// test needs from kube-controller-manager (garbage collection, namespaces, service accounts, role aggregation),
// then Crossplane core outside the cluster, calling this project's server over mutual TLS.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { writeKubeconfig } from "../support/kubeconfig.ts";
import { freePort } from "../support/server-process.ts";
import { Kube } from "./kube.ts";
import { type Proc, startProcess, waitFor } from "./processes.ts";

const run = promisify(execFile);

/** Where the real binaries are: what scripts/real-systems.sh prints. */
export interface RealSystems {
  assets: string;
  controllerManager: string;
  core: string;
  coreCrds: string;
  cli: string;
}

export function realSystemsFromEnv(env = process.env): RealSystems {
  const systems = {
    assets: env.KUBEBUILDER_ASSETS ?? "",
    controllerManager: env.KUBE_CONTROLLER_MANAGER_BINARY ?? "",
    core: env.CROSSPLANE_CORE_BINARY ?? "",
    coreCrds: env.CROSSPLANE_CORE_CRDS ?? "",
    cli: env.CROSSPLANE_CLI_BINARY ?? "",
  };
  const missing = [
    ["KUBEBUILDER_ASSETS", join(systems.assets, "kube-apiserver")],
    ["KUBE_CONTROLLER_MANAGER_BINARY", systems.controllerManager],
    ["CROSSPLANE_CORE_BINARY", systems.core],
    ["CROSSPLANE_CORE_CRDS", systems.coreCrds],
    ["CROSSPLANE_CLI_BINARY", systems.cli],
  ].filter(([, path]) => !path || !existsSync(path as string));
  if (missing.length > 0) {
    throw new Error(`the cluster tier needs the real systems; ${missing.map(([n]) => n).join(", ")} not found. Run it as \`npm run test:cluster\`, which provides them with scripts/real-systems.sh`);
  }
  return systems;
}

export interface ControlPlane {
  dir: string;
  server: string;
  caPem: string;
  admin: Kube;
  kubeconfig: string;
  procs: Proc[];
  kubectl(...args: string[]): Promise<string>;
  /** A kubeconfig file for a token (e.g. a ServiceAccount's). */
  kubeconfigFor(name: string, token: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startControlPlane(systems: RealSystems, dir: string): Promise<ControlPlane> {
  const logs = join(dir, "logs");
  await mkdir(logs, { recursive: true });
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop();
  };
  try {
    const [etcdPort, peerPort, apiPort, kcmPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = startProcess("etcd", join(systems.assets, "etcd"), [
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      "--unsafe-no-fsync",
    ], logs);
    procs.push(etcd);
    await waitFor("etcd /health", async () => ((await (await fetch(`${etcdUrl}/health`)).json()) as { health?: string }).health === "true" || undefined, 30_000, [etcd]);

    // The admin is a static token in system:masters; service accounts are signed with one RSA key.
    const adminToken = randomBytes(24).toString("hex");
    await writeFile(join(dir, "tokens.csv"), `${adminToken},admin,admin-uid,"system:masters"\n`);
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await writeFile(join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProcess("kube-apiserver", join(systems.assets, "kube-apiserver"), [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      "--authorization-mode=RBAC",
      `--token-auth-file=${join(dir, "tokens.csv")}`,
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${join(dir, "sa.key")}`,
      `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--disable-admission-plugins=ServiceAccount",
      "--allow-privileged=true",
    ], logs);
    procs.push(apiserver);
    // kube-apiserver writes a self-signed serving certificate (and its CA) into --cert-dir.
    const caPem = await waitFor("the API server's serving certificate", async () => (existsSync(join(dir, "apiserver-certs", "apiserver.crt")) ? readFile(join(dir, "apiserver-certs", "apiserver.crt"), "utf8") : undefined), 60_000, [apiserver]);
    const admin = new Kube(server, caPem, adminToken);
    await waitFor("kube-apiserver /readyz", async () => ((await admin.request("GET", "/readyz")) ? true : undefined), 120_000, [apiserver]);

    const kubeconfigFor = (name: string, token: string) => writeKubeconfig(join(dir, `${name}.kubeconfig`), { server, caPem, token });
    const kubeconfig = await kubeconfigFor("admin", adminToken);

    const kcm = startProcess("kube-controller-manager", systems.controllerManager, [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${kcmPort}`,
      "--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller",
      `--service-account-private-key-file=${join(dir, "sa.key")}`,
      "--use-service-account-credentials=false",
    ], logs);
    procs.push(kcm);
    const kubectl = async (...args: string[]) => (await run(join(systems.assets, "kubectl"), [`--kubeconfig=${kubeconfig}`, ...args], { maxBuffer: 64 << 20 })).stdout;
    // The service-account controller creating `default` in a namespace shows the controllers are running.
    await waitFor("kube-controller-manager (the default ServiceAccount)", async () => (await admin.find({ apiVersion: "v1", kind: "ServiceAccount", namespace: "default", name: "default" })) ?? undefined, 60_000, [kcm]);
    return { dir, server, caPem, admin, kubeconfig, procs, kubectl, kubeconfigFor, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
