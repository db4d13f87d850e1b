"""Reference log-likelihood scores from llama-cpp-python, for the tests of
`cts_llama::loglik`.

Usage: llama_cpp_loglik.py < request.json
request: {"model": PATH, "n_ctx": N, "threads": T,
          "items": [{"context": str, "continuations": [str, ...]}, ...]}
Prints one list per item of {"logprob", "tokens", "is_greedy"} per continuation.

Independent of CTS: each (context, continuation) pair is tokenized as
lm-evaluation-harness's `_encode_pair` does (trailing whitespace of the
context moves to the continuation; the continuation is the joined text's
tokens past the context's), the whole sequence minus its last token is
evaluated from scratch with `logits_all=True`, and the log-softmax is taken
in float64 with numpy.
"""
import json
import sys

import numpy as np
from llama_cpp import Llama


def encode_pair(llm, context, continuation):
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    enc = lambda s: llm.tokenize(s.encode("utf-8"), add_bos=True, special=True)
    whole = enc(context + continuation)
    ctx = enc(context)
    return ctx, whole[len(ctx):]


def main():
    req = json.load(sys.stdin)
    llm = Llama(
        model_path=req["model"],
        logits_all=True,
        n_ctx=req.get("n_ctx", 2048),
        n_threads=req.get("threads", 2),
        n_threads_batch=req.get("threads", 2),
        verbose=False,
    )
    out = []
    for item in req["items"]:
        scores = []
        for continuation in item["continuations"]:
            ctx, cont = encode_pair(llm, item["context"], continuation)
            tokens = ctx + cont
            llm.reset()
            llm.eval(tokens[:-1])
            rows = np.array(llm.scores[len(ctx) - 1 : len(tokens) - 1], dtype=np.float64)
            shifted = rows - rows.max(axis=1, keepdims=True)
            logsm = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            scores.append({
                "logprob": float(sum(logsm[i, t] for i, t in enumerate(cont))),
                "tokens": len(cont),
                "is_greedy": bool(all(int(rows[i].argmax()) == t for i, t in enumerate(cont))),
            })
        out.append(scores)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
