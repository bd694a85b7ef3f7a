// Azure names and tags, derived deterministically from policy + XR, refused where Azure would refuse them.
import { hash } from "node:crypto";
import { PRIVATE_DNS_ZONE_ID, SERVER_NAME_MAX, SERVER_NAME_MIN, SERVER_NAME_PATTERN, TAG_LIMITS } from "./azure.ts";
import { NAMESPACE_TAG } from "../shared/rotation-contract.ts";
import { sortKeys } from "../shared/sort-keys.ts";
import type { DatabasePolicy } from "./policy.ts";
import type { DatabaseXR } from "./xr.ts";

type Outcome<T> = { ok: true; value: T } | { ok: false; message: string };

export function serverName(policy: DatabasePolicy, xr: DatabaseXR): Outcome<string> {
  const { name, namespace } = xr.metadata;
  const tokens: Record<string, string> = {
    team: xr.spec.team,
    name,
    namespace,
    environment: policy.environment,
    location: policy.location,
    hash: hash("sha256", `${namespace}/${name}`, "hex").slice(0, 6),
  };
  const pattern = policy.naming.serverName;
  const value = pattern.replace(/\{(\w+)\}/g, (_, t: string) => tokens[t] ?? "");
  const where = `server name "${value}" (from naming.serverName "${pattern}")`;
  if (value.length < SERVER_NAME_MIN || value.length > SERVER_NAME_MAX) {
    return {
      ok: false,
      message: `${where} is ${value.length} characters; Azure needs ${SERVER_NAME_MIN} to ${SERVER_NAME_MAX}: choose a shorter metadata.name or spec.team`,
    };
  }
  if (!SERVER_NAME_PATTERN.test(value)) {
    return {
      ok: false,
      message: `${where} must hold only lowercase letters, digits and hyphens and must not start or end with a hyphen`,
    };
  }
  const zone = PRIVATE_DNS_ZONE_ID.exec(policy.network.privateDnsZoneId)?.[1]?.toLowerCase();
  if (zone?.split(".")[0] === value) {
    return {
      ok: false,
      message: `${where} equals the first label of the private DNS zone ${zone}; Azure refuses that (PrivateDnsZoneNameNotValid)`,
    };
  }
  return { ok: true, value };
}

/**
 * Tags for every taggable kind: policy static tags, then metadata-sourced tags, then team and environment, and the
 * namespace last (the tag a SecretRotation checks before it changes the server's admin; the policy cannot set it).
 */
export function tags(policy: DatabasePolicy, xr: DatabaseXR): Outcome<Record<string, string>> {
  const out: Record<string, string> = { ...policy.tags.static };
  for (const [i, t] of policy.tags.fromMetadata.entries()) {
    const source = t.label !== undefined ? xr.metadata.labels[t.label] : xr.metadata.annotations[t.annotation ?? ""];
    const what = t.label !== undefined ? `label ${t.label}` : `annotation ${t.annotation}`;
    if (source === undefined || source === "") {
      if (t.required) {
        return {
          ok: false,
          message: `metadata: ${what} is required by the DBA policy (tags.fromMetadata[${i}], Azure tag "${t.key}"); add it to the Database`,
        };
      }
      continue;
    }
    if (source.length > TAG_LIMITS.maxValue) {
      return { ok: false, message: `metadata: ${what} is ${source.length} characters; Azure tag values allow at most ${TAG_LIMITS.maxValue}` };
    }
    out[t.key] = source;
  }
  out[policy.tags.teamKey] = xr.spec.team;
  out[policy.tags.environmentKey] = policy.environment;
  out[NAMESPACE_TAG] = xr.metadata.namespace;
  // Azure tag names are case-insensitive: two keys that differ only in case would collide.
  const lower = new Map<string, string>();
  for (const key of Object.keys(out)) {
    const other = lower.get(key.toLowerCase());
    if (other !== undefined) {
      return { ok: false, message: `tags "${other}" and "${key}" differ only in case; Azure tag names are case-insensitive` };
    }
    lower.set(key.toLowerCase(), key);
  }
  const count = Object.keys(out).length;
  if (count > TAG_LIMITS.maxTags) {
    return { ok: false, message: `${count} tags exceed Azure's limit of ${TAG_LIMITS.maxTags} per resource` };
  }
  return { ok: true, value: sortKeys(out) };
}
