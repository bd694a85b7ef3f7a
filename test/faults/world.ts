// What exists before the first call: the namespace (opted in), the PostgreSQL roles with their first passwords, the
// admin's connection Secret, each app's Secret and Deployment, Key Vault's first version, and each SecretRotation in
// the cluster (paused, so core leaves it to the driver; its real uid owns the state Secret).
import { randomBytes } from "node:crypto";
import { scramVerifier } from "../../functions/secret-rotation/postgres.ts";
import { optIn } from "../cluster/context.ts";
import type { Kube } from "../cluster/kube.ts";
import type { AzureFake } from "../servers/azure/index.ts";
import type { JsonObject } from "../support/proto-client.ts";
import type { TestPostgres } from "../support/postgres.ts";
import { ADMIN_ROLE, ADMIN_SECRET, connectionSecretData, secretRotations, targetsOf, type RotationTargets } from "./scenario.ts";
import type { ValueBook } from "./values.ts";

export interface RotationUnderTest extends RotationTargets {
  name: string;
  namespace: string;
  /** The XR as the driver sends it: apiVersion, kind, metadata with the cluster's uid, spec. */
  resource: JsonObject;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
/** Values nobody could mistake for another: long and random, so a leak check never matches by accident. */
const freshValue = () => `Seed-${randomBytes(18).toString("base64url")}`;
const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

function secret(namespace: string, name: string, data: Record<string, string>): JsonObject {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type: "Opaque", data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}

function consumer(namespace: string, secretName: string): JsonObject {
  const labels = { app: secretName };
  const env = [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: secretName, key: "password" } } }];
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: secretName, namespace, labels },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: "app", image: "example/app:1", env }] } } },
  };
}

export async function buildWorld(admin: Kube, pg: TestPostgres, azure: AzureFake, namespace: string, book: ValueBook): Promise<RotationUnderTest[]> {
  await admin.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, { fieldManager: "platform" });
  await admin.apply(optIn(namespace), { fieldManager: "platform" });
  // Passwords are set as SCRAM verifiers, so PostgreSQL's statement log never holds one (the leak check reads it all).
  const adminPassword = freshValue();
  book.note("admin", adminPassword, "admin");
  await pg.query(`CREATE ROLE ${ADMIN_ROLE} LOGIN CREATEROLE PASSWORD ${quote(scramVerifier(adminPassword))}`);
  await admin.create(secret(namespace, ADMIN_SECRET, connectionSecretData(pg.admin, ADMIN_ROLE, adminPassword)));

  const rotations: RotationUnderTest[] = [];
  for (const doc of secretRotations(namespace)) {
    const targets = targetsOf(doc);
    const name = String((doc.metadata as JsonObject).name);
    const seed = freshValue();
    book.note(name, seed, "seed");
    await pg.query(`CREATE ROLE ${targets.role} LOGIN PASSWORD ${quote(scramVerifier(seed))}`);
    // PostgreSQL 16 on: a CREATEROLE role changes only the roles it holds with ADMIN OPTION (as on Azure).
    await pg.query(`GRANT ${targets.role} TO ${ADMIN_ROLE} WITH ADMIN OPTION`);
    await admin.create(secret(namespace, targets.secretName, connectionSecretData(pg.admin, targets.role, seed)));
    await admin.create(consumer(namespace, targets.secretName));
    if (targets.vault !== undefined) azure.vault(targets.vault.vaultName).seed(targets.vault.secretName, seed);
    const paused = { ...(doc.metadata as JsonObject), annotations: { "crossplane.io/paused": "true" } };
    const inCluster = await admin.apply({ ...doc, metadata: paused }, { fieldManager: "engineer" });
    const resource = { ...doc, metadata: { ...(doc.metadata as JsonObject), uid: inCluster.metadata.uid } };
    rotations.push({ ...targets, name, namespace, resource });
  }
  return rotations;
}
