#!/usr/bin/env bash
# The CPU-budget comparison of docs/real-cifar10.md on the real akamaster CIFAR-10 ResNets:
# ResNet-56 teacher; NaturalInversion vs DeepInversion vs Gaussian noise vs real images,
# NUM_IMAGES each (default 250, 25 per class), for distilling ResNet-56 -> ResNet-20 and for pruning
# ResNet-56 at 30/50/70 % of its block-inner filters. Every number is measured on the JPEG
# copies in ../shared/real (shared/real/README.md): compare them with each other, never
# with a paper's absolute CIFAR-10 accuracy.
#
#   bash scripts/real_cifar10.sh OUT [SEEDS...]          (default seeds: 0 1 2)
#   python scripts/real_cifar10_table.py OUT              (the tables, mean ± sd)
#
# Equal compute: one NaturalInversion iteration on ResNet-56 costs about twice a
# DeepInversion one (two teacher passes; `studio bench inversion --teacher
# cifar10-resnet56`), so NaturalInversion gets half the iterations.
set -euo pipefail
OUT=${1:?usage: real_cifar10.sh OUT [SEEDS...]}
shift
SEEDS=${*:-0 1 2}
HERE=$(cd "$(dirname "$0")/.." && pwd)
REAL=${STUDIO_REAL:-$HERE/../shared/real}
T=$REAL/cifar10-resnets/resnet56-4bfd9763.th
TEST=$REAL/cifar10-test-jpeg
S=${STUDIO:-$HERE/.venv/bin/studio}
NUM_IMAGES=${NUM_IMAGES:-250}
PER_CLASS=$((NUM_IMAGES / 10))
DEEP_ITERS=${DEEP_ITERS:-60}
NATURAL_ITERS=${NATURAL_ITERS:-30}
EPOCHS=${EPOCHS:-30}
PRUNE_EPOCHS=${PRUNE_EPOCHS:-5}
mkdir -p "$OUT"

# PER_CLASS real training images per class (the first ones of each class folder)
if [ ! -d "$OUT/real$NUM_IMAGES" ]; then
  for d in "$REAL"/cifar10-train-jpeg-500/*/; do
    c=$(basename "$d"); mkdir -p "$OUT/real.tmp/$c"
    files=("$d"*)  # glob order is sorted
    cp "${files[@]:0:$PER_CLASS}" "$OUT/real.tmp/$c/"
  done
  mv "$OUT/real.tmp" "$OUT/real$NUM_IMAGES"
fi
# a fixed 2,000-image test subset (200 per class) for the many pruning evaluations
if [ ! -d "$OUT/test2k" ]; then
  for d in "$TEST"/*/; do
    c=$(basename "$d"); mkdir -p "$OUT/test2k.tmp/$c"
    files=("$d"*)
    cp "${files[@]:0:200}" "$OUT/test2k.tmp/$c/"
  done
  mv "$OUT/test2k.tmp" "$OUT/test2k"
fi

for s in $SEEDS; do
  [ -f "$OUT/noise-s$s/dataset.json" ] && continue
  $S synthesize --teacher "$T" --method deep --num-images "$NUM_IMAGES" --batch-size "$NUM_IMAGES" \
     --iterations "$DEEP_ITERS" --seed "$s" --out "$OUT/deep-s$s" -q
  $S synthesize --teacher "$T" --method natural --num-images "$NUM_IMAGES" --batch-size "$NUM_IMAGES" \
     --iterations "$NATURAL_ITERS" --seed "$s" --out "$OUT/natural-s$s" -q
  $S synthesize --teacher "$T" --method noise --num-images "$NUM_IMAGES" --batch-size "$NUM_IMAGES" \
     --seed "$s" --out "$OUT/noise-s$s" -q
done
for s in $SEEDS; do
  for m in natural deep noise real; do
    data="$OUT/$m-s$s"; [ "$m" = real ] && data="$OUT/real$NUM_IMAGES"
    [ -f "$OUT/distill-$m-s$s/distill.json" ] && continue
    $S distill --synthetic "$data" --teacher "$T" --student cifar_resnet20 --epochs "$EPOCHS" \
       --batch-size 64 --eval-every "$EPOCHS" --real-test "$OUT/test2k" --seed "$s" \
       --out "$OUT/distill-$m-s$s" -q
  done
done
for s in $SEEDS; do
  for m in natural real deep; do
    data="$OUT/$m-s$s"; [ "$m" = real ] && data="$OUT/real$NUM_IMAGES"
    [ -f "$OUT/prune-$m-s$s/prune.json" ] && continue
    $S prune --synthetic "$data" --teacher "$T" --sparsities 0.3 0.5 0.7 \
       --epochs "$PRUNE_EPOCHS" --eval-every "$PRUNE_EPOCHS" --real-test "$OUT/test2k" \
       --seed "$s" --out "$OUT/prune-$m-s$s" -q
  done
done
