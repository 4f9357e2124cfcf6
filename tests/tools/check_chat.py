#!/usr/bin/env python3
"""Drives infer-chat as a user would, through a pseudo-terminal or plain stdin, and checks it.

    check_chat.py INFER_CHAT GOLDEN.json CHECK

CHECK is one of:
  golden-stdin    --prompt, then a two-turn conversation on piped stdin: the answers are
                  llama.cpp's greedy answers (GOLDEN.json, scripts/make_chat_golden.py), and the
                  second turn reuses the first one's tokens from the KV cache (--verbose).
  golden-pty      the same conversation typed at the prompt of a pseudo-terminal; end of input
                  (Ctrl-D) exits with status 0.
  interrupt       Ctrl-C during an answer stops it and returns to the prompt; the next message
                  is answered; Ctrl-C at the prompt exits with status 0.
  overflow-stop   --ctx-overflow stop with a tiny --ctx: the answer that fills the context stops
                  with a message, a message that cannot fit is refused, the program goes on.
  overflow-shift  --ctx-overflow shift: the oldest exchanges are dropped, and what follows is
                  what the model answers to the kept conversation alone.
The model is the golden's, from the model cache ($INFER_MODEL_DIR); a missing one fails.
"""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT = 120  # seconds for any one step; generous for sanitizer builds on a loaded machine


def model_path(file):
    cache = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    path = Path(os.environ.get("INFER_MODEL_DIR", Path(cache) / "libinfer" / "models")) / file
    if not path.exists():
        sys.exit(f"FAIL: {path} is missing: run scripts/fetch-models.sh")
    return str(path)


def expect(condition, message):
    if not condition:
        sys.exit(f"FAIL: {message}")


def run(args, stdin_text=""):
    p = subprocess.run(args, input=stdin_text.encode(), capture_output=True, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Terminal:
    """infer-chat on a pseudo-terminal: stdin, stdout and stderr are the terminal."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(args[0], args)
        self.output = ""  # everything read, \r\n turned into \n

    def read_until(self, marker, start=0):
        """Reads until `marker` appears after offset `start`; returns the offset just past it."""
        deadline = time.monotonic() + TIMEOUT
        while (at := self.output.find(marker, start)) < 0:
            left = deadline - time.monotonic()
            expect(left > 0, f"no {marker!r} within {TIMEOUT} s; output so far:\n{self.output}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    data = b""
                expect(data, f"infer-chat ended before {marker!r}; output:\n{self.output}")
                self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return at + len(marker)

    def type(self, text):
        os.write(self.fd, text.encode())

    def prompt(self, start=0):
        """Waits for the "> " prompt at the start of a line; returns the offset after it."""
        at = start
        while True:
            at = self.read_until("> ", at)
            if at < 3 or self.output[at - 3] in "\n\r":  # \r: after the progress bar
                return at

    def exit_status(self):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:  # drain, so the child never blocks writing
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.output += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        sys.exit(f"FAIL: infer-chat did not exit; output:\n{self.output}")


def ask(term, message):
    """Types a message at the prompt; returns the answer (the text before the next prompt)."""
    start = term.prompt()
    term.type(message + "\n")
    echoed = term.read_until(message + "\n", start)
    end = term.prompt(echoed)
    return term.output[echoed:end - 2].removesuffix("\n"), end


def golden_args(chat, golden, n_predict=None, system=True, ctx=None, overflow=None):
    """infer-chat's arguments for greedy answers like the golden's."""
    args = [chat, "-m", model_path(golden["model"]), "--temp", "0",
            "-n", str(n_predict or golden["n_predict"])]
    if system:
        args += ["--system", golden["system"]]
    if ctx:
        args += ["--ctx", str(ctx), "--ctx-overflow", overflow]
    return args


def check_golden_stdin(chat, golden):
    turns = golden["turns"]
    status, out, err = run(golden_args(chat, golden) + ["--prompt", turns[0]["user"]])
    expect(status == 0, f"--prompt exited with {status}: {err}")
    expect(out == turns[0]["answer"] + "\n",
           f"--prompt answer {out!r}, llama.cpp's is {turns[0]['answer']!r}")

    stdin_text = "".join(t["user"] + "\n" for t in turns)
    status, out, err = run(golden_args(chat, golden) + ["--verbose"], stdin_text)
    expect(status == 0, f"exited with {status}: {err}")
    expected = "".join(t["answer"] + "\n" for t in turns)
    expect(out == expected, f"answers {out!r}, llama.cpp's are {expected!r}")
    # Turn 2 reuses turn 1's prompt and answer from the KV cache and processes only the rest.
    reuse = [line for line in err.splitlines() if line.startswith("[kv cache:")]
    expect(len(reuse) == len(turns), f"expected a [kv cache: ...] line per turn: {err}")
    first = len(turns[0]["prompt_ids"]) + len(turns[0]["answer_ids"])
    second = len(turns[1]["prompt_ids"])
    expect(reuse[1] == f"[kv cache: {first} tokens reused, {second - first} processed]",
           f"turn 2: {reuse[1]!r}; expected {first} reused, {second - first} processed")
    expect("tokens/s" in err and "KV cache" in err, f"--verbose printed no statistics: {err}")
    print(f"golden-stdin: {len(turns)} turns identical to llama.cpp; turn 2 reused {first} tokens")


def check_golden_pty(chat, golden):
    term = Terminal(golden_args(chat, golden))
    for t in golden["turns"]:
        answer, _ = ask(term, t["user"])
        expect(answer == t["answer"], f"answer {answer!r}, llama.cpp's is {t['answer']!r}")
    term.prompt()
    term.type("\x04")  # Ctrl-D: end of input
    status = term.exit_status()
    expect(status == 0, f"exited with {status} after Ctrl-D:\n{term.output}")
    print(f"golden-pty: {len(golden['turns'])} turns identical to llama.cpp; Ctrl-D exits 0")


def check_interrupt(chat, golden):
    term = Terminal(golden_args(chat, golden, n_predict=400, system=False))
    start = term.prompt()
    term.type("Write a long story about a dragon who learns to cook.\n")
    # Wait until the answer is under way (a few words out), then press Ctrl-C.
    echoed = term.read_until("cook.\n", start)
    deadline = time.monotonic() + TIMEOUT
    while len(term.output) - echoed < 40:
        expect(time.monotonic() < deadline, f"no answer:\n{term.output}")
        if select.select([term.fd], [], [], 1)[0]:
            term.output += os.read(term.fd, 4096).decode(errors="replace").replace("\r\n", "\n")
    term.type("\x03")
    after = term.read_until("[interrupted]\n", echoed)
    answer_length = after - echoed
    term.prompt(after)
    expect(answer_length < 2000, f"the answer went on after Ctrl-C:\n{term.output}")
    answer, _ = ask(term, "What is 2 + 2?")
    expect(answer.strip(), f"no answer after an interrupted one:\n{term.output}")
    term.prompt()
    term.type("\x03")  # Ctrl-C at the prompt
    status = term.exit_status()
    expect(status == 0, f"exited with {status} after Ctrl-C at the prompt:\n{term.output}")
    print("interrupt: Ctrl-C stopped the answer, the next message was answered, Ctrl-C at the "
          "prompt exited 0")


TINY_CTX = 64  # the system prompt and one exchange fit; a third message does not


def check_overflow_stop(chat, golden):
    args = golden_args(chat, golden, ctx=TINY_CTX, overflow="stop")
    turns = golden["turns"]
    # A long answer fills the context: it stops with a message, and the program goes on.
    status, out, err = run(args, "Tell me a long story about the sea.\n" + turns[0]["user"] + "\n")
    expect(status == 0, f"exited with {status}: {err}")
    expect("the context is full (64 tokens): the answer stops here" in err,
           f"no context-full message: {err}")
    expect("this message does not fit" in err,
           f"the message after a full context was not refused: {err}")
    # --prompt that cannot fit at all: a message and a failure status.
    status, out, err = run(args + ["--prompt", "word " * 80])
    expect(status == 1 and out == "" and "this message does not fit" in err,
           f"an oversized --prompt gave status {status}, stdout {out!r}, stderr {err!r}")
    print("overflow-stop: the full context stopped the answer and refused the next message")


def check_overflow_shift(chat, golden):
    args = golden_args(chat, golden, ctx=TINY_CTX, overflow="shift")
    questions = [t["user"] for t in golden["turns"]] + ["What is 3 + 3?"]
    status, out, err = run(args, "".join(q + "\n" for q in questions))
    expect(status == 0, f"exited with {status}: {err}")
    expect("dropped the 2 oldest exchanges" in err, f"no shift reported: {err}")
    expect("context is full" not in err, f"shift still stopped: {err}")
    # With both earlier exchanges dropped, the model sees the system prompt and the last message
    # alone: its greedy answer must be the one a fresh conversation gets.
    status, alone, err2 = run(args + ["--prompt", questions[-1]])
    expect(status == 0, f"--prompt exited with {status}: {err2}")
    expected = "".join(t["answer"] + "\n" for t in golden["turns"]) + alone
    expect(out == expected, f"answers {out!r}; expected {expected!r}")

    # An answer that fills the context goes on after dropping the oldest exchange; up to that
    # point it is the answer --ctx-overflow stop cut.
    stdin_text = questions[0] + "\nTell me a long story about the sea.\n"
    status, shifted, err = run(golden_args(chat, golden, 120, ctx=TINY_CTX, overflow="shift"),
                               stdin_text)
    expect(status == 0 and "dropped the 1 oldest exchange" in err,
           f"status {status}, no shift during the answer: {err}")
    status, stopped, err = run(golden_args(chat, golden, 120, ctx=TINY_CTX, overflow="stop"),
                               stdin_text)
    expect(status == 0 and "context is full" in err, f"stop: status {status}: {err}")
    cut = stopped.removesuffix("\n")
    expect(shifted.startswith(cut) and len(shifted) > len(stopped),
           f"the shifted answer does not continue the stopped one:\n{shifted!r}\n{stopped!r}")
    print("overflow-shift: dropped old exchanges at a new message and during an answer; answers "
          "match a fresh conversation")


def main():
    chat, golden_file, check = sys.argv[1:4]
    golden = json.loads(Path(golden_file).read_text())
    checks = {"golden-stdin": check_golden_stdin, "golden-pty": check_golden_pty,
              "interrupt": check_interrupt, "overflow-stop": check_overflow_stop,
              "overflow-shift": check_overflow_shift}
    checks[check](chat, golden)


if __name__ == "__main__":
    main()
