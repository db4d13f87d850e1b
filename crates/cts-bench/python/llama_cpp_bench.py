"""llama.cpp's own speed through llama-cpp-python, for `cts bench generate`.

Usage: llama_cpp_bench.py MODEL N_TOKENS THREADS FLASH_ATTN(0|1) < prompt-text
Greedy decoding of exactly N_TOKENS (an end-of-generation token is fed back
like any other, as CTS's fixed-length measurement does).
Prints {"prompt_tokens", "prompt_tokens_per_s", "gen_tokens", "gen_tokens_per_s"}.
"""
import json
import sys
import time

from llama_cpp import Llama

model, n_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
flash_attn = len(sys.argv) > 4 and sys.argv[4] == "1"
prompt = sys.stdin.read()
llm = Llama(
    model_path=model,
    n_ctx=4096,
    n_threads=threads,
    n_threads_batch=threads,
    flash_attn=flash_attn,
    verbose=False,
)
tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
start = time.perf_counter()
llm.eval(tokens)
prompt_s = time.perf_counter() - start
generated = 0
start = time.perf_counter()
for _ in range(n_tokens):
    token = llm.sample(temp=0.0)
    llm.eval([token])
    generated += 1
gen_s = time.perf_counter() - start
print(json.dumps({
    "prompt_tokens": len(tokens),
    "prompt_tokens_per_s": len(tokens) / prompt_s,
    "gen_tokens": generated,
    "gen_tokens_per_s": generated / gen_s if gen_s > 0 else 0.0,
}))
