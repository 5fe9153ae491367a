"""Feedback over HTTP (stored masked, exported, lead and co-handlers, older tables) and the
JSON access and application logs (masked text, escaped controls), on a KB-only home;
split from test_server.py."""
import json
import logging

import pytest

from tests.conftest import KB_BACKENDS, PHONE, auth, problem

# The feedback tests run on SQLite and on a real PostgreSQL (kb_url).
both_backends = pytest.mark.parametrize("kb_backend", KB_BACKENDS)


# ---------------------------------------------------------------- feedback and logs
@both_backends
def test_feedback_stored_masked_and_exportable(kb_app, tmp_path):
    client = kb_app.test_client()
    r = client.post("/v1/feedback", headers=auth("agent"), json={
        "text": f"我的手机{PHONE}，小区路灯坏了", "request_id": "r1", "type": "fault",
        "department": "市城管局", "predicted_type": "complaint", "predicted_department": None,
        "answer_id": "kb-002"})
    assert r.status_code == 201 and r.get_json()["id"]
    problem(client.post("/v1/feedback", headers=auth("agent"), json={"type": "fault"}), 400,
            "invalid_input")
    store = kb_app.extensions["hotline"]["feedback"]
    rows = list(store.rows())
    assert len(rows) == 1 and PHONE not in rows[0]["text"] and "[手机号]" in rows[0]["text"]
    assert (rows[0]["final_type"], rows[0]["chosen_answer_id"]) == ("fault", "kb-002")
    out = tmp_path / "fb.csv"
    assert store.export(out) == 1
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "title,detail,type,department,lead_department,co_departments"
    assert "fault,市城管局" in lines[1]


def test_feedback_csv_export_neutralises_formula_cells(tmp_path):
    import csv

    from hotline.http.feedback import FeedbackStore
    from kb.io import unescape_cell

    store = FeedbackStore(tmp_path / "fb.sqlite3")
    texts = ['=HYPERLINK("http://evil.example","点我")', "\t=1+1", "-1+1", "'abc", "路灯坏了"]
    for text in texts:
        store.add({"text": text, "type": "fault", "department": "@SUM(A1)"})
    assert store.export(tmp_path / "fb.csv") == len(texts)
    with open(tmp_path / "fb.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    assert sorted(r[1] for r in rows) == sorted(["'" + t for t in texts[:4]] + ["路灯坏了"])
    assert {r[3] for r in rows} == {"'@SUM(A1)"}
    assert sorted(unescape_cell(r[1]) for r in rows) == sorted(texts)   # the KB reader's rule undoes it


@both_backends
def test_feedback_side_fields_are_stored_masked(kb_app, tmp_path):
    """Every field the client sends is free text to the store: none is written raw."""
    client = kb_app.test_client()
    sent = {"text": "路灯坏了", "request_id": "回电13812345678", "region": "临江区138.1234.5678",
            "channel": "电话一三八一二三四五六七八", "predicted_type": "fault 13812345678",
            "predicted_department": "市城管局 幺三八 幺二三四 五六七八",
            "type": "fault\u200b13812345678", "department": "市城管局 11010519491231002X",
            "answer_id": "kb-002 zhang.san@example.com", "comment": "车牌粤B12345"}
    r = client.post("/v1/feedback", headers=auth("agent"), json=sent)
    assert r.status_code == 201, r.get_data(as_text=True)
    store = kb_app.extensions["hotline"]["feedback"]
    [row] = store.rows()
    stored = json.dumps(row, ensure_ascii=False)
    for secret in ("13812345678", "1234", "一二三四", "幺二三四", "11010519491231002X",
                   "zhang.san", "B12345"):
        assert secret not in stored, (secret, stored)
    assert row["region"] == "临江区[手机号]" and row["channel"] == "电话[手机号]"
    assert row["request_id"] == "回电[手机号]" and row["final_type"] == "fault\u200b[手机号]"
    assert row["final_department"] == "市城管局 [身份证号]"
    assert row["chosen_answer_id"] == "kb-002 [邮箱]" and row["comment"] == "车牌[车牌号]"
    # ordinary values are stored as sent
    r = client.post("/v1/feedback", headers=auth("agent"), json={
        "text": "路灯坏了", "request_id": "req-42", "region": "临江区", "type": "fault",
        "department": "市城管局", "answer_id": "kb-002", "predicted_department": None})
    [row] = [x for x in store.rows() if x["id"] == r.get_json()["id"]]
    assert (row["request_id"], row["region"], row["final_type"], row["final_department"],
            row["chosen_answer_id"], row["predicted_department"]) == (
        "req-42", "临江区", "fault", "市城管局", "kb-002", None)


@both_backends
def test_feedback_round_trips_lead_and_co_departments(kb_app, tmp_path):
    """The agent's lead (department) and co-handlers, beside the suggested ones,
    are stored, read back as lists and exported; bad lists are a clear 400."""
    import csv

    client = kb_app.test_client()
    lamp, health, water = "海州市城市管理综合执法局", "海州市卫生健康委员会", "海州市水务集团有限公司"
    r = client.post("/v1/feedback", headers=auth("agent"), json={
        "text": "楼下油烟很大，另外孩子一直咳嗽想让卫生部门看看", "type": "complaint",
        "department": lamp, "co_departments": [health, water],
        "predicted_lead_department": lamp, "predicted_co_departments": [health]})
    assert r.status_code == 201, r.get_data(as_text=True)
    # the agent removed every co-handler; and a client that sends none
    none_kept = client.post("/v1/feedback", headers=auth("agent"), json={
        "text": "停水了", "type": "fault", "department": water, "co_departments": [],
        "predicted_co_departments": [lamp]}).get_json()["id"]
    not_sent = client.post("/v1/feedback", headers=auth("agent"), json={
        "text": "路灯坏了", "type": "fault", "department": lamp}).get_json()["id"]
    store = kb_app.extensions["hotline"]["feedback"]
    rows = {x["id"]: x for x in store.rows()}
    row = rows[r.get_json()["id"]]
    assert (row["final_department"], row["final_co_departments"]) == (lamp, [health, water])
    assert (row["predicted_lead_department"], row["predicted_co_departments"]) == (lamp, [health])
    assert rows[none_kept]["final_co_departments"] == []
    assert rows[none_kept]["predicted_co_departments"] == [lamp]
    assert rows[not_sent]["final_co_departments"] is None
    assert rows[not_sent]["predicted_lead_department"] is None

    out = tmp_path / "fb.csv"
    assert store.export(out) == 3
    with open(out, encoding="utf-8", newline="") as fh:
        exported = {d["detail"]: d for d in csv.DictReader(fh)}
    assert exported["楼下油烟很大，另外孩子一直咳嗽想让卫生部门看看"]["lead_department"] == lamp
    assert exported["楼下油烟很大，另外孩子一直咳嗽想让卫生部门看看"]["co_departments"] == \
        f"{health};{water}"
    assert (exported["停水了"]["lead_department"], exported["停水了"]["co_departments"]) == (water, "")
    assert (exported["路灯坏了"]["lead_department"], exported["路灯坏了"]["co_departments"]) == ("", "")
    jl = tmp_path / "fb.jsonl"
    assert store.export(jl) == 3
    assert [health, water] in [json.loads(line)["final_co_departments"]
                               for line in jl.read_text(encoding="utf-8").splitlines()]

    before = store.count()
    for bad, code, said in (
            ({"co_departments": health}, "wrong_type", "co_departments must be array, got string"),
            ({"co_departments": [health, 3]}, "wrong_type",
             "co_departments[1] must be string, got number 3"),
            ({"co_departments": [""]}, "empty_text", "co_departments[0] is empty"),
            ({"co_departments": ["a;b"]}, "invalid_input", "contains ';' (U+003B)"),
            ({"co_departments": [health, health]}, "invalid_input", f"lists {health!r} more than once"),
            ({"predicted_co_departments": {"name": lamp}}, "wrong_type", "must be array, got object"),
            ({"co_departments": [lamp]}, "invalid_input", f"contains {lamp!r}, the lead department")):
        body = problem(client.post("/v1/feedback", headers=auth("agent"), json={
            "text": "油烟", "department": lamp, **bad}), 400, code)
        assert said in body["detail"], (bad, body["detail"])
    assert store.count() == before


@both_backends
def test_feedback_store_adds_the_lead_and_co_columns_to_an_older_table(kb_target):
    """A feedback table written before lead/co were stored (feedback.sqlite3, or the
    PostgreSQL KB's table) keeps its rows and gains the columns when the store opens it."""
    from hotline.http.feedback import ADDED, COLUMNS, FeedbackStore
    from kb.db import open_db

    old = [c for c in COLUMNS if c not in ADDED]
    db = open_db(kb_target)
    with db.write(lock=False) as con:
        con.execute(f"CREATE TABLE feedback ({', '.join(c + ' TEXT' for c in old)})")
        con.execute(f"INSERT INTO feedback ({','.join(old)}) VALUES ({','.join('?' * len(old))})",
                    ["old1", "2026-01-01T00:00:00Z", None, "路灯坏了", *[None] * (len(old) - 4)])
    db.close()
    store = FeedbackStore(kb_target)
    store.add({"text": "油烟", "department": "城管", "co_departments": ["卫健委"]})
    rows = {r["id"]: r for r in store.rows()}
    assert rows["old1"]["text"] == "路灯坏了" and rows["old1"]["final_co_departments"] is None
    assert [r["final_co_departments"] for r in rows.values() if r["id"] != "old1"] == [["卫健委"]]
    store.db.close()
    FeedbackStore(kb_target).db.close()   # opening again adds nothing (no duplicate column)


def test_access_log_is_json_with_masked_text(kb_client, caplog):
    from foundation.jsonlog import JSONFormatter

    with caplog.at_level(logging.INFO, logger="hotline.access"):
        kb_client.post("/v1/classify", headers={**auth("agent"), "X-Request-ID": "req-42"},
                       json={"text": f"请回电{PHONE}"})
    records = [r for r in caplog.records if r.name == "hotline.access"]
    assert records
    line = JSONFormatter().format(records[-1])
    data = json.loads(line)
    assert data["request_id"] == "req-42" and data["status"] == 503
    assert data["endpoint"] == "/v1/classify" and data["key"]
    assert PHONE not in line and "[手机号]" in data["text"]


# Bidi controls (U+202A-E, U+2066-9, LRM, RLM, ALM), C0/C1 controls, line/paragraph
# separators, zero-width characters, a lone surrogate: none may reach a log line raw.
SPOOF = ("ok\u202eevil\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
         "\x1b[31m\x07\x7f\x85\x9b\u2028\u2029\u200b\u200d\ufeff\u00ad\ud800 路灯")


def _raw_unsafe(line: str) -> list[str]:
    import unicodedata
    return [f"U+{ord(c):04X}" for c in line
            if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]


def test_log_lines_escape_bidi_and_control_characters():
    from foundation.jsonlog import JSONFormatter

    record = logging.LogRecord("hotline.test", logging.INFO, __file__, 1, "msg %s", (SPOOF,), None)
    record.text, record.nested, record.items = SPOOF, {"k\u202e": SPOOF}, [SPOOF]
    try:
        raise ValueError(SPOOF)
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    line = JSONFormatter().format(record)
    assert _raw_unsafe(line) == [] and "\n" not in line
    assert "\\u202e" in line and "路灯" in line          # escaped as \u202e; Chinese stays readable
    data = json.loads(line)                                # still valid JSON, values unchanged
    assert data["msg"] == f"msg {SPOOF}" and data["text"] == SPOOF
    assert data["nested"] == {"k\u202e": SPOOF} and data["items"] == [SPOOF]
    assert SPOOF in data["exc"]


def test_access_log_escapes_controls_in_request_text(kb_client, caplog):
    from foundation.jsonlog import JSONFormatter

    with caplog.at_level(logging.INFO, logger="hotline.access"):
        kb_client.post("/v1/classify", headers=auth("agent"), json={"text": f"路灯{SPOOF[:-4]}"})
    [record] = [r for r in caplog.records if r.name == "hotline.access"]
    line = JSONFormatter().format(record)
    assert _raw_unsafe(line) == [] and json.loads(line)["text"].startswith("路灯ok\u202eevil")

