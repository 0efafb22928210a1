#!/usr/bin/env bash
# Keeps a device call's copy of the working tree under its 64 MiB limit (the `run` tool sends tracked files and
# untracked files git does not ignore). `slim` takes the large folders no GPU call reads out of the index and ignores
# them locally (.git/info/exclude); `restore` undoes it exactly: the index afterwards is the one before `slim` (checked
# with `git write-tree`), force-added ignored files (logs) included. Nothing in the work tree or in a commit changes.
# Use: bash scripts/gpu-tree.sh slim; <the run call>; bash scripts/gpu-tree.sh restore
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
FOLDERS=(weights/small-flux test/fixtures results/sim bench/results)
EXCLUDE=.git/info/exclude
SAVED=.git/gpu-tree-index
case "${1:-}" in
  slim)
    [ -f "$SAVED" ] && { echo "gpu-tree: already slim (restore first: bash scripts/gpu-tree.sh restore)" >&2; exit 1; }
    git write-tree > "$SAVED"
    git rm -r -q --cached "${FOLDERS[@]}"
    for f in "${FOLDERS[@]}"; do echo "$f/" >> "$EXCLUDE"; done
    echo "gpu-tree: slim; tracked files now $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes"
    ;;
  restore)
    [ -f "$SAVED" ] || { echo "gpu-tree: not slim (nothing to restore)" >&2; exit 1; }
    for f in "${FOLDERS[@]}"; do
      esc=$(printf '%s\n' "$f/" | sed 's/[][\.*^$/]/\\&/g')
      sed -i "/^${esc}\$/d" "$EXCLUDE"
    done
    # The saved tree holds every file the index had, force-added ignored logs too; only these folders are read back,
    # so anything staged elsewhere since `slim` stays staged.
    git restore --staged --source="$(cat "$SAVED")" -- "${FOLDERS[@]}"
    if [ "$(git write-tree)" != "$(cat "$SAVED")" ]; then
      echo "gpu-tree: restored the folders; the index differs from before slim elsewhere (changes staged meanwhile)"
    else
      echo "gpu-tree: restored (index identical to before slim)"
    fi
    rm -f "$SAVED"
    ;;
  *) echo "usage: bash scripts/gpu-tree.sh slim|restore" >&2; exit 2 ;;
esac
