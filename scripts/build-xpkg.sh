#!/bin/sh
# Builds the Crossplane Function package (xpkg) with the runtime image embedded.
# Needs: docker (with buildx) and the crossplane CLI (https://docs.crossplane.io/latest/cli/); neither is
# needed for development or tests. Usage: scripts/build-xpkg.sh [version] [platform]
set -eu
version=${1:-v0.1.0}
platform=${2:-linux/amd64}
arch=${platform#linux/}
cd "$(dirname "$0")/.."
for tool in docker crossplane; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-xpkg: $tool not found on PATH" >&2; exit 1; }
done
rm -rf _build/package && mkdir -p _build/package _build/xpkg
# A Function package holds its metadata and the input CRDs only; XRDs and Compositions ship separately.
cp crossplane.yaml _build/package/
cp package/input/*.yaml _build/package/
docker buildx build --platform "$platform" --target image \
  --output "type=docker,dest=_build/runtime-$arch.tar" .
crossplane xpkg build --package-root=_build/package \
  --embed-runtime-image-tarball="_build/runtime-$arch.tar" \
  --package-file="_build/xpkg/function-azure-platform-$arch-$version.xpkg"
echo "built _build/xpkg/function-azure-platform-$arch-$version.xpkg"
echo "push: crossplane xpkg push -f _build/xpkg/function-azure-platform-$arch-$version.xpkg <registry>/function-azure-platform:$version"
