#!/usr/bin/env bash
# Register the unpacked Studio bundle with the desktop (menu entry + icon) for this user,
# and put `studio` on ~/.local/bin. `--uninstall` removes all three again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS="$DATA/applications"
ICONS="$DATA/icons/hicolor/scalable/apps"
PNG_ICONS="$DATA/icons/hicolor/256x256/apps"  # for desktops that do not render SVG
BIN="$HOME/.local/bin"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$APPS/studio.desktop" "$ICONS/studio.svg" "$PNG_ICONS/studio.png"
  [ -L "$BIN/studio" ] && rm -f "$BIN/studio"
  echo "Studio removed from the menu (the bundle in $HERE is untouched)"
  exit 0
fi

mkdir -p "$APPS" "$ICONS" "$BIN"
cp "$HERE/studio.svg" "$ICONS/studio.svg"
if [ -f "$HERE/studio.png" ]; then mkdir -p "$PNG_ICONS" && cp "$HERE/studio.png" "$PNG_ICONS/studio.png"; fi
# The menu entry runs this bundle by absolute path, so ~/.local/bin need not be on PATH.
sed -e "s|^Exec=studio gui|Exec=\"$HERE/studio\" gui|" \
    -e "s|^TryExec=studio|TryExec=$HERE/studio|" \
    "$HERE/studio.desktop" > "$APPS/studio.desktop"
ln -sfn "$HERE/studio" "$BIN/studio"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$APPS" || true
# No icon cache here (a user-level cache goes stale and hides later icons); a newer mtime
# makes the icon theme rescan the folder.
touch "$DATA/icons/hicolor"
echo "Studio added to the menu ($APPS/studio.desktop); command: $BIN/studio"
