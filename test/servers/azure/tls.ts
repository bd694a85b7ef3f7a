// The fake's serving certificate and how a process comes to trust it.
//
// The certificate is issued by the test PKI's CA (test/support/certs.ts) for localhost, 127.0.0.1 and the Azure
// public-cloud host names the fake answers through its CONNECT proxy: login.microsoftonline.com,
// management.azure.com and *.vault.azure.net.

import { webcrypto } from "node:crypto";
import * as tls from "node:tls";
import * as x509 from "@peculiar/x509";
import type { CertAndKey } from "../../support/certs.ts";

/** Azure public-cloud host names the fake serves through its proxy. */
export const AZURE_PUBLIC_CLOUD = {
  authorityHost: "https://login.microsoftonline.com",
  armEndpoint: "https://management.azure.com",
  loginHost: "login.microsoftonline.com",
  armHost: "management.azure.com",
  vaultHostSuffix: ".vault.azure.net",
} as const;

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { ...KEY_ALGORITHM, hash: "SHA-256" } as const;
const HOUR_MS = 60 * 60 * 1000;

/** Issues a serving certificate signed by `ca` (an ECDSA P-256 CA, as makeTestPki makes), naming `moreIps` too. */
export async function issueServingCert(ca: CertAndKey, moreIps: string[] = []): Promise<{ certPem: string; keyPem: string }> {
  x509.cryptoProvider.set(webcrypto);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(ca.keyPem), KEY_ALGORITHM, false, ["sign"]);
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^./, "1"),
    subject: "CN=azure-fake",
    issuer: caCert.subject,
    notBefore: new Date(now - HOUR_MS),
    notAfter: new Date(now + 24 * HOUR_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: AZURE_PUBLIC_CLOUD.loginHost },
        { type: "dns", value: AZURE_PUBLIC_CLOUD.armHost },
        { type: "dns", value: `*${AZURE_PUBLIC_CLOUD.vaultHostSuffix}` },
        ...moreIps.map((value) => ({ type: "ip" as const, value })),
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: cert.toString("pem"), keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") };
}

/**
 * Adds `caPem` to this process's default CA store (`tls.setDefaultCACertificates`, Node >= 22.19 / 24.5), so TLS
 * clients created afterwards without their own `ca` (the Azure SDKs, MSAL through @azure/identity) trust the fake.
 * Returns a function that removes it again (and only it: other files may share the process in vitest's threads
 * pool). Child processes: pass `NODE_EXTRA_CA_CERTS=<caFile>` instead.
 */
export function trustCaInThisProcess(caPem: string): () => void {
  const ours = caPem.trim();
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), caPem]);
  return () => tls.setDefaultCACertificates(tls.getCACertificates("default").filter((pem) => pem.trim() !== ours));
}
