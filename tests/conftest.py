"""Shared fixtures. Keep each one small and real: homes are built in temporary
directories with the product's own library calls, once per session where they
are expensive. Other areas may add fixtures here; keep them grouped by area."""
from __future__ import annotations

import pytest

from hotline.settings import Settings

# ---------------------------------------------------------------- HTTP service
KEYS = {"agent": "agent-key-0123456789", "editor": "editor-key-0123456789",
        "admin": "admin-key-0123456789"}
API_KEYS = ",".join(f"{role}:{key}" for role, key in KEYS.items())

KB_ROWS = [
    {"id": "kb-001", "question": "怎么办理居住证", "similar_questions": ["居住证在哪里办"],
     "answer": "携带身份证和居住证明到社区警务室或派出所办理。", "department": ["市公安局"],
     "category": ["户籍", "居住证"], "tags": ["证件"]},
    {"id": "kb-002", "question": "小区路灯坏了找谁修", "similar_questions": ["路灯不亮"],
     "answer": "市政道路路灯由市城管局负责维修，小区内路灯由物业负责。",
     "department": ["市城管局"], "category": ["市政", "路灯"], "region": "临江区"},
    {"id": "kb-003", "question": "失业保险金怎么领取", "answer": "在人社部门网上办事大厅申领。",
     "department": ["市人社局"], "category": ["社保", "失业保险"],
     "valid_from": "2020-01-01"},
]


def auth(role: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[role]}"}


@pytest.fixture
def kb_home(tmp_path):
    """A home with a three-entry KB and nothing else (no index, no model)."""
    from kb import KBStore

    with KBStore(tmp_path / "kb.sqlite3") as store:
        for row in KB_ROWS:
            store.add(row)
    return tmp_path


def make_settings(home, **overrides) -> Settings:
    values = {"home": home, "api_keys": API_KEYS, "rate_limit_per_minute": 100_000, **overrides}
    return Settings.load(overrides=values, env={})


@pytest.fixture
def kb_app(kb_home):
    from server import create_app

    return create_app(make_settings(kb_home))


@pytest.fixture
def kb_client(kb_app):
    return kb_app.test_client()
