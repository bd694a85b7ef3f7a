// The identity the function takes in a namespace. For every Kubernetes call of a SecretRotation it impersonates
// this ServiceAccount of the SecretRotation's own namespace, so the API server itself, not only this code, keeps
// the call inside that namespace. A namespace opts in by binding the ClusterRole ROTATION_ROLE to it
// (examples/install/rbac.yaml); the function's own ServiceAccount may do nothing but impersonate it.
export const ROTATION_IDENTITY = "azplatform-secret-rotation";
export const ROTATION_ROLE = "function-azure-platform-rotation";

export function identityIn(namespace: string): string {
  return `system:serviceaccount:${namespace}:${ROTATION_IDENTITY}`;
}

export function grantHint(namespace: string): string {
  return `bind ClusterRole ${ROTATION_ROLE} to ServiceAccount ${ROTATION_IDENTITY} in namespace ${namespace} (examples/install/rbac.yaml)`;
}
