"""CTS training runner (written by `cts train`; do not edit a copy in place).

Reads trainer-config.json (argv[1]), trains with TRL on the release's
training split, merges LoRA, saves Hugging Face weights and converts them to
GGUF with llama.cpp's converter. Progress goes to stdout as one JSON object
per line ({"event": ...}); everything else goes to stderr.
"""
import json
import os
import subprocess
import sys
import time

CONFIG_FORMAT = "cts-train-config/1"
PROGRESS = sys.stdout


# Under `accelerate launch` with several processes only the main one reports,
# writes shared files, merges and converts; main() sets this from
# Accelerate's process state.
IS_MAIN = True


def emit(event, **fields):
    if not IS_MAIN:
        return
    PROGRESS.write(json.dumps({"event": event, **fields}) + "\n")
    PROGRESS.flush()


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("format") != CONFIG_FORMAT:
        sys.exit(f"config format {cfg.get('format')!r} is not {CONFIG_FORMAT!r}")
    # Library chatter to stderr so stdout carries only progress.
    sys.stdout = sys.stderr

    hp = cfg["hyperparameters"]
    method = cfg["method"]
    out = cfg["output_dir"]
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)

    global IS_MAIN
    from accelerate import PartialState

    procs = PartialState()
    IS_MAIN = procs.is_main_process

    import torch
    import transformers
    import trl
    import peft
    import datasets
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    transformers.set_seed(hp["seed"])
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    # 1. The GGUF base, dequantized by Transformers.
    emit("stage", name="load")
    gguf = cfg["base_model"]["path"]
    gdir, gname = os.path.split(os.path.abspath(gguf))
    tok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
    if tok.chat_template is None:
        from gguf import GGUFReader

        field = GGUFReader(gguf).fields.get("tokenizer.chat_template")
        if field is not None:
            tok.chat_template = bytes(field.parts[field.data[0]]).decode("utf-8")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    qmodel = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gname, dtype=torch.float32)

    # 2. Rewrite as plain safetensors + a config without quantization_config:
    # a model that keeps the GGUF quantization config cannot be trained or saved.
    emit("stage", name="dequantize")
    plain = os.path.join(work, "base-hf")
    if IS_MAIN:
        os.makedirs(plain, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in qmodel.state_dict().items()}
        if getattr(qmodel.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
        save_file(state, os.path.join(plain, "model.safetensors"), metadata={"format": "pt"})
        conf = qmodel.config.to_dict()
        conf.pop("quantization_config", None)
        with open(os.path.join(plain, "config.json"), "w", encoding="utf-8") as f:
            json.dump(conf, f, indent=2)
        tok.save_pretrained(plain)
        del state
    del qmodel
    procs.wait_for_everyone()
    model = AutoModelForCausalLM.from_pretrained(plain, dtype=torch.float32)

    # 3. The release's training split, only the columns the trainer reads.
    columns = {"sft": ["messages"], "dpo": ["prompt", "chosen", "rejected"],
               "kto": ["prompt", "completion", "label"]}[method]
    ds = datasets.load_dataset("json", data_files=cfg["train_file"]["path"], split="train")
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        sys.exit(f"{cfg['train_file']['path']}: missing columns {missing}")
    ds = ds.remove_columns([c for c in ds.column_names if c not in columns])

    lora = hp["lora"]
    peft_config = None
    if not hp["full_fine_tune"]:
        peft_config = peft.LoraConfig(r=lora["r"], lora_alpha=lora["alpha"],
                                      lora_dropout=lora["dropout"],
                                      target_modules=lora["target_modules"],
                                      task_type="CAUSAL_LM")

    common = dict(
        output_dir=os.path.join(work, "trainer"), max_steps=hp["max_steps"],
        per_device_train_batch_size=hp["batch_size"],
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        learning_rate=hp["learning_rate"], seed=hp["seed"], data_seed=hp["seed"],
        logging_steps=1, save_strategy="no", report_to=[], max_length=hp["max_length"],
        include_num_input_tokens_seen=True, dataloader_num_workers=0,
        disable_tqdm=True, bf16=False, fp16=False,
        use_cpu=not torch.cuda.is_available(),
    )
    if method == "sft":
        args = trl.SFTConfig(**common)
        trainer_cls = trl.SFTTrainer
    elif method == "dpo":
        args = trl.DPOConfig(beta=hp["beta"], **common)
        trainer_cls = trl.DPOTrainer
    else:
        args = trl.KTOConfig(beta=hp["beta"], **common)
        trainer_cls = trl.KTOTrainer

    max_steps = hp["max_steps"]

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs or "train_loss" not in logs:
                emit("log", step=state.global_step, max_steps=max_steps,
                     loss=logs.get("loss"),
                     tokens=int(state.num_input_tokens_seen or 0) or None)

    trainer = trainer_cls(model=model, args=args, train_dataset=ds,
                          processing_class=tok, peft_config=peft_config,
                          callbacks=[Progress()])
    kept = len(trainer.train_dataset)
    if kept == 0:
        sys.exit(f"{cfg['train_file']['path']}: the trainer dropped all {len(ds)} examples "
                 f"(every prompt is longer than max_length = {hp['max_length']} tokens); "
                 f"raise max_length in the --config file")
    emit("stage", name="train")
    result = trainer.train()
    m = result.metrics
    last_loss = next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None)
    emit("trained", train_runtime=m.get("train_runtime", 0.0),
         steps_per_second=m.get("train_steps_per_second", 0.0),
         samples_per_second=m.get("train_samples_per_second", 0.0),
         tokens=int(trainer.state.num_input_tokens_seen or 0), loss=last_loss)

    # 4. Merge LoRA and save plain Hugging Face weights (the main process;
    # ZeRO-2 keeps full weights on every process).
    if not IS_MAIN:
        return
    emit("stage", name="merge")
    model = trainer.model
    if peft_config is not None:
        model = model.merge_and_unload()
    hf_dir = os.path.join(out, "hf")
    model.save_pretrained(hf_dir, safe_serialization=True)
    tok.save_pretrained(hf_dir)

    # 5. Back to GGUF with llama.cpp's converter.
    emit("stage", name="convert")
    gguf_out = os.path.join(out, "model.gguf")
    subprocess.run([sys.executable, cfg["converter"], hf_dir, "--outfile", gguf_out,
                    "--outtype", hp["gguf_outtype"]], check=True,
                   stdout=sys.stderr, stderr=sys.stderr)

    import importlib.metadata as md
    versions = {n: md.version(n) for n in
                ["torch", "transformers", "trl", "peft", "gguf", "accelerate",
                 "safetensors", "datasets"]}
    versions["python"] = sys.version.split()[0]
    emit("done", gguf=gguf_out, hf_dir=hf_dir, versions=versions)


if __name__ == "__main__":
    main()
