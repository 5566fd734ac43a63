#!/usr/bin/env bash
# --model SPEC end to end: every malformed spec refused (exit 2, one line naming the layer's
# position, its text and the reason), before or after the data's shape is known; good specs train.
# usage: model_spec_cli.sh DPTRAIN MAKE_SYNTH WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/cli_test_lib.sh"

# refused WANT SPEC: --model SPEC on the 5 x 5 data set (4 classes) is refused saying WANT.
refused() { expect_input_error "$1" --data "$work/data" --epochs 1 --device cpu --quiet --model "$2"; }

# The spec alone: refused while the options are parsed.
refused "--model '': empty" ""
refused "layer 2 'dense:4': unknown layer" "fc:16,dense:4,fc"
refused "layer 1 'fc:0': size 0: must be between 1 and 65536" "fc:0,fc"
refused "layer 1 'fc:100000': size 100000: must be between 1 and 65536" "fc:100000,fc"
refused "layer 1 'conv:0:3': channels 0: must be between 1 and 4096" "conv:0:3,fc"
refused "layer 1 'conv:5000:3': channels 5000" "conv:5000:3,fc"
refused "layer 1 'conv:8:0': kernel 0: must be between 1 and 31" "conv:8:0,fc"
refused "layer 1 'conv:8:33': kernel 33" "conv:8:33,fc"
refused "layer 1 'maxpool:1': window 1: must be between 2 and 64" "maxpool:1,fc"
refused "layer 1 'maxpool:65': window 65" "maxpool:65,fc"
refused "layer 1 'fc:abc': size 'abc' is not a whole number" "fc:abc,fc"
refused "layer 1 'fc:-3': size '-3' is not a whole number" "fc:-3,fc"
refused "layer 1 'fc: 8': size ' 8' is not a whole number" "fc: 8,fc"
refused "layer 1 'fc:8x': size '8x' is not a whole number" "fc:8x,fc"
refused "layer 1 'fc:99999999999': size '99999999999' is not a whole number" "fc:99999999999,fc"
refused "layer 1 'conv:8': malformed: the form is conv:C:K" "conv:8,fc"
refused "layer 1 'conv:8:3:1': malformed: the form is conv:C:K" "conv:8:3:1,fc"
refused "layer 1 'maxpool': malformed: the form is maxpool:P" "maxpool,fc"
refused "layer 1 'fc:1:2': malformed: the form is fc:N or fc" "fc:1:2,fc"
refused "layer 2 'relu:2': malformed: relu takes no size" "fc:8,relu:2,fc"
refused "layer 2 '': empty" "fc:8,,fc"
refused "layer 2 '': empty" "fc:8,"
refused "layer 1 '': empty" ",fc"
refused "layer 2 'relu': a layer after the final fc" "fc,relu"
refused "layer 2 'fc:4': a layer after the final fc" "fc,fc:4"
refused "layer 4 'relu': a layer after the final fc (the classifier)" "fc:8,relu,fc:4,relu"
refused "layer 3 'maxpool:2': the last layer must be an fc" "conv:4:3,relu,maxpool:2"
refused "layer 1 'relu': relu must follow an fc or conv layer" "relu,fc"
refused "layer 3 'relu': a second relu in a row" "fc:8,relu,relu,fc"
refused "layer 3 'relu': relu must follow an fc or conv layer, not a maxpool" \
  "conv:4:3,maxpool:2,relu,fc"
refused "layer 2 'conv:4:3': an image layer after an fc" "fc:8,conv:4:3,fc"
seventeen=$(printf 'fc:4,%.0s' $(seq 16))fc
refused "layer 17 'fc': more than 16 layers (relu not counted)" "$seventeen"
refused "--model: longer than 511 characters" "$(printf 'fc:4,relu,%.0s' $(seq 60))fc"

# On the data's shape: refused once the headers are read, before training.
refused "layer 3 'maxpool:2': the image is 1 x 1 here: a 2 x 2 window shrinks it to nothing" \
  "maxpool:2,maxpool:2,maxpool:2,fc"
refused "layer 1 'maxpool:8': the image is 5 x 5 here" "maxpool:8,fc"
refused "layer 3 'fc:7': the last fc has 7 outputs and the data 4 classes" "fc:8,relu,fc:7"
# 100 x 100 images: 4096 channels of them are 40,960,000 values, times 65536 outputs past 2^40.
mkdir -p "$work/wide" && "$make_synth" "$work/wide" 20 10 100 100 4 3 || fail "no 100 x 100 data"
expect_input_error "layer 2 'fc:65536': the parameter count overflows the most supported, 2^40" \
  --data "$work/wide" --epochs 1 --device cpu --quiet --model conv:4096:1,fc:65536,fc
# A conv needs images: a data set of vectors (IDX rank 2) has none.
python3 - "$work" <<'PY' || fail "could not write the vector data set"
import gzip, os, struct, sys
d = os.path.join(sys.argv[1], "vectors"); os.makedirs(d, exist_ok=True)
for name, n in (("train", 40), ("t10k", 10)):
    with open(os.path.join(d, name + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">III", 0x0802, n, 6) + bytes(range(6)) * n)
    with open(os.path.join(d, name + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x0801, n) + bytes(i % 2 for i in range(n)))
PY
expect_input_error "layer 1 'conv:4:3': needs images, and the data's samples are vectors of 6 values" \
  --data "$work/vectors" --epochs 1 --device cpu --quiet --model conv:4:3,fc
"$dptrain" --data "$work/vectors" --epochs 1 --device cpu --quiet --model fc:4,relu,fc \
  >"$work/out" 2>"$work/err" || fail "an fc model on vectors failed: $(cat "$work/err")"

# Good specs train: the cnn preset fits 5 x 5 images (5 -> 2 -> 1 pixels).
"$dptrain" --data "$work/data" --epochs 1 --device cpu --quiet --model cnn --report "$work/cnn.json" \
  >"$work/out" 2>"$work/err" || fail "--model cnn failed: $(cat "$work/err")"
# --model mlp is --hidden's MLP, bit for bit, and so is its spec written out.
for model in mlp fc:16,relu,fc:8,relu,fc fc:16,relu,fc:8,relu,fc:4; do
  "$dptrain" --data "$work/data" --epochs 1 --device cpu --quiet --hidden 16,8 --model "$model" \
    --report "$work/m.json" >"$work/out" 2>"$work/err" || fail "--model $model failed: $(cat "$work/err")"
  hash=$(report_field "$work/m.json" params_hash)
  [ "${first:=$hash}" = "$hash" ] || fail "--model $model: params_hash $hash, --model mlp gave $first"
done
[ -n "$first" ] || fail "no params_hash in the report"

# The report names the model as run (canonical: the last fc's size written out) and its FLOPs:
# the cnn preset on 5 x 5 images is conv 25 x 32 x 9, conv 4 x 64 x 288, fc 64 x 128, fc 128 x 4
# multiply-adds.
grep -q '^  "model": "conv:32:3,relu,maxpool:2,conv:64:3,relu,maxpool:2,fc:128,relu,fc:4",$' \
  "$work/cnn.json" || fail "report model: $(grep '"model"' "$work/cnn.json")"
[ "$(report_field "$work/cnn.json" flops_per_sample)" = "$((2 * (25 * 32 * 9 + 4 * 64 * 288 + 64 * 128 + 128 * 4)))" ] ||
  fail "report flops_per_sample: $(report_field "$work/cnn.json" flops_per_sample)"
"$dptrain" --help | grep -q "conv:C:K (C channels, K x K kernel" || fail "--help does not list the layers"

# A checkpoint records the model: resuming with another is refused, with the same resumes.
small=(--data "$work/data" --device cpu --quiet --batch 50 --model conv:4:3,relu,maxpool:2,fc)
"$dptrain" "${small[@]}" --epochs 1 --checkpoint "$work/ck" >"$work/out" 2>"$work/err" ||
  fail "checkpointed cnn run failed: $(cat "$work/err")"
expect_input_error "the checkpoint's model is conv:4:3,relu,maxpool:2,fc:4 on 25 inputs, this run's is conv:4:3,relu,maxpool:2,fc:16,relu,fc:4 on 25 inputs: check --model" \
  "${small[@]}" --epochs 2 --resume "$work/ck" --model conv:4:3,relu,maxpool:2,fc:16,relu,fc
expect_input_error "this run's is fc:4 on 25 inputs" "${small[@]}" --epochs 2 --resume "$work/ck" --model fc
"$dptrain" "${small[@]}" --epochs 2 --resume "$work/ck" --report "$work/resumed.json" \
  >"$work/out" 2>"$work/err" || fail "resuming the cnn failed: $(cat "$work/err")"
"$dptrain" "${small[@]}" --epochs 2 --report "$work/straight.json" >"$work/out" 2>"$work/err" ||
  fail "the straight cnn run failed: $(cat "$work/err")"
[ "$(report_field "$work/resumed.json" params_hash)" = "$(report_field "$work/straight.json" params_hash)" ] ||
  fail "the resumed cnn run differs from the straight one"

# --metrics, --trace and compare with a CNN.
"$dptrain" "${small[@]}" --epochs 1 --workers 2 --strategy ps --metrics "$work/m.csv" --metrics-every 1 \
  --trace "$work/t.json" >"$work/out" 2>"$work/err" || fail "cnn with --metrics --trace: $(cat "$work/err")"
[ "$(wc -l <"$work/m.csv")" -gt 2 ] || fail "cnn metrics: $(cat "$work/m.csv")"
grep -q '"traceEvents"' "$work/t.json" || fail "cnn trace has no events"
"$dptrain" compare "${small[@]}" --epochs 1 --workers 1,2 --strategies allreduce,ps \
  --out "$work/cmp" >"$work/out" 2>"$work/err" || fail "compare with a cnn: $(cat "$work/err")"
[ "$(grep -c 'ps\|allreduce' "$work/out")" -ge 4 ] || fail "compare table: $(cat "$work/out")"

finish model_spec_cli
