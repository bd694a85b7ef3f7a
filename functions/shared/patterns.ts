// Name and id patterns several schemas share. Plain regexes without flags or lookarounds, so the CRDs generated from
// the zod schemas (Go RE2) mean the same.

/** A UUID, as a pattern source to build larger patterns from (ARM ids). */
export const UUID_SOURCE = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
/** A subscription, tenant or object id. */
export const UUID = new RegExp(`^${UUID_SOURCE}$`);
/** A lowercase DNS label, as Kubernetes names XRs (their length is checked where it is bounded). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A Kubernetes namespace name: a DNS label of at most 63 characters. */
export const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
