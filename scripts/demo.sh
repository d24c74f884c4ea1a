#!/usr/bin/env bash
# The main job: pull the Qwen3 runtime and an official program from the PAW hub
# and run it on sample inputs. Without network access it says so, then runs the
# same pipeline (pack → run) on a generated full-shape Qwen3-0.6B fixture with
# random weights, whose outputs are meaningless but whose speed is real.
set -euo pipefail
PAW=${PAW:-./bin/paw}
DEMO=${DEMO:-.demo}
SHARED=${SHARED:-../shared}
mkdir -p "$DEMO"
inputs=(
  "URGENT: production database is down, customers cannot log in since 3am"
  "Hi team, the quarterly newsletter is attached, no action needed."
  "Can you send me the invoice for last month's order? Thanks"
)

$PAW version
echo
if $PAW pull qwen3-0.6b-q6_k email-triage; then
  for in in "${inputs[@]}"; do
    $PAW run email-triage --input "$in" --max-tokens 16 --json
  done
else
  echo
  echo "== The PAW hub is unreachable from here. Running the same pipeline on a GENERATED FIXTURE model:"
  echo "== Qwen3-0.6B shape and real vocabulary, RANDOM weights (outputs are noise; timings are real)."
  model="$DEMO/qwen3-0.6b-fixture-q4_0.gguf"
  [ -f "$model" ] || $PAW fixture --preset qwen3-0.6b --type Q4_0 -o "$model"
  $PAW fixture --preset qwen3-0.6b --adapter-rank 64 -o "$DEMO/adapter.gguf"
  cat > "$DEMO/pseudo.txt" <<'PSEUDO'
Classify the email by urgency. Return ONLY one of: urgent, normal, low.
Examples:
"Server is down" -> urgent
"Lunch menu for Friday" -> low
"Please review my PR when you can" -> normal
PSEUDO
  $PAW pack --spec "Triage an email: urgent, normal or low" --pseudo-program "$DEMO/pseudo.txt" \
    --adapter "$DEMO/adapter.gguf" --interpreter qwen3 --base "$model" -o "$DEMO/email-triage.paw"
  $PAW info "$DEMO/email-triage.paw" | head -8
  printf '%s\n' "${inputs[@]}" > "$DEMO/inputs.txt"
  $PAW run "$DEMO/email-triage.paw" --model "$model" --inputs "$DEMO/inputs.txt" --max-tokens 8
fi

if [ -d "$SHARED/fixtures/stories260K" ]; then
  echo
  echo "== A real pretrained tiny model (stories260K) through the same engine, greedy:"
  $PAW fixture --stories260k "$SHARED/fixtures/stories260K" -o "$DEMO/stories260K.gguf"
  $PAW generate --model "$DEMO/stories260K.gguf" --max-tokens 60
  echo
  echo "== Compile offline: a LoRA adapter trained on this CPU for a toy function (animal or toy?) on"
  echo "== stories260K, 200 examples trained on, 100 held out; then the held-out test and a run."
  data=compile/lora/testdata/animal-or-toy.jsonl
  # --holdout 0.33 holds out every 3rd example (lora.Split; the file has no repeated inputs): the same
  # lines become the test cases, so the test never sees a trained-on sentence.
  awk 'NR % 3 == 0' "$data" | sed 's/"output"/"expected"/' > "$DEMO/held-out.jsonl"
  $PAW compile --local --spec "Is the sentence about an animal or a toy?" --examples "$data" --holdout 0.33 \
    --model "$DEMO/stories260K.gguf" --pseudo-budget 80 --rank 8 --epochs 4 --lr 3e-3 --threads 1 --seed 1 \
    --out "$DEMO/animal-or-toy.paw"
  $PAW test "$DEMO/animal-or-toy.paw" --model "$DEMO/stories260K.gguf" --cases "$DEMO/held-out.jsonl" --failing 3
  $PAW run "$DEMO/animal-or-toy.paw" --model "$DEMO/stories260K.gguf" --input "The kitten was very happy." --json
  $PAW run "$DEMO/animal-or-toy.paw" --model "$DEMO/stories260K.gguf" --input "Tim had a big kite." --json
fi
