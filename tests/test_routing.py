"""The type head blended with a sentence encoder, trained on the project's own
phone-style calls (they ship in the repository), served through the bundle."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.conftest import make_settings


@pytest.fixture(scope="module")
def calls():
    from training import gov_data

    rows = gov_data.phone_calls()
    train = [r for r in rows if r["split"] == "train"][::3]
    dev = [r for r in rows if r["split"] == "dev"]
    return train, dev


@pytest.fixture(scope="module")
def blended(search_home, calls, tmp_path_factory):
    """A bundle whose type head blends the n-gram head with USE-m3 vectors."""
    from training.train_classifier import train_head

    settings = make_settings(search_home)
    out = tmp_path_factory.mktemp("blend") / "model"
    m = train_head("type", None, out, ["title", "detail"], "type", extra_rows=calls[0],
                   progress=False, encoder="use", settings=settings,
                   sources=[{"name": "phone_calls", "rows": len(calls[0])}])
    return settings, out, m


def test_blended_head_is_calibrated_and_recorded(blended):
    from index.embedders import get_embedder

    settings, out, m = blended
    assert m["encoder"] == {"embedder": "use",
                            "identity": get_embedder("use", settings).identity}
    assert m["sources"] == [{"name": "phone_calls", "rows": m["n_rows"]}]
    assert m["params"]["blend_weight"] == 0.5 and m["metrics"]["ece"] < 0.1
    assert set(m["labels"]) == {"consult", "complaint", "fault"}
    files = {p.name for p in (out / "type").rglob("*") if p.is_file()}
    assert {"blend.json", "encoder.json", "head.json", "manifest.json"} <= files


def test_blend_beats_either_member_on_unseen_calls(blended, calls):
    """Dev groups are situations no training row came from."""
    from sklearn.metrics import f1_score

    from classifier import load_bundle
    from classifier.features import TextFeatures

    settings, out, _ = blended
    head = load_bundle(out, settings=settings).heads["type"]
    dev = calls[1]
    prep = TextFeatures([r["title"] for r in dev])
    y = [r["type"] for r in dev]
    labels = head.labels_

    def f1(p):
        return f1_score(y, [labels[i] for i in p.argmax(1)], average="macro")

    blend = f1(head.predict_proba(prep))
    text = f1(head.text_head.predict_proba(prep))
    enc = f1(head.encoder_head.predict_proba(head.vectors(prep)))
    assert blend >= max(text, enc) - 0.01 and blend > 0.8, (blend, text, enc)


def test_blend_refuses_another_embedder(blended, tmp_path):
    import shutil

    from classifier import load_bundle
    from classifier.errors import BadModel

    settings, out, _ = blended
    copy = tmp_path / "model"
    shutil.copytree(out, copy)
    path = copy / "type" / "encoder" / "encoder.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    state["embedder_identity"] = "use-m3/other"
    path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(BadModel, match="use-m3/other"):
        load_bundle(copy, settings=settings)


def test_batch_cli_and_bundle_agree_on_a_blended_model(blended, calls, tmp_path):
    """A phone call arrives as a title with an empty detail."""
    from classifier import load_bundle
    from hotline.cli.main import main

    settings, out, _ = blended
    dev = calls[1][:120]
    inp, res = tmp_path / "in.csv", tmp_path / "out.csv"
    with open(inp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "detail"])
        w.writerows([r["title"], ""] for r in dev)
    assert main(["--home", str(settings.home), "reclassify", str(inp), "--model", str(out),
                 "--text-cols", "title,detail", "--out", str(res), "--no-progress"]) == 0
    with open(res, encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    preds = load_bundle(out, settings=settings).predict([r["title"] for r in dev], evidence=False)
    assert [g["pred_type"] for g in got] == [p.type for p in preds]
    np.testing.assert_allclose([float(g["pred_type_conf"]) for g in got],
                               [p.type_conf for p in preds], atol=2e-4)
