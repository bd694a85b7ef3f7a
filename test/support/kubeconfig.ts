// A kubeconfig file for one API server and one bearer token: what a server process started with KUBECONFIG reads.
import { writeFile } from "node:fs/promises";

export interface KubeconfigOptions {
  /** `https://127.0.0.1:<port>` */
  server: string;
  token: string;
  /** The CA of the API server's serving certificate (PEM); without it the client trusts only the system's CAs. */
  caPem?: string;
}

export async function writeKubeconfig(file: string, { server, token, caPem }: KubeconfigOptions): Promise<string> {
  const cluster = { server, ...(caPem !== undefined ? { "certificate-authority-data": Buffer.from(caPem).toString("base64") } : {}) };
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "test", cluster }],
    users: [{ name: "test", user: { token } }],
    contexts: [{ name: "test", context: { cluster: "test", user: "test" } }],
    "current-context": "test",
  };
  // JSON is YAML: every kubeconfig loader reads it.
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}
