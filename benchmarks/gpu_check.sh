#!/usr/bin/env bash
# The whole GPU check in one go, on a machine with an NVIDIA GPU (minutes):
#   1. install: onnxruntime-gpu instead of onnxruntime (.ci/setup --gpu), preload_dlls, providers listed;
#   2. a short GPU training run (siamese, tiny config, --accelerator gpu);
#   3. zoo bench on CUDA and TensorRT with fp16 (and int8, which the CUDA provider reports as unsupported);
#   4. prints the bench table and leaves OUT/bench.{json,md,csv,png}.
# Usage: benchmarks/gpu_check.sh [OUT]   (default OUT: ./gpu-check). Fails (non-zero) at the first broken step.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu-check}"
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia-smi.txt"
.ci/setup --gpu
PY=.venv/bin/python
ZOO=.venv/bin/zoo

$PY - <<'PY' | tee "$OUT/onnxruntime.json"
import json
from exporters.ort_install import build_info, check_single_install, preload_gpu_libraries
check_single_install()
problem = preload_gpu_libraries()
info = build_info()
print(json.dumps(info, indent=2))
assert not problem, problem
assert "CUDAExecutionProvider" in info["providers"], f"no CUDA provider: {info['providers']}"
PY
$PY -c "import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

# Short GPU training run (seconds). Accelerator flag per the engine's config; adjust if renamed.
$ZOO train siamese --out "$OUT/runs" --epochs 1 --steps-per-epoch 20 --accelerator gpu
RUN="$(ls -d "$OUT"/runs/siamese/*/ | tail -1)"

$ZOO bench "$RUN" --providers cpu,cuda,tensorrt --fp16 --int8 --batch-sizes 1,8,32 --seconds 1 --out "$OUT/bench"
$PY - "$OUT/bench/bench.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
cuda = [r for r in rows if r["provider"] == "cuda" and r["runtime"] == "onnxruntime" and r["precision"] in ("fp32", "fp16")]
assert cuda and all(r["status"] == "ok" for r in cuda), [(r["precision"], r["status"], r.get("reason")) for r in cuda]
bad = [r for r in rows if r["status"] == "ok" and str(r.get("check", "")).startswith("differs")]
for r in rows:
    print(r["runtime"], r["provider"], r["precision"], r["batch_size"], r["status"], r.get("check", r.get("reason")), r.get("task_metric"))
assert not bad, f"{len(bad)} rows differ from PyTorch beyond tolerance"
PY
echo "GPU check passed; results in $OUT"
