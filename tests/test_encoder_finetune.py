"""The hotline encoder's fine-tuning recipe: training pairs, paraphrases, selection
in the home, and (slow) one tiny fine-tuning run end to end."""
from __future__ import annotations

import random
import tomllib

import numpy as np
import pytest

from foundation.settings import Settings
from training import paraphrase
from training.encoder_data import is_sts_dev, demo_pairs, sts_dev_pairs, sts_pairs, training_pairs
from training.encoder_finetune import NAME, select_for_home
from training.eval_embedder import read_pairs, trained_files


def _write_sts(dirpath, name, n):
    (dirpath / "sts_zh").mkdir(parents=True, exist_ok=True)
    with open(dirpath / "sts_zh" / f"{name}.csv", "w", encoding="utf-8") as fh:
        fh.write("sentence1,sentence2,label\n")
        for i in range(n):
            fh.write(f"第{i}个问题怎么办理,问题{i}在哪里办,{i % 2}\n")


def test_paraphrases_are_deterministic_and_change_the_text():
    q = "疫情防控期间税务局可通过什么渠道预约服务？"
    for style in paraphrase.STYLES:
        a = paraphrase.rewrite(q, style, random.Random(3))
        assert a == paraphrase.rewrite(q, style, random.Random(3))
        assert a and a != q, style
    assert " " in paraphrase.rewrite(q, "keyword", random.Random(0))
    assert "税务局" in paraphrase.rewrite(q, "keyword", random.Random(0))
    with pytest.raises(ValueError, match="unknown paraphrase style 'shout'"):
        paraphrase.rewrite(q, "shout", random.Random(0))


def test_sts_training_share_never_holds_a_dev_pair(tmp_path):
    _write_sts(tmp_path, "BQ_valid", 200)
    _write_sts(tmp_path, "LCQMC_valid", 50)
    (train,) = sts_pairs(tmp_path, cap=10_000, seed=0)
    dev = sts_dev_pairs(tmp_path, "BQ_valid")
    assert train.name == "sts:BQ_valid" and train.loss == "cosent"
    train_keys = {(r["sentence1"], r["sentence2"]) for r in train.rows}
    dev_keys = {(r["sentence1"], r["sentence2"]) for r in dev}
    assert dev_keys and not train_keys & dev_keys
    assert len(train_keys) + len(dev_keys) == 200
    # LCQMC is the retrieval dev set: never a training source
    assert all("LCQMC" not in s.name for s in sts_pairs(tmp_path, cap=10, seed=0))


def test_eval_scores_a_trained_set_on_its_held_out_fifth_only(tmp_path):
    _write_sts(tmp_path, "BQ_valid", 200)

    class Fake:
        manifest = {"training": {"sources": [{"name": "sts:BQ_valid"}, {"name": "demo:x"}]}}

    assert trained_files(Fake()) == {"BQ_valid"}
    held = read_pairs(tmp_path / "sts_zh" / "BQ_valid.csv", dev_only=True)
    assert len(held) == len(sts_dev_pairs(tmp_path, "BQ_valid")) < 200
    assert all(is_sts_dev({"sentence1": a, "sentence2": b}) for a, b, _ in held)


def test_own_recipe_needs_no_shared_data(tmp_path):
    settings = Settings.load({"home": tmp_path / "home", "shared_data": tmp_path / "nowhere"})
    sets = training_pairs(settings, cap=50, seed=0, demo_scale=0.05)
    assert [s.name for s in sets] == [demo_pairs(50, 0, 0.05)[0].name]
    rows = sets[0].rows
    assert len(rows) == 50 and all({"anchor", "positive", "negative"} <= set(r) for r in rows)
    assert all(r["anchor"] != r["positive"] != r["negative"] for r in rows)


def test_written_ncp_pairs_join_training_questions_with_same_document_negatives(tmp_path):
    from training.encoder_data import ncp_written_pairs
    from training.ncp_data import ncp_split

    assert ncp_written_pairs(tmp_path / "nowhere", cap=10, seed=0) == []    # no shared data
    shared = Settings.load(env={}).shared_data
    if not (shared / "ncp_policy_qa" / "qa_train.csv").is_file():
        pytest.skip(f"shared NCP data not at {shared}")
    train, _dev = ncp_split(shared)
    doc_of: dict[str, set] = {}
    for r in train:            # a question text can recur in several documents
        doc_of.setdefault(r["question"], set()).add(r["docid"])
    sets = ncp_written_pairs(shared, cap=5000, seed=0)
    rows = [r for s in sets for r in s.rows]
    assert len(rows) == 2000 and all(s.loss == "mnrl" for s in sets)
    assert all(r["positive"] in doc_of for r in rows)                  # training questions only
    with_neg = [r for r in rows if "negative" in r]
    assert with_neg and all(doc_of[r["negative"]] & doc_of[r["positive"]]
                            and r["negative"] != r["positive"] for r in with_neg)
    assert rows == [r for s in ncp_written_pairs(shared, cap=5000, seed=0) for r in s.rows]


def test_select_for_home_keeps_other_settings(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "hotline.toml").write_text('embedder = "use"\nworkers = 3\n\n[dispatch]\nx = 1\n',
                                       encoding="utf-8")
    settings = Settings.load({"home": home}, env={})
    path, warning = select_for_home(settings)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["embedder"] == NAME and data["workers"] == 3 and data["dispatch"] == {"x": 1}
    assert Settings.load({"home": home}, env={}).embedder == NAME
    # a fresh home gets the file
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    select_for_home(Settings.load({"home": fresh}, env={}))
    assert Settings.load({"home": fresh}, env={}).embedder == NAME


def test_the_home_serves_the_encoder_that_searches_the_dev_set_better():
    from training.encoder_select import choose

    tuned = {"R@1": 0.8594, "MRR@10": 0.9119, "queries": 320}
    base = {"R@1": 0.8844, "MRR@10": 0.9237, "queries": 320}
    serve, why = choose({NAME: tuned, "e5": base}, NAME, "e5")
    assert serve == "e5" and "0.8594 vs 0.8844" in why and "below its base" in why
    assert choose({NAME: base, "e5": tuned}, NAME, "e5")[0] == NAME
    # R@1 tied: MRR@10 decides; a full tie keeps the fine-tuned model
    assert choose({NAME: {**base, "MRR@10": 0.92}, "e5": base}, NAME, "e5")[0] == "e5"
    assert choose({NAME: dict(base), "e5": base}, NAME, "e5")[0] == NAME


def test_dev_scores_search_the_ncp_dev_set(tmp_path):
    """A quick real run of the measurement the command takes (40 dev queries,
    a KB of their entries and as many others, the default encoder)."""
    from training.encoder_select import dev_available, dev_scores

    settings = Settings.load({"home": tmp_path}, env={})
    if not (settings.shared_data / "ncp_policy_qa" / "qa_train.csv").is_file():
        pytest.skip(f"shared NCP data not at {settings.shared_data}")
    assert dev_available(settings)
    assert not dev_available(Settings.load({"shared_data": "/nowhere"}, env={}))
    got = dev_scores(settings, ("use",), limit=40)["use"]
    assert got["queries"] == 40 and 0.3 < got["R@1"] <= got["R@5"] <= 1.0


def test_time_budget_ends_training_and_says_where():
    from transformers import TrainerControl, TrainerState

    from training.time_budget import TimeBudget

    now = [100.0]
    budget, state, control = TimeBudget(60, clock=lambda: now[0]), TrainerState(), TrainerControl()
    state.max_steps = 10
    for step in range(1, 11):
        budget.on_step_begin(None, state, control)
        now[0] += 25
        state.global_step = step
        budget.on_step_end(None, state, control)
        if control.should_training_stop:
            break
    assert budget.stopped_at == 3 and state.global_step == 3
    # no budget, or the last step anyway: nothing is cut short
    unlimited, control = TimeBudget(None, clock=lambda: now[0]), TrainerControl()
    unlimited.on_step_begin(None, state, control)
    now[0] += 10_000
    unlimited.on_step_end(None, state, control)
    assert not control.should_training_stop and unlimited.stopped_at is None
    with pytest.raises(ValueError, match="positive"):
        TimeBudget(0)


def test_missing_artifact_names_the_command(tmp_path):
    from foundation.errors import ArtifactError
    from index.embedders import get_embedder
    from training.embedders import ensure

    settings = Settings.load({"home": tmp_path}, env={})
    with pytest.raises(ArtifactError, match="hotline train --encoder"):
        get_embedder(NAME, settings)
    with pytest.raises(ArtifactError, match="hotline train --encoder"):
        ensure(NAME, settings)


@pytest.mark.slow
def test_tiny_fine_tune_exports_a_served_encoder(tmp_path):
    """The whole recipe on the project's own data, a few steps: artifact with
    manifest (sources, loss curve, parity), served by the e5 backend under its
    own name, different from the base model, refused under the base's name."""
    from foundation.errors import ArtifactError
    from index.embedders import get_embedder
    from index.embedders.e5 import E5Embedder
    from training.encoder_finetune import fine_tune

    settings = Settings.load({"home": tmp_path / "home", "shared_data": tmp_path / "nowhere"}, env={})
    m = fine_tune(settings, settings.embedders_root / NAME, cap=48, batch_size=16, max_seq_length=32,
                  sources=("demo",), demo_scale=0.05, progress=False)
    assert m["name"] == NAME and m["family"] == "e5"
    assert m["training"]["steps"] == 3 and m["training"]["loss_curve"] is not None
    assert m["training"]["sources"][0]["rows"] == 48
    assert m["parity"]["onnx_int8_vs_torch_padded_batches"]["mean_cos"] >= 0.995
    tuned = get_embedder(NAME, settings)
    base = get_embedder("e5", settings)
    texts = ["社保卡丢了怎么补办", "路灯坏了找谁修"]
    a, b = tuned.embed(texts), base.embed(texts)
    assert a.shape == (2, 384) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-3)
    assert tuned.identity != base.identity and tuned.identity.startswith(NAME)
    assert not np.allclose(a, b, atol=1e-3)
    with pytest.raises(ArtifactError, match="expected 'e5'"):
        E5Embedder(settings.embedders_root / NAME, name="e5")


def test_paws_x_training_pairs_are_seen_three_times_and_none_is_dev(tmp_path):
    _write_sts(tmp_path, "PAWSX_valid", 200)
    (train,) = sts_pairs(tmp_path, cap=50, seed=0)
    assert train.name == "sts:PAWSX_valid" and len(train.rows) == 150
    assert train.record()["repeats"] == 3
    dev = {(r["sentence1"], r["sentence2"]) for r in sts_dev_pairs(tmp_path, "PAWSX_valid")}
    assert dev and not dev & {(r["sentence1"], r["sentence2"]) for r in train.rows}


def test_embed_serves_the_encoder_that_scores_the_sts_pairs_better(tmp_path):
    """Search and `hotline embed` are chosen apart: a model can search the policy
    KB worse and compare sentence pairs better (session 18's gov run)."""
    from training.encoder_select import choose_similarity

    scores = {"PAWS-X": {NAME: 0.6289, "e5": 0.5331}, "LCQMC": {NAME: 0.8839, "e5": 0.8907},
              "BQ": {NAME: 0.7911, "e5": 0.7577}}
    serve, why = choose_similarity(scores, NAME, "e5")
    assert serve == NAME and "PAWS-X 0.629 vs 0.533" in why
    worse = {k: {NAME: v["e5"] - 0.01, "e5": v["e5"]} for k, v in scores.items()}
    assert choose_similarity(worse, NAME, "e5")[0] == "e5"
    assert choose_similarity({}, NAME, "e5")[0] == NAME
    # the home's settings file takes both roles; `hotline embed` reads the second
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings.load({"home": home}, env={})
    assert settings.embed_model == settings.embedder == "use"
    select_for_home(settings, "e5")
    select_for_home(settings, NAME, key="similarity_embedder")
    again = Settings.load({"home": home}, env={})
    assert (again.embedder, again.similarity_embedder, again.embed_model) == ("e5", NAME, NAME)
    select_for_home(again, "e5", key="similarity_embedder")
    data = tomllib.loads((home / "hotline.toml").read_text(encoding="utf-8"))
    assert data == {"embedder": "e5", "similarity_embedder": "e5"}


def test_without_the_shared_data_both_roles_get_the_fine_tuned_encoder_unmeasured(tmp_path):
    from hotline.cli.train import _measured_choice, _similarity_choice

    settings = Settings.load({"home": tmp_path, "shared_data": tmp_path / "nowhere"}, env={})
    for choice in (_measured_choice, _similarity_choice):
        serve, why, figures = choice(settings, NAME, "measured")
        assert serve == NAME and "unmeasured" in why and str(tmp_path / "nowhere") in why
        assert figures is None
        assert choice(settings, NAME, "tuned") == (NAME, "--select tuned", None)
