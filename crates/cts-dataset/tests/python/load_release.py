"""Loads every export of a CTS dataset release with Hugging Face `datasets`
(the library TRL's trainers read data through) and checks columns, types
and conversational roles. Usage: load_release.py RELEASE_DIR. Prints a JSON
summary; exits non-zero on the first problem."""

import json
import os
import sys

import datasets

datasets.disable_progress_bars()
datasets.logging.set_verbosity_error()

release = sys.argv[1]
manifest = json.load(open(os.path.join(release, "manifest.json")))

EXPECTED = {
    "sft": {"id": "string", "messages": "messages"},
    "dpo": {"id": "string", "prompt": "messages", "chosen": "messages", "rejected": "messages"},
    "dpo-flat": {"id": "string", "prompt": "string", "chosen": "string", "rejected": "string"},
    "kto": {"id": "string", "prompt": "messages", "completion": "messages", "label": "bool"},
    "prm": {"id": "string", "prompt": "string", "completions": "strings", "labels": "bools"},
}
ROLES = {
    ("sft", "messages"): [["system", "user", "assistant"], ["user", "assistant"]],
    ("dpo", "prompt"): [["system", "user"], ["user"]],
    ("dpo", "chosen"): [["assistant"]],
    ("dpo", "rejected"): [["assistant"]],
    ("kto", "prompt"): [["system", "user"], ["user"]],
    ("kto", "completion"): [["assistant"]],
}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check_feature(export, column, feature, kind):
    if kind == "string":
        ok = isinstance(feature, datasets.Value) and feature.dtype == "string"
    elif kind == "bool":
        ok = isinstance(feature, datasets.Value) and feature.dtype == "bool"
    elif kind == "strings":
        inner = getattr(feature, "feature", None)
        ok = isinstance(inner, datasets.Value) and inner.dtype == "string"
    elif kind == "bools":
        inner = getattr(feature, "feature", None)
        ok = isinstance(inner, datasets.Value) and inner.dtype == "bool"
    elif kind == "messages":
        # A list of {"role": string, "content": string}.
        inner = feature.feature if hasattr(feature, "feature") else (feature[0] if isinstance(feature, list) else None)
        ok = (
            isinstance(inner, dict)
            and set(inner) == {"role", "content"}
            and all(isinstance(inner[k], datasets.Value) and inner[k].dtype == "string" for k in inner)
        )
    else:
        ok = False
    if not ok:
        fail(f"{export}.{column}: feature {feature!r} is not {kind}")


summary = {}
exports = sorted({f["export"] for f in manifest["files"]})
for export in exports:
    files = {f["split"]: os.path.join(release, f["path"]) for f in manifest["files"] if f["export"] == export}
    # The layout <export>/<split>.jsonl is what `load_dataset(path)` resolves into splits by itself.
    by_dir = datasets.load_dataset("json", data_dir=os.path.join(release, export))
    if sorted(by_dir.keys()) != sorted(files):
        fail(f"{export}: splits found by folder {sorted(by_dir.keys())} != manifest {sorted(files)}")
    dd = datasets.load_dataset("json", data_files=files)
    counts = {}
    for split, ds in dd.items():
        want = next(f["examples"] for f in manifest["files"] if f["export"] == export and f["split"] == split)
        if len(ds) != want:
            fail(f"{export}/{split}: {len(ds)} rows, manifest says {want}")
        counts[split] = len(ds)
        if export in EXPECTED:
            if set(ds.column_names) != set(EXPECTED[export]):
                fail(f"{export}/{split}: columns {ds.column_names} != {sorted(EXPECTED[export])}")
            for column, kind in EXPECTED[export].items():
                check_feature(export, column, ds.features[column], kind)
            for row in ds:
                for (e, column), allowed in ROLES.items():
                    if e == export and [m["role"] for m in row[column]] not in allowed:
                        fail(f"{export}/{split} {row['id']}: roles {[m['role'] for m in row[column]]} in {column}")
                if export == "prm" and len(row["completions"]) != len(row["labels"]):
                    fail(f"prm/{split} {row['id']}: {len(row['completions'])} steps, {len(row['labels'])} labels")
        else:
            # prm-rich: every step has text, rating and reviewers.
            for row in ds:
                for step in row["steps"]:
                    if not isinstance(step["text"], str) or not isinstance(step["reviewers"], list):
                        fail(f"{export}/{split} {row['id']}: malformed step {step}")
    summary[export] = counts

print(json.dumps({"datasets": datasets.__version__, "exports": summary}, sort_keys=True))
