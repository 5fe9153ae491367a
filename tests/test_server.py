"""HTTP service on a KB-only home: every error code, auth roles, KB CRUD with
If-Match, metrics, OpenAPI/docs, widget (feedback and logs: test_server_feedback.py;
`hotline serve` itself: test_serve_prepare.py). Endpoints that need the index or the
model answer 503 here (the home has neither); see test_server_models.py for them on a
fully built home."""
import json
import logging
from pathlib import Path

import pytest

from server import create_app
from tests.conftest import KB_BACKENDS, PHONE, auth, make_settings, problem

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


def test_reload_and_models(kb_client):
    r = kb_client.post("/v1/admin/reload", headers=auth("admin"))
    body = r.get_json()
    assert r.status_code == 200 and set(body) >= {"changed", "ready", "components"}
    assert body["components"]["kb"]["loaded"] is True
    models = kb_client.get("/v1/models", headers=auth("admin")).get_json()
    assert models["components"]["kb"]["version"] == "kb.sqlite3"


def test_reload_is_paced_only_where_the_process_serves_requests_beside_it(kb_app, monkeypatch):
    """A sync worker (wsgi.multithread False) serves nothing while it reloads, so
    pacing the load would only keep it from serving longer; a threaded one paces."""
    from hotline.runtime.engine import Engine

    seen = []
    swap = Engine._swap

    def recording_swap(self, names, paced):
        seen.append(paced)
        return swap(self, names, paced)

    monkeypatch.setattr(Engine, "_swap", recording_swap)
    client = kb_app.test_client()
    for multithread in (False, True):
        r = client.post("/v1/admin/reload", headers=auth("admin"),
                        environ_overrides={"wsgi.multithread": multithread})
        assert r.status_code == 200, r.get_data(as_text=True)
    assert seen == [False, True]


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
