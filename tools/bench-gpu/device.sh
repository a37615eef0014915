#!/usr/bin/env bash
# The device machine's side of `npm run bench:gpu` (see tools/bench-gpu/main.mjs's header): unpack
# what `npm run bench:gpu:pack` put in .gpu-carry/ (the machine has no internet and maybe no Node),
# then run the benchmark. As the device tool's one command, with carry [".gpu-carry"]:
#
#   bash tools/bench-gpu/device.sh $OUT/bench-gpu            # extra arguments go to main.mjs (e.g. --eval)
#
# SKIP_DPKG=1 leaves / alone (a dry run on a machine that has libvulkan.so.1 already).
set -euo pipefail
cd "$(dirname "$0")/../.."
C=.gpu-carry
OUTDIR=${1:?usage: bash tools/bench-gpu/device.sh <out-folder> [main.mjs options]}
shift
[ -f "$C/node_modules.tar.xz" ] || { echo "bench:gpu: no $C/node_modules.tar.xz: run npm run bench:gpu:pack here and carry $C" >&2; exit 2; }
# The Vulkan loader Dawn opens (libvulkan.so.1), as the device README unpacks such packages.
if [ "${SKIP_DPKG:-0}" != 1 ]; then
  for f in "$C"/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
  ldconfig || true
fi
unxz() { # xz where the image has it, else Python's lzma (python3 is there: the image holds PyTorch)
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
if [ -f "$C/node.xz" ]; then
  NODE_DIR=$(mktemp -d)
  unxz "$C/node.xz" >"$NODE_DIR/node"
  chmod +x "$NODE_DIR/node"
  export PATH="$NODE_DIR:$PATH"
fi
unxz "$C/node_modules.tar.xz" | tar -x
echo "bench:gpu: $(command -v node) $(node --version), node_modules unpacked"
exec node tools/bench-gpu/main.mjs --out "$OUTDIR" "$@"
