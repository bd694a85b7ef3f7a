// What Azure Database for PostgreSQL Flexible Server and provider-upjet-azure v2.7 accept.
// Sources: ../shared/notes/azure-postgres.md §3 (Azure docs, terraform-provider-azurerm validators).

/** Major versions the provider's embedded azurerm accepts (v2.7.0). */
export const PROVIDER_VERSIONS = ["11", "12", "13", "14", "15", "16", "17", "18"] as const;

/** storageGB as users write it -> storageMb as the provider wants it, with the default and allowed disk tiers. */
export const STORAGE: ReadonlyArray<{ gb: number; mb: number; tiers: readonly string[] }> = [
  { gb: 32, mb: 32768, tiers: ["P4", "P6", "P10", "P15", "P20", "P30", "P40", "P50"] },
  { gb: 64, mb: 65536, tiers: ["P6", "P10", "P15", "P20", "P30", "P40", "P50"] },
  { gb: 128, mb: 131072, tiers: ["P10", "P15", "P20", "P30", "P40", "P50"] },
  { gb: 256, mb: 262144, tiers: ["P15", "P20", "P30", "P40", "P50"] },
  { gb: 512, mb: 524288, tiers: ["P20", "P30", "P40", "P50"] },
  { gb: 1024, mb: 1048576, tiers: ["P30", "P40", "P50"] },
  { gb: 2048, mb: 2097152, tiers: ["P40", "P50"] },
  { gb: 4095, mb: 4193280, tiers: ["P50"] },
  { gb: 4096, mb: 4194304, tiers: ["P50"] },
  { gb: 8192, mb: 8388608, tiers: ["P60", "P70", "P80"] },
  { gb: 16384, mb: 16777216, tiers: ["P70", "P80"] },
  { gb: 32768, mb: 33553408, tiers: ["P80"] },
];
export const STORAGE_GB = STORAGE.map((s) => s.gb);

export function storageForMb(mb: number) {
  return STORAGE.find((s) => s.mb === mb);
}

/** storageGB values are validated against STORAGE before they get here. */
export function storageMbForGb(gb: number): number {
  return STORAGE.find((s) => s.gb === gb)?.mb ?? gb * 1024;
}

/** Sizes Azure grew to on its own may sit outside the table; report them in whole GiB. */
export function storageGbForMb(mb: number): number {
  return storageForMb(mb)?.gb ?? Math.round(mb / 1024);
}

/**
 * Tier to emit: keep an observed tier while it is still valid for the size (tier changes are limited to one per
 * 12 h), else the default of the size. A size outside the table (auto-grow) takes the tiers of the next size up.
 */
export function storageTier(mb: number, observedTier: string | undefined): string {
  const entry = storageForMb(mb) ?? STORAGE.find((s) => s.mb >= mb) ?? STORAGE[STORAGE.length - 1];
  const tiers = entry?.tiers ?? [];
  return observedTier !== undefined && tiers.includes(observedTier) ? observedTier : (tiers[0] ?? "P80");
}

/** SKU names the provider validates (terraform-provider-azurerm flexible_server_sku_name.go, non-confidential). */
export const SKU_PATTERN =
  /^(B_Standard_B(1ms|2s|2ms|4ms|8ms|12ms|16ms|20ms)|GP_Standard_D(2|4|8|16|32|48|64|96)(s_v3|ds_v4|ds_v5|ads_v5|ds_v6|ads_v6)|MO_Standard_E(2|4|8|16|20|32|48|64|96)(s_v3|ds_v4|ds_v5|ads_v5|ds_v6|ads_v6))$/;

/** Burstable servers cannot run high availability. */
export function isBurstable(skuName: string): boolean {
  return skuName.startsWith("B_");
}

export const SERVER_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
export const SERVER_NAME_MAX = 63;
export const SERVER_NAME_MIN = 3;

/** Admin logins Azure refuses (case-insensitive), and the `pg_` prefix. */
export const RESERVED_LOGINS = ["azure_superuser", "azure_pg_admin", "admin", "administrator", "root", "guest", "public"];

export function loginProblem(login: string): string | undefined {
  const l = login.toLowerCase();
  if (RESERVED_LOGINS.includes(l)) return `"${login}" is reserved by Azure`;
  if (l.startsWith("pg_")) return `"${login}" starts with "pg_", which Azure reserves`;
  return undefined;
}

/** Databases that exist on every server and may not be created or managed by users. */
export const RESERVED_DATABASES = ["postgres", "azure_maintenance", "azure_sys", "template0", "template1"];

/** Azure tag limits (Resource Manager): 50 pairs, key <= 512, value <= 256, these characters never in a key. */
export const TAG_LIMITS = { maxTags: 50, maxKey: 512, maxValue: 256, forbiddenKeyChars: /[<>%&\\?/]/ };

export const DELEGATED_SUBNET_ID =
  /^\/subscriptions\/[0-9a-fA-F-]{36}\/resourceGroups\/[-\w._()]+\/providers\/Microsoft\.Network\/virtualNetworks\/[-\w.]+\/subnets\/[-\w.]+$/;
export const PRIVATE_DNS_ZONE_ID =
  /^\/subscriptions\/[0-9a-fA-F-]{36}\/resourceGroups\/[-\w._()]+\/providers\/Microsoft\.Network\/privateDnsZones\/([a-z0-9-]+(\.[a-z0-9-]+)*\.postgres\.database\.azure\.com)$/i;

export const RESOURCE_GROUP_NAME = /^[-\w._()]{1,89}[-\w_()]$/;
