#!/usr/bin/env python3
"""Soak test: infer-chat fed random messages for a bounded time, its resident memory sampled.

    soak_chat.py INFER_CHAT [--seconds S] [--ctx N] [--seed N] [--model FILE]

S defaults to $INFER_SOAK_SECONDS, else 120 (what CI runs); pass more for a longer soak.

One long conversation through piped stdin, with sampling on and --ctx-overflow shift, so the
context fills, old exchanges are dropped and re-processed, and now and then "/reset" starts over:
every path a long chat takes. Before each turn's message is processed the process's resident
set is sampled from /proc: its anonymous part (RssAnon: the heap, the context's memory; where a
leak shows) is judged, the total (VmRSS, which adds the pages of the memory-mapped model file the
tokens so far have touched: each new token id touches its embedding row) is reported. Warm-up is over once the conversation has filled the context
once (every KV cache page and every weight page the model reads has then been touched) and a
tenth of the time has passed; after it, memory must be flat:
  - the growth from the end of warm-up to the highest later sample is under 4 MiB, and
  - the least-squares slope of RSS over the later turns is under 8 KiB per turn (a leak of a
    message's worth of bytes per turn shows up here over a hundred turns).
The curve (RSS every few turns) is printed either way; exit status 0 means flat.
The model is SmolLM2 from the model cache ($INFER_MODEL_DIR); a missing one fails.
"""
import argparse
import os
import random
import subprocess
import sys
import threading
import time

from check_chat import model_path  # the model cache lookup infer-chat's other checks use

WORDS = ("the a of to and in is it you that he was for on are with as his they be at one have "
         "this from or had by word but what some we can out other were all there when up use "
         "your how said an each she which do their time if will way about many then them write "
         "would like so these her long make thing see him two has look more day could go come "
         "did number sound no most people my over know water than call first who may down side "
         "been now find any new work part take get place made live where after back little only "
         "round man year came show every good me give our under name very through just form "
         "sentence great think say help low line differ turn cause much mean before move right "
         "boy old too same tell does set three want air well also play small end put home read "
         "CPU GPU memory cache Paris France recipe poem story explain why how 42 3.14 2+2 "
         "été naïve 東京 кошка 🙂").split()
MIB = 1024 * 1024


def memory(pid):
    """(anonymous resident bytes, total resident bytes) of a process."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "VmRSS"):
                fields[key] = int(value.split()[0]) * 1024
    return fields["RssAnon"], fields["VmRSS"]


def random_message(rng):
    if rng.random() < 0.03:
        return "/reset"
    n = rng.randint(1, 40)
    text = " ".join(rng.choice(WORDS) for _ in range(n))
    return text[0].upper() + text[1:] + rng.choice(["?", ".", "!", ""])


def slope(points):
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chat")
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("INFER_SOAK_SECONDS", "120")))
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cmd = [args.chat, "-m", model_path(args.model), "--verbose", "-n", "16", "--ctx",
           str(args.ctx), "--ctx-overflow", "shift", "--temp", "0.9", "--seed", str(args.seed)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
    # Drain stdout so that the answers never block the child.
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()

    start = time.monotonic()
    samples = []   # (turn, anonymous rss, seconds since start, total rss)
    filled_at = None
    processed_total = 0
    turn = 0
    stderr_tail = []
    p.stdin.write(random_message(rng) + "\n")
    p.stdin.flush()
    for line in p.stderr:
        stderr_tail = (stderr_tail + [line])[-20:]
        if not line.startswith("[kv cache:"):
            continue
        # "[kv cache: R tokens reused, P processed]": turn `turn` has been processed.
        turn += 1
        anon, total = memory(p.pid)
        samples.append((turn, anon, time.monotonic() - start, total))
        processed_total += int(line.split()[5])
        if filled_at is None and processed_total >= args.ctx:
            filled_at = turn
        if time.monotonic() - start >= args.seconds:
            break
        p.stdin.write(random_message(rng) + "\n")
        p.stdin.flush()
    p.stdin.close()
    for line in p.stderr:
        stderr_tail = (stderr_tail + [line])[-20:]
    code = p.wait(timeout=300)
    if code != 0:
        sys.exit(f"FAIL: infer-chat exited with {code}:\n{''.join(stderr_tail)}")

    min_warm_seconds = args.seconds / 10
    warm = next((i for i, (t, _, s, _) in enumerate(samples)
                 if filled_at is not None and t > filled_at and s >= min_warm_seconds), None)
    print(f"soak: {turn} turns in {samples[-1][2] if samples else 0:.0f} s, --ctx {args.ctx}, "
          f"context filled at turn {filled_at}, warm-up ends at turn "
          f"{samples[warm][0] if warm is not None else None}")
    step = max(1, len(samples) // 25)
    print("soak: turn  seconds  RssAnon MiB  VmRSS MiB")
    shown = samples[::step]
    if samples and shown[-1] is not samples[-1]:
        shown.append(samples[-1])
    for t, rss, s, total in shown:
        print(f"soak: {t:5d}  {s:7.1f}  {rss / MIB:11.2f}  {total / MIB:9.2f}")
    if warm is None or len(samples) - warm < 20:
        sys.exit(f"FAIL: too few turns after warm-up ({turn} turns in all); run longer")
    after = samples[warm:]
    growth = max(rss for _, rss, _, _ in after) - after[0][1]
    per_turn = slope([(t, rss) for t, rss, _, _ in after])
    print(f"soak: after warm-up: {len(after)} turns, RssAnon {after[0][1] / MIB:.2f} -> "
          f"{after[-1][1] / MIB:.2f} MiB, highest growth {growth / 1024:.0f} KiB, "
          f"slope {per_turn / 1024:.2f} KiB/turn")
    if growth >= 4 * MIB:
        sys.exit(f"FAIL: RssAnon grew {growth / MIB:.2f} MiB after warm-up")
    if per_turn >= 8 * 1024:
        sys.exit(f"FAIL: RssAnon grows {per_turn / 1024:.2f} KiB per turn")
    print("soak: OK, memory is flat")


if __name__ == "__main__":
    main()
