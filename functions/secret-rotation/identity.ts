// The identity the function takes in a namespace. For every Kubernetes call of a SecretRotation it impersonates
// this ServiceAccount of the SecretRotation's own namespace, so the API server itself, not only this code, keeps
// the call inside that namespace. A namespace opts in by binding the ClusterRole ROTATION_ROLE to it
// (examples/install/rbac.yaml); the function's own ServiceAccount may do nothing but impersonate it.
export const ROTATION_IDENTITY = "azplatform-secret-rotation";
export const ROTATION_ROLE = "function-azure-platform-rotation";

export function identityIn(namespace: string): string {
  return `system:serviceaccount:${namespace}:${ROTATION_IDENTITY}`;
}

/** What to grant when Kubernetes refused a call (401/403), from the API server's message. */
export function grantHint(namespace: string, refusal: string): string {
  // The function's own ServiceAccount may not impersonate: the install's ClusterRoleBinding is missing or names
  // another ServiceAccount. Otherwise the namespace has not opted in.
  if (/cannot impersonate/.test(refusal)) {
    return `let the function's own ServiceAccount impersonate ServiceAccount ${ROTATION_IDENTITY} (ClusterRole and ClusterRoleBinding function-azure-platform in examples/install/rbac.yaml)`;
  }
  return `bind ClusterRole ${ROTATION_ROLE} to ServiceAccount ${ROTATION_IDENTITY} in namespace ${namespace} (examples/install/rbac.yaml)`;
}
