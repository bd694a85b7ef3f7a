// Throwaway PKI for end-to-end tests: generated per test run, never committed.
//
// Layout mirrors what Crossplane mounts into a function pod: the server
// directory holds tls.crt / tls.key (the function's serving certificate) and
// ca.crt (the CA that client certificates must chain to; TLS is mutual).

import { webcrypto } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
// @peculiar/x509 v2 needs a Reflect metadata polyfill loaded before it (its DI container, tsyringe, uses it).
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

/** A certificate and its private key, as PEM text and as Buffers (what grpc-js wants). */
export interface CertAndKey {
  certPem: string;
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  /** Self-signed CA that signs the server and the legitimate client certificate. */
  ca: CertAndKey;
  /** Server certificate: SANs `localhost` and `127.0.0.1`, EKU serverAuth. */
  server: CertAndKey;
  /** Client certificate (CN `crossplane`), EKU clientAuth, signed by `ca`. */
  client: CertAndKey;
  /** An unrelated self-signed CA. */
  rogueCa: CertAndKey;
  /** Client certificate (CN `crossplane`) signed by `rogueCa`: must be refused. */
  rogueClient: CertAndKey;
  /** The directory the server layout was written to, when one was given. */
  dir?: string;
}

/** File names of Crossplane's function server TLS layout. */
export const SERVER_TLS_FILES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;

const ALGORITHM: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const HOUR_MS = 60 * 60 * 1000;

interface Issued {
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive and non-zero, no leading-zero trimming
  return Buffer.from(bytes).toString("hex");
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - HOUR_MS), notAfter: new Date(now + 24 * HOUR_MS) };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>;
}

async function makeCa(commonName: string): Promise<Issued> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, cert };
}

async function issueLeaf(
  issuer: Issued,
  commonName: string,
  usage: "server" | "client",
  sans: x509.JsonGeneralNames = [],
): Promise<Issued> {
  const keys = await generateKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(
      [usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${commonName}`,
    issuer: issuer.cert.subject,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions,
  });
  return { keys, cert };
}

async function toPem({ keys, cert }: Issued): Promise<CertAndKey> {
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
  const certPem = cert.toString("pem");
  // Trailing newline: some PEM readers are picky about it, and files look normal.
  const certText = certPem.endsWith("\n") ? certPem : `${certPem}\n`;
  const keyText = keyPem.endsWith("\n") ? keyPem : `${keyPem}\n`;
  return { certPem: certText, keyPem: keyText, cert: Buffer.from(certText), key: Buffer.from(keyText) };
}

/**
 * Generates a fresh CA, server and client certificates (plus a rogue CA and a
 * client certificate it signed). ECDSA P-256 / SHA-256, valid from one hour
 * ago to one day ahead. When `dir` is given, writes the server layout
 * (`tls.crt`, `tls.key`, `ca.crt`) into it, creating it if needed.
 */
export async function makeTestPki(dir?: string): Promise<TestPki> {
  const ca = await makeCa("function-e2e-test-ca");
  const server = await issueLeaf(ca, "localhost", "server", [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
  ]);
  const client = await issueLeaf(ca, "crossplane", "client");
  const rogueCa = await makeCa("function-e2e-rogue-ca");
  const rogueClient = await issueLeaf(rogueCa, "crossplane", "client");

  const pki: TestPki = {
    ca: await toPem(ca),
    server: await toPem(server),
    client: await toPem(client),
    rogueCa: await toPem(rogueCa),
    rogueClient: await toPem(rogueClient),
  };
  if (dir !== undefined) await writeServerTls(pki, dir);
  return pki;
}

/** Writes Crossplane's server TLS layout for `pki` into `dir` and records it in `pki.dir`. */
export async function writeServerTls(pki: TestPki, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SERVER_TLS_FILES.cert), pki.server.certPem);
  await writeFile(join(dir, SERVER_TLS_FILES.key), pki.server.keyPem, { mode: 0o600 });
  await writeFile(join(dir, SERVER_TLS_FILES.ca), pki.ca.certPem);
  pki.dir = dir;
}
