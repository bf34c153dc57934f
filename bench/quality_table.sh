#!/usr/bin/env bash
# Reproduces the quality tables of docs/quantization.md (issue 15).
#
#   bench/quality_table.sh [corelm|llama|speed|1b|all]   (default all)
#
# Environment: CORELM (the corelm binary, default build/corelm), DATA (../shared/data),
# LLAMA (../shared/peers/llama.cpp), HFGGUF (../shared/tools/hf_to_gguf.py), M1B (~/models or
# /work/models: 1b-hf/, 1b-f16.gguf, 1b-Q4_0.gguf, 1b-Q8_0.gguf, 1b-Q4_K_M.gguf), OUT (work folder for
# the packages, GGUFs, saved logits (~410 MB for WikiText-2) and logs; default /work/bench/quality).
# Every run is `nice -n 19`, one at a time, -t 2 at most (the figures were taken on a 2-vCPU VM).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORELM=${CORELM:-$ROOT/build/corelm}
DATA=${DATA:-$ROOT/../shared/data}
LLAMA=${LLAMA:-$ROOT/../shared/peers/llama.cpp}
HFGGUF=${HFGGUF:-$ROOT/../shared/tools/hf_to_gguf.py}
M1B=${M1B:-/work/models}
OUT=${OUT:-/work/bench/quality}
T=${T:-2}
WIKI=$DATA/text/wikitext-2-raw-test/wiki.test.raw
BOTCHAN=$DATA/text/botchan.txt
HF=$DATA/tiny-models/stories260K-hf
N="nice -n 19"
export LD_LIBRARY_PATH=$LLAMA${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mkdir -p "$OUT/logs"
cd "$OUT"

corelm_260k() {
    # packages
    for q in f32 f16 q8s32 q4s32; do $N "$CORELM" convert "$HF" -o s-$q.clm --quant $q -q -t $T; done
    for g in 8 16 32; do $N "$CORELM" convert "$HF" -o s-lut4g$g.clm --quant lut4 --group-size $g -q -t $T; done
    # importance matrix from all of botchan (no WikiText-2 train text in ../shared/data)
    $N "$CORELM" imatrix s-f32.clm --text "$BOTCHAN" --ctx 128 -t $T -o botchan.clmi
    $N "$CORELM" convert "$HF" -o s-q4s32-im.clm --quant q4s32 --imatrix botchan.clmi -q -t $T
    $N "$CORELM" convert "$HF" -o s-lut4g16-im.clm --quant lut4 --group-size 16 --imatrix botchan.clmi -q -t $T
    for text in wiki botchan; do
        f=$WIKI; [ $text = botchan ] && f=$BOTCHAN
        $N "$CORELM" perplexity s-f32.clm --text "$f" --ctx 128 -t $T --json \
            --save-logits base-$text.logits > logs/s-f32.$text.json 2> logs/s-f32.$text.err
        for m in f16 q8s32 q4s32 q4s32-im lut4g8 lut4g16 lut4g32 lut4g16-im; do
            $N "$CORELM" perplexity s-$m.clm --kl-base base-$text.logits -t $T --json \
                > logs/s-$m.$text.json 2> logs/s-$m.$text.err
        done
    done
    for m in f32 f16 q8s32 q4s32 q4s32-im lut4g8 lut4g16 lut4g32 lut4g16-im; do
        $N "$CORELM" inspect s-$m.clm > logs/s-$m.inspect 2>&1 || true
    done
}

llama_260k() {
    # llama.cpp's own f32 GGUF of stories260K (made by its convert_hf_to_gguf.py, in ../shared/data;
    # ../shared/tools/hf_to_gguf.py needs a SentencePiece tokenizer.model, which stories260K-hf lacks).
    # Q8_0 / Q4_0 refuse ffn_down (172 columns, no fallback for those types): it is kept in f16 as in
    # corelm's q8s32 / q4s32 and in llama.cpp's own Q4_K_M fallback.
    cp -f "$DATA/tiny-models/stories260K-gguf/stories260K.gguf" g-F32.gguf
    $N "$LLAMA/llama-quantize" ./g-F32.gguf ./g-F16.gguf F16 1 > logs/g-F16.quantize 2>&1
    $N "$LLAMA/llama-quantize" ./g-F32.gguf ./g-Q4_K_M.gguf Q4_K_M 1 > logs/g-Q4_K_M.quantize 2>&1
    for q in Q8_0 Q4_0; do
        $N "$LLAMA/llama-quantize" --tensor-type ffn_down=f16 ./g-F32.gguf ./g-$q.gguf $q 1 > logs/g-$q.quantize 2>&1
    done
    # botchan: llama-perplexity with KL against its F32, and corelm on the same files. WikiText-2: corelm
    # only (llama-perplexity ran at 2 to 3 windows/s on the loaded 2-vCPU VM, ~40 min per file for 6322
    # windows; LLAMA_WIKI=1 runs it, LLAMA_WIKI_KL=1 with its KL too)
    for text in botchan wiki; do
        f=$WIKI; [ $text = botchan ] && f=$BOTCHAN
        llama=1; kl=1
        if [ $text = wiki ]; then llama=${LLAMA_WIKI:-0}; kl=${LLAMA_WIKI_KL:-0}; fi
        if [ $llama = 1 ] && [ $kl = 1 ]; then
            $N "$LLAMA/llama-perplexity" -m g-F32.gguf -f "$f" -c 128 -b 128 -t $T \
                --kl-divergence-base lbase-$text.kld > logs/g-F32.$text.ppl 2>&1
        fi
        for q in F16 Q8_0 Q4_0 Q4_K_M; do
            [ -f g-$q.gguf ] || continue
            if [ $llama = 1 ] && [ $kl = 1 ]; then
                $N "$LLAMA/llama-perplexity" -m g-$q.gguf -f "$f" -c 128 -b 128 -t $T \
                    --kl-divergence-base lbase-$text.kld --kl-divergence > logs/g-$q.$text.ppl 2>&1
            elif [ $llama = 1 ]; then
                $N "$LLAMA/llama-perplexity" -m g-$q.gguf -f "$f" -c 128 -b 128 -t $T > logs/g-$q.$text.ppl 2>&1
            fi
            # the same file through corelm, against corelm's f32 package base
            if [ $text = botchan ] || [ $q != F16 ]; then
                $N "$CORELM" perplexity g-$q.gguf --kl-base base-$text.logits -t $T --json \
                    > logs/g-$q.$text.json 2> logs/g-$q.$text.err
            fi
        done
        if [ $text = botchan ]; then
            $N "$CORELM" perplexity g-F32.gguf --kl-base base-$text.logits -t $T --json \
                > logs/g-F32.$text.json 2> logs/g-F32.$text.err
        fi
    done
}

speed_260k() {
    # decode tok/s, one thread, the models alternating, 3 rounds
    for round in 1 2 3; do
        for m in s-f32 s-f16 s-q8s32 s-q4s32 s-lut4g8 s-lut4g16 s-lut4g32 s-q4s32-im s-lut4g16-im; do
            $N "$CORELM" bench $m.clm -p 0 -n 128 -t 1 --no-bandwidth --json >> logs/speed.$m.jsonl 2>/dev/null
        done
        for q in F32 F16 Q8_0 Q4_0 Q4_K_M; do
            [ -f g-$q.gguf ] || continue
            $N "$LLAMA/llama-bench" -m g-$q.gguf -p 0 -n 128 -t 1 -r 3 -o json >> logs/speed.g-$q.llama.json 2>/dev/null
        done
    done
}

kl_1b() {
    # 1.1B random weights: KL only, base = llama.cpp's f16 GGUF (the model's weights are f16; no f32
    # file of it here), the first 4 windows of 512 of WikiText-2. q8s32 and lut4 G = 16 are converted
    # here with this build (M1B's 1b-lut4g16.clm predates the midpoint-split k-means); q4s32 without an
    # imatrix is coremltools' bytes, unchanged since M1B's 1b-q4s32.clm was made.
    local W4="--ctx 512 --chunks 4"
    [ -f 1b-q8s32.clm ] || $N "$CORELM" convert "$M1B/1b-hf" -o 1b-q8s32.clm --quant q8s32 -q -t $T > logs/1b-q8s32.convert 2>&1
    [ -f 1b-lut4g16.clm ] || $N "$CORELM" convert "$M1B/1b-hf" -o 1b-lut4g16.clm --quant lut4 --group-size 16 -q -t $T > logs/1b-lut4g16.convert 2>&1
    $N "$CORELM" perplexity "$M1B/1b-f16.gguf" --text "$WIKI" $W4 -t $T --json \
        --save-logits base-1b.logits > logs/1b-f16.json 2> logs/1b-f16.err
    for f in 1b-q8s32.clm "$M1B/1b-q4s32.clm" 1b-lut4g16.clm "$M1B/1b-Q8_0.gguf" "$M1B/1b-Q4_0.gguf" "$M1B/1b-Q4_K_M.gguf"; do
        b=$(basename "$f"); b=${b%.*}
        $N "$CORELM" perplexity "$f" --kl-base base-1b.logits -t $T --json > logs/$b.json 2> logs/$b.err
    done
    $N "$LLAMA/llama-perplexity" -m "$M1B/1b-f16.gguf" -f "$WIKI" -c 512 -b 512 --chunks 4 -t $T \
        --kl-divergence-base lbase-1b.kld > logs/1b-f16.ppl 2>&1
    for q in Q8_0 Q4_0 Q4_K_M; do
        $N "$LLAMA/llama-perplexity" -m "$M1B/1b-$q.gguf" -f "$WIKI" -c 512 -b 512 --chunks 4 -t $T \
            --kl-divergence-base lbase-1b.kld --kl-divergence > logs/1b-$q.ppl 2>&1
    done
}

what=${1:-all}
case $what in
    corelm) corelm_260k ;;
    llama) llama_260k ;;
    speed) speed_260k ;;
    1b) kl_1b ;;
    all) corelm_260k; llama_260k; speed_260k; kl_1b ;;
    *) echo "usage: $0 [corelm|llama|speed|1b|all]" >&2; exit 2 ;;
esac
