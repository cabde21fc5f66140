#!/usr/bin/env bash
# Build the Studio desktop bundle: a clean venv with the project's pinned dependencies and a
# pinned PyInstaller, a onedir bundle (dist/installer/studio/), a smoke test of the frozen
# binary, then a tarball. One command:
#
#   bash installer/build.sh [--flavour cpu|full] [--reuse-venv] [--no-tarball] [--compress zst|gz]
#
#   --flavour cpu   (default) CPU-only bundle: GPU-only CUDA libraries left out, GPUs hidden
#   --flavour full  keep every CUDA library (GPU-capable; 4.8 GB instead of 3.3 GB)
#   --reuse-venv    keep an existing build venv (reinstalls only the studio package)
#   --no-tarball    stop after the onedir bundle and its smoke test
#   --compress      zst (default when zstd is installed: ~9x faster than gzip here, and
#                   smaller) or gz (unpacks everywhere)
#
# Environment: PYTHON (python3.11), STUDIO_INSTALLER_VENV (build/installer-venv),
# STUDIO_INSTALLER_DIST (dist/installer), NICE (15; the build is CPU-heavy).
# Writes $DIST/build-info.json with the measured sizes and times.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# Pinned here, not in pyproject.toml: only the bundle build needs them.
PYINSTALLER_PINS=(pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9)

PYTHON=${PYTHON:-python3.11}
VENV=${STUDIO_INSTALLER_VENV:-build/installer-venv}
DIST=${STUDIO_INSTALLER_DIST:-dist/installer}
WORK=build/installer-work
NICE=${NICE:-15}
FLAVOUR=cpu
REUSE=0
TARBALL=1
COMPRESS=$(command -v zstd >/dev/null && echo zst || echo gz)
while [ $# -gt 0 ]; do
  case "$1" in
    --flavour) FLAVOUR=${2:?--flavour needs cpu or full}; shift 2 ;;
    --flavour=*) FLAVOUR=${1#*=}; shift ;;
    --reuse-venv) REUSE=1; shift ;;
    --no-tarball) TARBALL=0; shift ;;
    --compress) COMPRESS=${2:?--compress needs zst or gz}; shift 2 ;;
    --compress=*) COMPRESS=${1#*=}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$FLAVOUR" in cpu|full) ;; *) echo "build.sh: --flavour must be cpu or full" >&2; exit 2 ;; esac
case "$COMPRESS" in zst|gz) ;; *) echo "build.sh: --compress must be zst or gz" >&2; exit 2 ;; esac
if [ "$COMPRESS" = zst ] && ! command -v zstd >/dev/null; then
  echo "build.sh: zstd is not installed (apt-get install zstd, or --compress gz)" >&2; exit 2
fi
command -v "$PYTHON" >/dev/null || { echo "build.sh: $PYTHON not found (set PYTHON)" >&2; exit 2; }
case "$(uname -s)" in Linux) ;; *) echo "build.sh: builds the Linux bundle; see installer/README.md for Windows/macOS" >&2; exit 2 ;; esac

VERSION=$("$PYTHON" -c 'import re,sys; print(re.search(r"__version__ = \"(.+?)\"", open("studio/__init__.py").read()).group(1))')
ARCH=$(uname -m)
TARBALL_PATH="$DIST/studio-$VERSION-linux-$ARCH-$FLAVOUR.tar.$COMPRESS"
RUN="nice -n $NICE"
now() { date +%s; }
t_start=$(now)

# The bundle holds torch (~2-3.5 GB unpacked) and the tarball again about half of that.
avail_gb=$(df -Pk "$ROOT" | awk 'NR==2 {print int($4/1048576)}')
if [ "$avail_gb" -lt 20 ]; then
  echo "build.sh: only ${avail_gb} GB free under $ROOT; the build needs about 20 GB" >&2
  exit 2
fi

# 1. A clean venv: the project (not editable) with its pinned dependencies + PyInstaller.
if [ "$REUSE" = 1 ] && [ -x "$VENV/bin/pyinstaller" ]; then
  echo "== reusing $VENV"
  $RUN "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall .
else
  echo "== creating a clean venv in $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  $RUN "$VENV/bin/python" -m pip install -q --upgrade pip
  $RUN "$VENV/bin/python" -m pip install -q ".[gui]" "${PYINSTALLER_PINS[@]}" -c constraints.txt
fi
t_venv=$(now)

# 2. PyInstaller (onedir). Run from build/ so the source tree is not on sys.path: the
#    bundle gets the installed package, exactly what a user of the wheel gets.
echo "== PyInstaller ($FLAVOUR flavour), log in $WORK.log"
rm -rf "$DIST/studio" "$WORK"
mkdir -p "$DIST" "$WORK"
DIST_ABS=$(cd "$DIST" && pwd)
( cd "$WORK" && STUDIO_BUNDLE_FLAVOUR=$FLAVOUR $RUN "$ROOT/$VENV/bin/pyinstaller" \
    --noconfirm --clean --log-level WARN --distpath "$DIST_ABS" --workpath "$ROOT/$WORK" \
    "$ROOT/installer/studio.spec" ) > "$WORK.log" 2>&1 || {
  tail -40 "$WORK.log" >&2; echo "build.sh: PyInstaller failed (full log: $WORK.log)" >&2; exit 1; }
grep -h "studio.spec:" "$WORK.log" || true
BUNDLE="$DIST/studio"
# Desktop integration sits at the top of the bundle, next to the executable.
cp installer/studio.desktop "$BUNDLE/studio.desktop"
cp studio/resources/icons/app.svg "$BUNDLE/studio.svg"
[ -f studio/resources/icons/app.png ] && cp studio/resources/icons/app.png "$BUNDLE/studio.png"  # 256 px
cp installer/install-desktop.sh "$BUNDLE/install-desktop.sh"
chmod +x "$BUNDLE/install-desktop.sh"
rm -rf "$WORK"  # intermediate files (~1 GB); the log stays
t_bundle=$(now)

# 3. Smoke test of the frozen binary (the full checks are in tests/test_installer.py).
echo "== smoke test"
"$BUNDLE/studio" --version
env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen "$BUNDLE/studio" --bundle-check
t_smoke=$(now)

# 4. Tarball. zstd -3 on 2 threads: 87 s and 1.89 GB for the 3.3 GB cpu bundle on the
#    2-core build machine, against 739 s and 2.02 GB for gzip -6.
tar_bytes=0
if [ "$TARBALL" = 1 ]; then
  echo "== tarball $TARBALL_PATH"
  rm -f "$TARBALL_PATH"
  if [ "$COMPRESS" = zst ]; then PACK="zstd -q -T0 -3"
  elif command -v pigz >/dev/null; then PACK="pigz -6"; else PACK="gzip -6"; fi
  tar -C "$DIST" -cf - studio | $RUN $PACK > "$TARBALL_PATH.part"
  mv "$TARBALL_PATH.part" "$TARBALL_PATH"
  tar_bytes=$(stat -c %s "$TARBALL_PATH")
fi
t_end=$(now)

bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
cat > "$DIST/build-info.json" <<JSON
{
  "version": "$VERSION",
  "flavour": "$FLAVOUR",
  "bundle": "$BUNDLE",
  "bundle_bytes": $bundle_bytes,
  "tarball": "$( [ "$TARBALL" = 1 ] && echo "$TARBALL_PATH" )",
  "tarball_bytes": $tar_bytes,
  "compress": "$COMPRESS",
  "seconds": {"venv": $((t_venv - t_start)), "pyinstaller": $((t_bundle - t_venv)),
              "smoke_test": $((t_smoke - t_bundle)), "tarball": $((t_end - t_smoke)),
              "total": $((t_end - t_start))},
  "reused_venv": $( [ "$REUSE" = 1 ] && echo true || echo false ),
  "pins": "${PYINSTALLER_PINS[*]}",
  "machine": "$(nproc) CPUs, $(uname -m), nice $NICE",
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON
echo "== done in $((t_end - t_start)) s: bundle $BUNDLE ($((bundle_bytes / 1000000)) MB)" \
     "$( [ "$TARBALL" = 1 ] && echo "tarball $TARBALL_PATH ($((tar_bytes / 1000000)) MB)")"
