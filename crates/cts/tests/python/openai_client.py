"""Drives `cts serve-model` with the official `openai` Python client.

Usage: openai_client.py BASE_URL  -> prints one JSON object with what it saw.
"""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1], api_key="not-needed")
messages = [
    {"role": "system", "content": "You are a careful clinical pharmacist. This is a synthetic vignette."},
    {"role": "user", "content": "A patient on warfarin asks for a painkiller. Name one safer choice than ibuprofen."},
]
models = [m.id for m in client.models.list().data]
plain = client.chat.completions.create(model=models[0], messages=messages, max_tokens=32, temperature=0, seed=7)
pieces = []
finish = None
for chunk in client.chat.completions.create(
    model=models[0], messages=messages, max_tokens=32, temperature=0, seed=7, stream=True
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.choices and chunk.choices[0].finish_reason:
        finish = chunk.choices[0].finish_reason
print(json.dumps({
    "models": models,
    "content": plain.choices[0].message.content,
    "finish_reason": plain.choices[0].finish_reason,
    "usage": {"prompt": plain.usage.prompt_tokens, "completion": plain.usage.completion_tokens},
    "fingerprint": plain.system_fingerprint,
    "streamed": "".join(pieces),
    "stream_chunks": len(pieces),
    "stream_finish": finish,
}))
