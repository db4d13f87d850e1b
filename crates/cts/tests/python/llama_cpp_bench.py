"""llama.cpp's own speed through llama-cpp-python, for `cts bench generate`.

Usage: llama_cpp_bench.py MODEL N_TOKENS THREADS < prompt-text
Prints {"prompt_tokens", "prompt_tokens_per_s", "gen_tokens", "gen_tokens_per_s"}.
"""
import json
import sys
import time

from llama_cpp import Llama

model, n_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prompt = sys.stdin.read()
llm = Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
start = time.perf_counter()
llm.eval(tokens)
prompt_s = time.perf_counter() - start
generated = 0
start = time.perf_counter()
for _ in range(n_tokens):
    token = llm.sample(temp=0.0)
    if llm.token_eos() == token:
        break
    llm.eval([token])
    generated += 1
gen_s = time.perf_counter() - start
print(json.dumps({
    "prompt_tokens": len(tokens),
    "prompt_tokens_per_s": len(tokens) / prompt_s,
    "gen_tokens": generated,
    "gen_tokens_per_s": generated / gen_s if gen_s > 0 else 0.0,
}))
