"""The widget's review sentence (widget/render.js reviewReason) for each reason the
API gives, run in Node (the browser tests cover the rest of the widget)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RENDER = Path(__file__).resolve().parents[1] / "widget" / "render.js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="no node")


def review_reason(data: dict) -> str:
    script = ("global.window = {}; global.document = {createElement: () => ({})};"
              f"require({json.dumps(str(RENDER))});"
              f"process.stdout.write(window.HotlineRender.reviewReason({json.dumps(data)}));")
    return subprocess.run(["node", "-e", script], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def test_a_proposal_is_named_as_such_with_the_nearest_type():
    text = review_reason({"type": {"label": "complaint", "confidence": 0.62},
                          "department": {"confidence": 0.9, "top3": []},
                          "review_reasons": ["type:other"]})
    assert text.startswith("内容更像建议、感谢或意见") and "「投诉」只是最接近的类型" in text
    assert "把握度" not in text


def test_low_confidence_heads_are_named_with_their_numbers():
    text = review_reason({"type": {"label": "fault", "confidence": 0.42},
                          "department": {"confidence": 0.3, "top3": []},
                          "review_reasons": ["department", "type"]})
    assert text == "承办部门把握度仅 30%；诉求类型把握度仅 42%，请核对后再派单。"
