"""HTTP service on a KB-only home: every error code, auth roles, KB CRUD with
If-Match, feedback, metrics, OpenAPI/docs, widget, logs. Endpoints that need the
index or the model answer 503 here (the home has neither); see
test_server_models.py for them on a fully built home."""
import json
import logging
from pathlib import Path

import pytest

from server import create_app
from tests.conftest import KB_BACKENDS, KEYS, PHONE, auth, make_settings, problem

# The KB API and feedback tests run on SQLite and on a real PostgreSQL (kb_url).
both_backends = pytest.mark.parametrize("kb_backend", KB_BACKENDS)



# ---------------------------------------------------------------- operations
@both_backends
def test_healthz_readyz_and_request_id(kb_client):
    r = kb_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    assert r.headers["X-Request-ID"] == "abc-123"
    r = kb_client.get("/readyz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["ready"] is False
    assert body["components"]["kb"]["loaded"] is True
    assert body["components"]["search"]["loaded"] is False
    assert body["components"]["search"]["problem"]
    # a request id that could inject into logs is replaced
    r = kb_client.get("/healthz", headers={"X-Request-ID": "bad id;<script>"})
    assert len(r.headers["X-Request-ID"]) == 32


def test_request_id_that_carries_pii_is_replaced_and_never_logged(kb_client, caplog):
    from foundation.jsonlog import JSONFormatter

    with caplog.at_level(logging.INFO, logger="hotline.access"):
        for sent in (PHONE, f"call-{PHONE}-1", "call-138.1234.5678", "id-11010519491231002X",
                     "a\u202eb", "x" * 65, "abc def"):
            r = kb_client.get("/healthz", headers={"X-Request-ID": sent})
            rid = r.headers["X-Request-ID"]
            assert rid != sent and len(rid) == 32, sent
        ok = kb_client.get("/healthz", headers={"X-Request-ID": "req_42.a-b"})
        assert ok.headers["X-Request-ID"] == "req_42.a-b"
    lines = "\n".join(JSONFormatter().format(r) for r in caplog.records)
    assert PHONE not in lines and "1234" not in lines and "11010519491231002X" not in lines


def test_generated_request_ids_survive_masking():
    """Our own ids (echoed back in feedback, grepped for in logs) never look like PII:
    ~6% of random uuid4 hex strings hold a run of 11+ digits."""
    from hotline.http.accesslog import request_id
    from index.text import mask_pii
    from index.text.pii import safe_token

    ids = [request_id(None) for _ in range(500)]
    assert len(set(ids)) == 500
    assert all(len(i) == 32 and mask_pii(i) == i for i in ids)
    assert request_id("req-42") == "req-42" and request_id("") != ""
    assert not safe_token("abc\n") and not safe_token("") and safe_token("a" * 64)
    assert not safe_token("a" * 65) and not safe_token(PHONE)


def test_not_ready_is_503_with_problem(kb_client):
    for path, payload in [("/v1/analyze", {"text": "路灯坏了"}), ("/v1/search", {"query": "路灯"}),
                          ("/v1/classify", {"text": "路灯坏了"}),
                          ("/v1/classify/batch", {"items": [{"text": "路灯坏了"}]})]:
        body = problem(kb_client.post(path, json=payload, headers=auth("agent")), 503, "not_ready")
        assert "search" in body["detail"] or "classifier" in body["detail"]


def test_openapi_document_and_docs_page(kb_client):
    doc = kb_client.get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    expected = {("/v1/analyze", "post"), ("/v1/search", "post"), ("/v1/classify", "post"),
                ("/v1/classify/batch", "post"), ("/v1/kb/entries", "get"),
                ("/v1/kb/entries", "post"), ("/v1/kb/entries/{entry_id}", "get"),
                ("/v1/kb/entries/{entry_id}", "patch"), ("/v1/kb/entries/{entry_id}", "delete"),
                ("/v1/kb/entries/{entry_id}/history", "get"), ("/v1/feedback", "post"),
                ("/v1/session", "post"), ("/v1/session", "get"), ("/v1/session", "delete"),
                ("/v1/models", "get"), ("/v1/admin/reload", "post"), ("/healthz", "get"),
                ("/readyz", "get"), ("/metrics", "get"), ("/openapi.json", "get")}
    have = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert expected <= have
    # every Flask route is documented (except the HTML pages)
    app_rules = {r.rule.replace("<entry_id>", "{entry_id}")
                 .replace("<int:incident_id>", "{incident_id}")
                 .replace("<report_id>", "{report_id}") for r in
                 kb_client.application.url_map.iter_rules()}
    undocumented = app_rules - set(doc["paths"]) - {"/docs", "/widget", "/widget/",
                                                      "/widget/<path:name>", "/static/<path:filename>",
                                                      "/dashboard", "/dashboard/",
                                                      "/dashboard/<path:name>"}
    assert not undocumented
    assert doc["components"]["schemas"]["AnalyzeRequest"]["properties"]["text"]["maxLength"] == 2000
    page = kb_client.get("/docs")
    assert page.status_code == 200 and "/v1/analyze" in page.get_data(as_text=True)


def test_metrics_prometheus_text(kb_client):
    kb_client.get("/healthz")
    kb_client.post("/v1/analyze", json={"text": "x"})
    r = kb_client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    assert 'hotline_http_requests_total{endpoint="/healthz",method="GET",status="200"' in text
    assert 'endpoint="/v1/analyze",method="POST",status="401"' in text
    assert 'hotline_http_request_duration_seconds_bucket{endpoint="/healthz"' in text
    assert 'le="+Inf"' in text
    assert "hotline_ready" in text and "hotline_kb_entries" in text
    assert 'hotline_component_info{component="kb"' in text


# ---------------------------------------------------------------- auth
@pytest.mark.parametrize("kwargs, status, code", [
    ({"json": {"text": ""}}, 400, "empty_text"),
    ({"json": {"text": "   \u200b "}}, 400, "empty_text"),
    ({"json": {"text": "长" * 2001}}, 400, "text_too_long"),
    ({"json": {"text": 123}}, 400, "wrong_type"),
    ({"json": {"text": None}}, 400, "wrong_type"),
    ({"json": ["text"]}, 400, "wrong_type"),
    ({"json": {"txt": "a"}}, 400, "invalid_input"),
    ({"json": {"text": "a", "k": 0}}, 400, "invalid_input"),
    ({"json": {"text": "a", "k": "5"}}, 400, "wrong_type"),
    ({"json": {"text": "a", "extra": 1}}, 400, "invalid_input"),
    ({"data": b'{"text": "a"', "content_type": "application/json"}, 400, "malformed_json"),
    ({"data": b'{"text": NaN}', "content_type": "application/json"}, 400, "malformed_json"),
    ({"data": b"", "content_type": "application/json"}, 400, "malformed_json"),
    ({"data": '{"text": "路灯"}'.encode("gbk"), "content_type": "application/json"}, 400, "not_utf8"),
    ({"data": b'{"text": "a"}', "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ({"data": b'{"text": "a"}'}, 415, "unsupported_media_type"),
    ({"data": b'{"text": "a"}', "content_type": "application/json; charset=latin-1"}, 415,
     "unsupported_media_type"),
])
def test_400_and_415_bad_bodies(kb_client, kwargs, status, code):
    problem(kb_client.post("/v1/analyze", headers=auth("agent"), **kwargs), status, code)


def test_400_batch_names_the_bad_item_and_limits_size(kb_home):
    client = create_app(make_settings(kb_home, max_batch_items=3)).test_client()
    r = client.post("/v1/classify/batch", headers=auth("agent"),
                    json={"items": [{"text": "a"}, {"text": 5}]})
    assert "items[1].text" in problem(r, 400, "wrong_type")["detail"]
    r = client.post("/v1/classify/batch", headers=auth("agent"),
                    json={"items": [{"text": "a"}] * 4})
    assert "limit is 3" in problem(r, 400, "invalid_input")["detail"]
    problem(client.post("/v1/classify/batch", headers=auth("agent"), json={"items": []}),
            400, "invalid_input")


@pytest.mark.parametrize("text", ["？？！！。。", "……", "!!!", "😀👍", " \t！ 。\u3000"])
def test_400_text_without_content_on_every_text_endpoint(kb_client, text):
    """Punctuation, emoji or whitespace only: refused before anything is looked up
    (it got `consult` at 0.989 and five arbitrary answers), even on a home that is
    not ready."""
    for path, payload in [("/v1/analyze", {"text": text}), ("/v1/search", {"query": text}),
                          ("/v1/classify", {"text": text})]:
        body = problem(kb_client.post(path, headers=auth("agent"), json=payload), 400,
                       "no_content")
        assert "no letter, digit or Chinese character" in body["detail"], path
    r = kb_client.post("/v1/classify/batch", headers=auth("agent"),
                       json={"items": [{"id": "a", "text": "路灯坏了"}, {"id": "b", "text": text}]})
    assert problem(r, 400, "no_content")["detail"].startswith("items[1].text: ")


def test_text_limit_is_configurable(kb_home):
    client = create_app(make_settings(kb_home, max_text_chars=10)).test_client()
    body = problem(client.post("/v1/analyze", headers=auth("agent"), json={"text": "一" * 11}),
                   400, "text_too_long")
    assert "11 characters" in body["detail"] and "10" in body["detail"]


def test_413_body_too_large(kb_home):
    client = create_app(make_settings(kb_home, max_body_bytes=1000)).test_client()
    r = client.post("/v1/analyze", headers=auth("agent"),
                    data=json.dumps({"text": "a" * 2000}), content_type="application/json")
    problem(r, 413, "payload_too_large")


def _post_chunked(port: int, path: str, body: bytes, piece: int = 300):
    """POST ``body`` with Transfer-Encoding: chunked (no Content-Length) over a real
    socket; returns (status, problem code or None). The body is sent from another
    thread while this one reads the response, as a browser or curl does: a server
    may answer 413 and close before the whole body is sent (gunicorn drains only
    64 KiB of an unread body), which a send-then-read client sees as a broken pipe."""
    import http.client
    import socket
    import threading

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {auth('agent')['Authorization']}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()

    def send():
        try:
            sock.sendall(head)
            for i in range(0, len(body), piece):
                part = body[i:i + piece]
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            sock.sendall(b"0\r\n\r\n")
        except OSError:   # the server answered and closed before the end: fine
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        data = json.loads(resp.read() or b"{}")
        return resp.status, data.get("code")
    finally:
        sender.join(30)
        sock.close()


def _json_body(size: int) -> bytes:
    """A valid classify body of exactly ``size`` bytes (cut anywhere, it is not JSON)."""
    head = b'{"text": "'
    body = head + b"a" * (size - len(head) - 2) + b'"}'
    assert len(body) == size
    return body


def _check_chunked_limit(port: int) -> None:
    # Exactly the limit: read whole (the KB-only home then answers not_ready).
    assert _post_chunked(port, "/v1/classify", _json_body(1000)) == (503, "not_ready")
    # Over it, by one byte or by far: 413 as with Content-Length, never a cut body
    # answered 400 malformed_json.
    for size in (1001, 1200, 300_000):
        assert _post_chunked(port, "/v1/classify", _json_body(size)) == (413, "payload_too_large"), size


def test_413_chunked_body_over_the_limit_on_the_development_server(kb_home):
    """Werkzeug's stream stops silently at MAX_CONTENT_LENGTH for a body without
    Content-Length; the cut JSON used to come back as 400 malformed_json."""
    import threading

    from werkzeug.serving import make_server

    app = create_app(make_settings(kb_home, max_body_bytes=1000))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        _check_chunked_limit(srv.server_port)
    finally:
        srv.shutdown()
        thread.join(10)


def test_413_chunked_body_over_the_limit_under_gunicorn(kb_home):
    """The same under `hotline serve --production` (gunicorn dechunks and
    terminates the stream itself)."""
    from tests.conftest import production_server

    with production_server(kb_home, HOTLINE_MAX_BODY_BYTES="1000") as (_, port):
        _check_chunked_limit(port)


@both_backends
def test_404_405(kb_client):
    problem(kb_client.get("/v2/analyze"), 404, "route_not_found")
    problem(kb_client.get("/v1/kb/entries/nope", headers=auth("agent")), 404, "kb_entry_not_found")
    problem(kb_client.get("/v1/kb/entries/nope/history", headers=auth("agent")), 404,
            "kb_entry_not_found")
    r = kb_client.get("/v1/analyze", headers=auth("agent"))
    problem(r, 405, "method_not_allowed")
    assert "POST" in r.headers["Allow"]


@both_backends
def test_list_query_parameters(kb_client):
    r = kb_client.get("/v1/kb/entries?limit=2&offset=1", headers=auth("agent"))
    body = r.get_json()
    assert r.status_code == 200 and body["total"] == 3 and body["offset"] == 1
    assert [e["id"] for e in body["items"]] == ["kb-002", "kb-003"]
    problem(kb_client.get("/v1/kb/entries?limit=x", headers=auth("agent")), 400, "wrong_type")
    problem(kb_client.get("/v1/kb/entries?limit=0", headers=auth("agent")), 400, "invalid_input")
    problem(kb_client.get("/v1/kb/entries?status=gone", headers=auth("agent")), 400,
            "invalid_input")


# ---------------------------------------------------------------- KB CRUD
@both_backends
def test_kb_create_get_patch_delete_history_with_if_match(kb_client):
    editor = auth("editor")
    entry = {"id": "kb-100", "question": "垃圾分类怎么投放", "answer": "按四分类投放。",
             "department": ["市城管局"]}
    r = kb_client.post("/v1/kb/entries", json=entry, headers=editor)
    assert r.status_code == 201 and r.headers["Location"] == "/v1/kb/entries/kb-100"
    assert r.headers["ETag"] == '"1"' and r.get_json()["updated_by"].startswith("api:editor:")
    problem(kb_client.post("/v1/kb/entries", json=entry, headers=editor), 409, "kb_entry_exists")
    bad = {**entry, "id": "kb-101", "status": "published", "answer": ""}
    assert problem(kb_client.post("/v1/kb/entries", json=bad, headers=editor), 400,
                   "kb_validation_error")["errors"][0]["field"] == "answer"

    r = kb_client.get("/v1/kb/entries/kb-100", headers=auth("agent"))
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'

    patch = {"answer": "按可回收物、有害垃圾、厨余垃圾、其他垃圾四类投放。"}
    problem(kb_client.patch("/v1/kb/entries/kb-100", json=patch, headers=editor), 428,
            "if_match_required")
    problem(kb_client.patch("/v1/kb/entries/kb-100", json=patch,
                            headers={**editor, "If-Match": "abc"}), 400, "invalid_input")
    r = kb_client.patch("/v1/kb/entries/kb-100", json=patch, headers={**editor, "If-Match": '"1"'})
    assert r.status_code == 200 and r.get_json()["revision"] == 2 and r.headers["ETag"] == '"2"'
    # someone else's stale revision
    body = problem(kb_client.patch("/v1/kb/entries/kb-100", json={"answer": "旧"},
                                   headers={**editor, "If-Match": '"1"'}), 409,
                   "kb_revision_conflict")
    assert "revision 1" in body["detail"] and "revision is 2" in body["detail"]
    problem(kb_client.patch("/v1/kb/entries/kb-100", json={}, headers={**editor, "If-Match": "2"}),
            400, "invalid_input")
    problem(kb_client.patch("/v1/kb/entries/nope", json=patch, headers={**editor, "If-Match": "1"}),
            404, "kb_entry_not_found")

    problem(kb_client.delete("/v1/kb/entries/kb-100", headers={**editor, "If-Match": '"1"'}),
            409, "kb_revision_conflict")
    problem(kb_client.delete("/v1/kb/entries/kb-100", headers=editor), 428, "if_match_required")
    r = kb_client.delete("/v1/kb/entries/kb-100", headers={**editor, "If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.get_json()["status"] == "retired"

    hist = kb_client.get("/v1/kb/entries/kb-100/history", headers=auth("agent")).get_json()
    assert [h["op"] for h in hist["items"]] == ["add", "update", "retire"]
    assert hist["items"][1]["entry"]["answer"] == patch["answer"]


@both_backends
@pytest.mark.parametrize("ident, shown", [
    ("a/b", "'/'"), ("a?b", "'?'"), ("a#b", "'#'"), ("a%2Fb", "'%'"), ("a\\b", "'\\\\'"),
    ("a b", "whitespace"), ("a\u200bb", "invisible"), ("a\tb", "whitespace"), ("..", "'..'"),
])
def test_entry_ids_that_break_urls_are_refused(kb_client, ident, shown):
    """An id with / was created (201) and then could never be read, edited or retired."""
    r = kb_client.post("/v1/kb/entries", headers=auth("editor"),
                       json={"id": ident, "question": "q", "answer": "a"})
    body = problem(r, 400, "kb_validation_error" if ident == ".." else "invalid_input")
    assert repr(ident) in body["detail"] and shown in body["detail"]
    assert "/v1/kb/entries/<id>" in body["detail"]    # the allowed form, in words
    assert kb_client.get("/v1/kb/entries?limit=500", headers=auth("editor")).get_json()["total"] == 3


@both_backends
def test_chinese_entry_id_roundtrips_through_its_location(kb_client):
    editor = auth("editor")
    r = kb_client.post("/v1/kb/entries", headers=editor,
                       json={"id": "居住证-01", "question": "居住证怎么办", "answer": "去派出所"})
    assert r.status_code == 201
    location = r.headers["Location"]
    assert location == "/v1/kb/entries/%E5%B1%85%E4%BD%8F%E8%AF%81-01"
    assert kb_client.get(location, headers=auth("agent")).get_json()["id"] == "居住证-01"
    r = kb_client.patch(location, headers={**editor, "If-Match": '"1"'}, json={"answer": "去警务室"})
    assert r.status_code == 200
    assert kb_client.delete(location, headers={**editor, "If-Match": '"2"'}).status_code == 200


def test_published_id_pattern_is_the_kb_rule(kb_client):
    import re

    from kb.entry import ID_PATTERN

    schema = kb_client.get("/openapi.json").get_json()["components"]["schemas"]["EntryCreate"]
    assert schema["properties"]["id"]["pattern"] == ID_PATTERN
    assert re.fullmatch(ID_PATTERN, "居住证-01") and not re.search(ID_PATTERN, "a/b")


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


def test_reload_and_models(kb_client):
    r = kb_client.post("/v1/admin/reload", headers=auth("admin"))
    body = r.get_json()
    assert r.status_code == 200 and set(body) >= {"changed", "ready", "components"}
    assert body["components"]["kb"]["loaded"] is True
    models = kb_client.get("/v1/models", headers=auth("admin")).get_json()
    assert models["components"]["kb"]["version"] == "kb.sqlite3"


@pytest.mark.parametrize("relative", [False, True])
def test_home_path_is_never_shown_over_http(tmp_path, monkeypatch, relative):
    """/readyz, /v1/models, /v1/admin/reload, /metrics and problem details name
    components, never where the home is (it was "no search index under
    /home/x/var/index; ...")."""
    from kb import KBStore
    from tests.conftest import KB_ROWS

    secret = "srv-Zq7xK-home"
    home = tmp_path / "deploy" / secret
    with KBStore(home / "kb.sqlite3") as store:
        store.add(KB_ROWS[0])
    if relative:        # HOTLINE_HOME=deploy/srv-... as given on a command line
        monkeypatch.chdir(tmp_path)
        home = Path("deploy") / secret
    from hotline.runtime import Engine

    # No follower thread: it would outlive the chdir and open a KB under the
    # relative home wherever the tests run next.
    settings = make_settings(home)
    client = create_app(settings, engine=Engine(settings, follow_seconds=0)).test_client()
    shown = []
    r = client.get("/readyz")
    assert r.status_code == 503
    components = r.get_json()["components"]
    assert components["search"]["problem"] == ("no search index under HOME/index; "
                                                "run `hotline index build`")
    assert components["classifier"]["problem"].startswith("no model published under HOME/models")
    shown.append(r.get_data(as_text=True))
    shown.append(client.get("/v1/models", headers=auth("admin")).get_data(as_text=True))
    shown.append(client.post("/v1/admin/reload", headers=auth("admin")).get_data(as_text=True))
    shown.append(client.get("/metrics").get_data(as_text=True))
    body = problem(client.post("/v1/analyze", headers=auth("agent"), json={"text": "路灯坏了"}),
                   503, "not_ready")
    assert "HOME/index" in body["detail"]
    shown.append(json.dumps(body, ensure_ascii=False))
    for text in shown:
        assert secret not in text and str(tmp_path) not in text, text


def test_departments_endpoint(kb_client):
    body = kb_client.get("/v1/departments", headers=auth("agent")).get_json()
    assert body["regions"] == ["临江区"] and body["departments"] == []


# ---------------------------------------------------------------- hotline serve
def _process_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat ('Z' = zombie), None once reaped."""
    from pathlib import Path

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs /proc")
def test_prepare_child_is_reaped_while_the_server_runs(tmp_path, monkeypatch, caplog):
    """`hotline serve --prepare` starts `python -m training.prepare`; once it ends it
    must not stay <defunct> for the server's whole life, and its exit code is logged.
    A short command stands in for the real build."""
    import subprocess
    import sys
    import time

    from hotline.cli import serve

    real_popen = subprocess.Popen
    started = []

    def short_child(cmd, **kwargs):
        assert cmd[1:3] == ["-m", "training.prepare"] and "--demo" in cmd
        started.append(cmd)
        return real_popen([sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(3)"],
                          **kwargs)

    monkeypatch.setattr(subprocess, "Popen", short_child)
    with caplog.at_level(logging.INFO, logger="hotline.serve"):
        child = serve.start_prepare(make_settings(tmp_path / "home"), demo=True)
        assert child is not None and started
        deadline = time.time() + 10
        while _process_state(child.pid) is not None and time.time() < deadline:
            time.sleep(0.05)    # the "server" goes on; nobody here waits for the child
        assert _process_state(child.pid) is None, "the prepare child was left <defunct>"
        deadline = time.time() + 5
        while not any("exit code 3" in r.getMessage() for r in caplog.records) \
                and time.time() < deadline:
            time.sleep(0.05)
    assert child.returncode == 3
    [record] = [r for r in caplog.records if "exit code 3" in r.getMessage()]
    assert record.levelno == logging.WARNING and str(child.pid) in record.getMessage()


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs /proc")
def test_prepare_child_is_reaped_by_the_gunicorn_arbiter_with_its_exit_code(kb_home):
    """Under --production gunicorn's arbiter reaps every child (waitpid(-1)); it
    reaps the prepare child by pid first, so its exit code is logged, not lost."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = f"""
import os, signal, subprocess, sys, threading, time
from pathlib import Path
from foundation.jsonlog import configure
from hotline.cli import serve
from tests.conftest import make_settings
configure("INFO")
child = serve.Child(subprocess.Popen([sys.executable, "-c",
                    "import time; time.sleep(0.5); raise SystemExit(5)"]), "prepare")
def watch():
    deadline = time.time() + 20
    while Path(f"/proc/{{child.pid}}").exists() and time.time() < deadline:
        time.sleep(0.05)
    print("REAPED" if not Path(f"/proc/{{child.pid}}").exists() else "ZOMBIE", child.returncode,
          file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=watch, daemon=True).start()
settings = make_settings(Path({str(kb_home)!r}), port=0, workers=1)
serve.serve_gunicorn(settings, threads=1, children=[child])
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                         timeout=60, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert "REAPED 5" in out.stderr, out.stderr[-3000:]
    assert "ended with exit code 5" in out.stderr, out.stderr[-3000:]


def test_prepare_child_still_running_is_stopped_with_the_server(caplog):
    import subprocess
    import sys

    from hotline.cli.serve import Child

    child = Child(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]), "prepare")
    child.reap_in_thread()
    with caplog.at_level(logging.INFO, logger="hotline.serve"):
        child.stop(timeout=10)
    assert child.returncode is not None and child.returncode < 0
    assert _process_state(child.pid) is None
    [record] = [r for r in caplog.records if str(child.pid) in r.getMessage()]
    assert record.levelno == logging.INFO and "stopped with the server" in record.getMessage()
