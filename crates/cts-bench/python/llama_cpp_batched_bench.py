"""llama.cpp's own batched decoding, for `cts bench generate`: the ceiling
any wrapper can reach on this machine and model.

Usage: llama_cpp_batched_bench.py MODEL N_TOKENS THREADS FLASH_ATTN(0|1) N_SEQ < prompt-text
Like llama.cpp's batched-bench: decode the prompt once, copy it to N_SEQ
sequences, then decode N_TOKENS steps of one token per sequence (no
sampling; each step feeds the last prompt token) and time them.
Prints {"n_seq", "tokens", "seconds", "tokens_per_s"} (aggregate).
"""
import ctypes
import json
import sys
import time

import llama_cpp as L

model_path, n_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
flash_attn, n_seq = sys.argv[4] == "1", int(sys.argv[5])
prompt = sys.stdin.read().encode("utf-8")

L.llama_backend_init()
L.llama_log_set(ctypes.cast(0, L.llama_log_callback), ctypes.c_void_p(0))
model = L.llama_model_load_from_file(model_path.encode(), L.llama_model_default_params())
params = L.llama_context_default_params()
params.n_ctx = 4096
params.n_batch = 512
params.n_ubatch = 512
params.n_seq_max = n_seq
params.n_threads = threads
params.n_threads_batch = threads
params.flash_attn = flash_attn
params.kv_unified = False
ctx = L.llama_init_from_model(model, params)
vocab = L.llama_model_get_vocab(model)

buf = (L.llama_token * 4096)()
n_prompt = L.llama_tokenize(vocab, prompt, len(prompt), buf, 4096, False, True)
tokens = list(buf[:n_prompt])

batch = L.llama_batch_init(512, 0, n_seq)


def fill(items):
    batch.n_tokens = len(items)
    for i, (tok, pos, seq, logits) in enumerate(items):
        batch.token[i] = tok
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = 1 if logits else 0


for start in range(0, len(tokens), 512):
    chunk = tokens[start:start + 512]
    fill([(t, start + i, 0, start + i == len(tokens) - 1) for i, t in enumerate(chunk)])
    assert L.llama_decode(ctx, batch) == 0
mem = L.llama_get_memory(ctx)
for s in range(1, n_seq):
    L.llama_memory_seq_cp(mem, 0, s, -1, -1)

last = tokens[-1]
start = time.perf_counter()
for step in range(n_tokens):
    fill([(last, len(tokens) + step, s, True) for s in range(n_seq)])
    assert L.llama_decode(ctx, batch) == 0
seconds = time.perf_counter() - start
print(json.dumps({
    "n_seq": n_seq,
    "tokens": n_seq * n_tokens,
    "seconds": seconds,
    "tokens_per_s": n_seq * n_tokens / seconds,
}))
