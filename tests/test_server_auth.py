"""Who may call what: API keys and roles, the widget's sign-in sessions, drafts
for editors only, and the rate limit charged by work (KB-only home, no models)."""
from __future__ import annotations

import logging

import pytest

from server import create_app
from tests.conftest import KEYS, auth, make_settings, problem

def test_401_without_or_with_bad_key(kb_client):
    body = problem(kb_client.post("/v1/analyze", json={"text": "a"}), 401, "unauthorized")
    assert "Bearer" in body["detail"]
    r = kb_client.post("/v1/analyze", json={"text": "a"}, headers={"Authorization": "Bearer nope"})
    problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = kb_client.get("/v1/kb/entries", headers={"Authorization": f"Basic {KEYS['admin']}"})
    problem(r, 401, "unauthorized")


@pytest.mark.parametrize("signature", ["\u00e9" * 64, "签名", "0" * 63 + "\u00e9", "\udcff", "\xff\xfe",
                                       ""])
def test_session_cookie_with_non_ascii_signature_is_401_not_500(kb_app, signature, caplog):
    """hmac.compare_digest raises TypeError on non-ASCII str: that was a 500 and a
    traceback in the log per request. The Cookie header is sent as raw bytes (UTF-8,
    or not UTF-8 at all)."""
    ext = kb_app.extensions["hotline"]
    token, _ = ext["sessions"].issue(ext["keyring"].lookup(KEYS["agent"]))
    raw = (token.rsplit(".", 1)[0] + ".").encode() + signature.encode("utf-8", "surrogateescape")
    client = kb_app.test_client(use_cookies=False)   # else the client drops HTTP_COOKIE
    with caplog.at_level(logging.ERROR, logger="hotline.server"):
        r = client.get("/v1/kb/entries", environ_overrides={
            "HTTP_COOKIE": "hotline_session=" + raw.decode("latin-1")})
        problem(r, 401, "unauthorized")
    assert not [r for r in caplog.records if r.name == "hotline.server"]


def test_403_roles(kb_client):
    entry = {"id": "new-1", "question": "新问题", "answer": "新答案"}
    problem(kb_client.post("/v1/kb/entries", json=entry, headers=auth("agent")), 403, "forbidden")
    problem(kb_client.get("/v1/models", headers=auth("editor")), 403, "forbidden")
    problem(kb_client.post("/v1/admin/reload", headers=auth("agent")), 403, "forbidden")
    assert kb_client.post("/v1/kb/entries", json=entry, headers=auth("editor")).status_code == 201
    assert kb_client.get("/v1/models", headers=auth("admin")).status_code == 200


def test_429_rate_limit_per_key(kb_home):
    client = create_app(make_settings(kb_home, rate_limit_per_minute=3)).test_client()
    for _ in range(3):
        assert client.get("/v1/kb/entries", headers=auth("agent")).status_code == 200
    r = client.get("/v1/kb/entries", headers=auth("agent"))
    problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    # another key has its own bucket
    assert client.get("/v1/kb/entries", headers=auth("editor")).status_code == 200


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture(params=["memory", "shared", "shared-pg"])
def new_limiter(request, tmp_path):
    """Both stores (rate_limit_store): ``new_limiter(per_minute, clock, **memory_options)``;
    the shared one over a SQLite file, as `hotline serve` runs it by default."""
    from hotline.http.ratelimit import RateLimiter
    from hotline.http.ratelimit_shared import SharedRateLimiter

    made = []

    def new(per_minute, clock, **kwargs):
        if request.param == "memory":
            return RateLimiter(per_minute, clock=clock, **kwargs)
        url = (request.getfixturevalue("pg_url") if request.param == "shared-pg"
               else f"sqlite:///{tmp_path}/rl.sqlite3")
        made.append(SharedRateLimiter(per_minute, url, clock=clock))
        return made[-1]

    yield new
    for limiter in made:
        limiter.close()


def test_rate_limit_survives_key_churn(new_limiter):
    """The limiter cleared every bucket once it held max_keys keys: churning
    through new keys reset everyone's limit, the abuser's included."""
    from hotline.http.errors import RateLimited

    clock = FakeClock()
    limiter = new_limiter(60, clock, max_keys=100)
    for _ in range(60):
        limiter.hit("abuser")
    with pytest.raises(RateLimited):
        limiter.hit("abuser")
    for i in range(1000):                   # ten times the table size, in one second
        limiter.hit(f"churn-{i}")
    with pytest.raises(RateLimited):
        limiter.hit("abuser")
    # Memory stays bounded: buckets that refilled to full are dropped (losslessly).
    assert len(limiter) == 1001              # nothing was full: nothing forgotten
    clock.t += 61
    for i in range(1000, 1050):
        limiter.hit(f"churn-{i}")
    assert len(limiter) <= 100
    # ...and a dropped bucket is the same as a full one.
    assert limiter.hit("churn-3") == 59


def test_rate_limit_cost_debt_and_retry_after(new_limiter):
    from hotline.http.errors import RateLimited
    from hotline.http.ratelimit import body_cost, list_cost, text_units

    assert [text_units(t) for t in ("", "a", "a" * 1000, "a" * 1001, "长" * 2000)] == [1, 1, 1, 2, 2]
    assert body_cost({"items": [{"text": "a" * 650}] * 1000}) == 1000
    assert body_cost({"items": [{"text": "a" * 1500}] * 10}) == 20
    assert body_cost({"text": "路灯坏了", "region": "临江区"}) == 1
    assert body_cost({"id": "x", "question": "q", "answer": "a", "similar_questions": ["b", "c"]}) == 4
    assert (list_cost(50), list_cost(100), list_cost(500)) == (1, 2, 6)

    clock = FakeClock()
    limiter = new_limiter(60, clock)               # one token a second
    # A request dearer than a full bucket passes on a full bucket and leaves a debt...
    assert limiter.hit("k", 100) == -40
    with pytest.raises(RateLimited) as exc:
        limiter.hit("k")
    assert exc.value.retry_after == pytest.approx(41)
    clock.t += 41
    assert limiter.hit("k") == 0
    # ...the rest of a request that already paid one token needs at most capacity - 1.
    clock.t += 60
    limiter.hit("k")
    assert limiter.hit("k", 99, paid=1) == -40
    # charge() always takes (a penalty), even into debt.
    clock.t += 100
    assert limiter.charge("k", 100) == -40
    with pytest.raises(RateLimited):
        limiter.hit("k")


@pytest.fixture(params=["sqlite", "pg"])
def shared_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rl.sqlite3"
    return request.getfixturevalue("pg_url")


def test_shared_buckets_are_one_limit_for_every_process(tmp_path, shared_url):
    """Two limiters on one database (two workers, two replicas) spend one bucket;
    a clock behind (another machine) never refills it twice; settings pick the store."""
    from hotline.http.errors import RateLimited
    from hotline.http.ratelimit import RateLimiter, make_limiter
    from hotline.http.ratelimit_shared import SharedRateLimiter
    from foundation.errors import ConfigError

    clock, behind = FakeClock(), FakeClock()
    behind.t -= 30
    url = shared_url
    a, b = SharedRateLimiter(60, url, clock=clock), SharedRateLimiter(60, url, clock=clock)
    for i in range(60):
        (a if i % 2 else b).hit("k")
    for limiter in (a, b):
        with pytest.raises(RateLimited):
            limiter.hit("k")
    assert len(a) == len(b) == 1
    clock.t += 1
    assert b.hit("k") == 0
    late = SharedRateLimiter(60, url, clock=behind)
    with pytest.raises(RateLimited):
        late.hit("k")      # 30 s behind: no refill of its own...
    clock.t += 1
    assert a.hit("k") == 0   # ...nor does it set the bucket's time back
    late.close()
    a.close(), b.close()

    settings = make_settings(tmp_path)
    shared = make_limiter(settings)
    assert isinstance(shared, SharedRateLimiter)
    assert (tmp_path / "run" / "ratelimit.sqlite3").is_file()
    shared.close()
    assert isinstance(make_limiter(make_settings(tmp_path, rate_limit_store="memory")), RateLimiter)
    with pytest.raises(ConfigError, match="rate_limit_store='redis'"):
        make_limiter(make_settings(tmp_path, rate_limit_store="redis"))


def test_shared_limiter_passes_when_its_database_fails(tmp_path, caplog):
    """A guard against runaway clients must not take the API down with it."""
    from hotline.http.ratelimit_shared import SharedRateLimiter

    limiter = SharedRateLimiter(1, f"sqlite:///{tmp_path}/rl.sqlite3", clock=FakeClock())
    limiter.hit("k")
    with limiter.engine.connect() as conn:     # a database without the table
        conn.exec_driver_sql("DROP TABLE hotline_ratelimit")
    with caplog.at_level(logging.WARNING, logger="hotline.ratelimit"):
        assert limiter.hit("k") == float("inf") and limiter.hit("k") == float("inf")
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    limiter.close()


def frozen_limiter(app) -> FakeClock:
    """Stop the app's rate-limit clock, so no token refills while a slow machine runs the test."""
    clock = FakeClock()
    app.extensions["hotline"]["limiter"]._clock = clock
    return clock


def test_batch_and_long_texts_cost_by_work(kb_home):
    """A 1,000-item batch cost one token, like a one-word classify."""
    app = create_app(make_settings(kb_home, rate_limit_per_minute=20))
    frozen_limiter(app)
    client = app.test_client()
    agent = auth("agent")
    r = client.post("/v1/classify/batch", headers=agent, json={"items": [{"text": "路灯"}] * 15})
    assert r.status_code == 503                    # charged, then not ready (KB-only home)
    r = client.post("/v1/analyze", headers=agent, json={"text": "长" * 1500})   # 2 tokens
    assert r.status_code == 503
    for _ in range(3):
        assert client.get("/v1/kb/entries", headers=agent).status_code == 200
    problem(client.get("/v1/kb/entries", headers=agent), 429, "rate_limited")
    # A listing of 500 entries costs 6; the editor's own bucket is full.
    editor = auth("editor")
    for _ in range(3):
        assert client.get("/v1/kb/entries?limit=500", headers=editor).status_code == 200
    r = client.get("/v1/kb/entries?limit=500", headers=editor)
    assert problem(r, 429, "rate_limited") and int(r.headers["Retry-After"]) >= 1


def test_demo_key_when_none_configured(kb_home):
    app = create_app(make_settings(kb_home, api_keys=""))
    key = app.extensions["hotline"]["demo_key"]
    assert key and (kb_home / "secrets" / "demo_api_key").read_text().strip() == key
    assert (kb_home / "secrets" / "demo_api_key").stat().st_mode & 0o077 == 0
    client = app.test_client()
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    # a second app (another worker) reads the same key
    assert create_app(make_settings(kb_home, api_keys="")).extensions["hotline"]["demo_key"] == key


def key_id(role: str) -> str:
    import hashlib
    return hashlib.sha256(KEYS[role].encode()).hexdigest()[:12]


def sign_in(client, role: str = "agent", **kwargs):
    r = client.post("/v1/session", json={"key": KEYS[role]}, **kwargs)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r


@pytest.fixture
def widget_dir(tmp_path_factory):
    widget = tmp_path_factory.mktemp("widget")
    (widget / "index.html").write_text("<html>widget</html>", encoding="utf-8")
    (widget / "widget.js").write_text("console.log(1)", encoding="utf-8")
    return widget


def test_widget_page_grants_nothing(kb_home, widget_dir, tmp_path_factory):
    """GET /widget used to hand any visitor a working agent session cookie."""
    client = create_app(make_settings(kb_home), widget_dir=widget_dir).test_client()
    r = client.get("/widget")
    assert r.status_code == 200 and b"widget" in r.data
    assert "Set-Cookie" not in r.headers
    assert client.get("/widget/widget.js").status_code == 200
    for path in ("/v1/kb/entries", "/v1/kb/entries?status=draft&limit=500", "/v1/session",
                 "/v1/departments"):
        problem(client.get(path), 401, "unauthorized")
    for path, payload in [("/v1/analyze", {"text": "路灯坏了"}), ("/v1/classify", {"text": "路灯"}),
                          ("/v1/feedback", {"text": "路灯坏了", "type": "fault"})]:
        problem(client.post(path, json=payload), 401, "unauthorized")
    problem(client.get("/widget/../server.py"), 404, "route_not_found")
    missing = create_app(make_settings(kb_home), widget_dir=tmp_path_factory.mktemp("none"))
    problem(missing.test_client().get("/widget"), 404, "not_found")


def test_sign_in_exchanges_a_key_for_a_session_bound_to_it(kb_home):
    client = create_app(make_settings(kb_home)).test_client()
    r = sign_in(client, "agent")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("hotline_session=") and KEYS["agent"] not in cookie
    for attr in ("HttpOnly", "SameSite=Strict", "Path=/v1", "Max-Age=43200"):
        assert attr in cookie, cookie
    assert "Secure" not in cookie                    # plain http here; see the proxy test
    assert r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    assert (body["role"], body["key_id"]) == ("agent", key_id("agent"))
    assert 43190 <= body["expires_in"] <= 43200 and body["expires_at"].endswith("+00:00")
    assert client.get("/v1/session").get_json()["role"] == "agent"
    assert client.get("/v1/kb/entries").status_code == 200
    problem(client.post("/v1/kb/entries", json={"id": "w1", "question": "q", "answer": "a"}),
            403, "forbidden")                        # the key's role, nothing more
    # Any configured key signs in, with its own role.
    sign_in(client, "editor")
    assert client.get("/v1/session").get_json() == {**client.get("/v1/session").get_json(),
                                                    "role": "editor", "key_id": key_id("editor")}
    assert client.post("/v1/kb/entries", json={"id": "w1", "question": "q", "answer": "a"}
                       ).status_code == 201
    # Signing out clears the cookie.
    r = client.delete("/v1/session")
    assert r.status_code == 204 and "hotline_session=;" in r.headers["Set-Cookie"]
    problem(client.get("/v1/kb/entries"), 401, "unauthorized")


def test_sign_in_refuses_bad_keys_and_throttles_guessing(kb_home, caplog):
    app = create_app(make_settings(kb_home))
    clock = frozen_limiter(app)
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="hotline.access"):
        r = client.post("/v1/session", json={"key": "guess-0"})
    assert "Set-Cookie" not in r.headers and problem(r, 401, "unauthorized")
    assert "guess-0" not in caplog.text
    problem(client.post("/v1/session", json={"key": 5}), 400, "wrong_type")
    problem(client.post("/v1/session", json={"key": ""}), 400, "empty_text")
    problem(client.post("/v1/session", data=b'{"key": "\\ud800"}',   # a lone surrogate
                        content_type="application/json"), 401, "unauthorized")
    problem(client.post("/v1/session", data="key=x"), 415, "unsupported_media_type")
    # 20 wrong keys a minute per address, then every try from there waits.
    codes = [client.post("/v1/session", json={"key": f"guess-{i}"}).status_code
             for i in range(1, 30)]
    assert set(codes[:16]) == {401} and codes[-1] == 429
    r = client.post("/v1/session", json={"key": KEYS["agent"]})
    assert problem(r, 429, "rate_limited") and int(r.headers["Retry-After"]) >= 1
    other = {"REMOTE_ADDR": "10.0.0.7"}              # another agent's desk is not locked out
    assert client.post("/v1/session", json={"key": KEYS["agent"]},
                       environ_base=other).status_code == 201
    clock.t += 3.1                                   # one wrong key's worth refills in 3 s
    assert client.post("/v1/session", json={"key": KEYS["agent"]}).status_code == 201


def test_rate_limit_follows_the_identity_not_the_cookie(kb_home):
    """Each GET /widget used to get a fresh bucket; now every session of a key,
    and the key itself, share the key's bucket."""
    app = create_app(make_settings(kb_home, rate_limit_per_minute=4))
    frozen_limiter(app)
    a, b = app.test_client(), app.test_client()
    sign_in(a), sign_in(b)
    for _ in range(2):
        assert a.get("/v1/kb/entries").status_code == 200
        assert b.get("/v1/kb/entries").status_code == 200
    problem(b.get("/v1/kb/entries"), 429, "rate_limited")
    problem(a.get("/v1/kb/entries"), 429, "rate_limited")
    c = app.test_client()
    sign_in(c, environ_base={"REMOTE_ADDR": "10.0.0.8"})     # a fresh session: same bucket
    problem(c.get("/v1/kb/entries"), 429, "rate_limited")
    problem(a.get("/v1/kb/entries", headers=auth("agent")), 429, "rate_limited")
    assert a.get("/v1/kb/entries", headers=auth("editor")).status_code == 200


def test_sessions_expire_and_end_when_their_key_is_revoked(kb_home):
    import time

    from hotline.http.auth import Sessions

    app = create_app(make_settings(kb_home))
    ext = app.extensions["hotline"]
    sessions, agent = ext["sessions"], ext["keyring"].lookup(KEYS["agent"])
    client = app.test_client(use_cookies=False)

    def get(token):
        return client.get("/v1/kb/entries", headers={"Cookie": f"hotline_session={token}"})

    token, expiry = sessions.issue(agent)
    assert get(token).status_code == 200
    assert sessions.verify(token, now=expiry) is None and sessions.verify(token, now=expiry - 1)
    old, _ = sessions.issue(agent, now=time.time() - sessions.lifetime - 1)
    assert "expired" in problem(get(old), 401, "unauthorized")["detail"]
    # The old widget cookie (role.expiry.nonce.signature, no key) is worth nothing.
    legacy = "agent.9999999999.0123456789abcdef"
    legacy += "." + sessions._sign(legacy)
    problem(get(legacy), 401, "unauthorized")
    # Same home (same session secret), the agent key no longer configured: revoked.
    revoked = create_app(make_settings(kb_home, api_keys=f"editor:{KEYS['editor']}"))
    r = revoked.test_client(use_cookies=False).get(
        "/v1/kb/entries", headers={"Cookie": f"hotline_session={token}"})
    problem(r, 401, "unauthorized")
    kept = create_app(make_settings(kb_home))        # still configured: still valid
    assert kept.test_client(use_cookies=False).get(
        "/v1/kb/entries", headers={"Cookie": f"hotline_session={token}"}).status_code == 200
    # The session's role is the key's current one.
    promoted = create_app(make_settings(kb_home, api_keys=f"editor:{KEYS['agent']}"))
    r = promoted.test_client(use_cookies=False).get(
        "/v1/session", headers={"Cookie": f"hotline_session={token}"})
    assert r.get_json()["role"] == "editor"
    # Lifetime is a setting.
    short = create_app(make_settings(kb_home, session_minutes=30)).test_client()
    assert "Max-Age=1800" in sign_in(short).headers["Set-Cookie"]
    assert isinstance(short.application.extensions["hotline"]["sessions"], Sessions)


def test_secure_cookie_behind_a_tls_proxy(kb_home):
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    plain = create_app(make_settings(kb_home)).test_client()
    assert "Secure" not in sign_in(plain, headers=forwarded).headers["Set-Cookie"]  # not trusted
    proxied = create_app(make_settings(kb_home, proxy_hops=1)).test_client()
    assert "Secure" in sign_in(proxied, headers=forwarded).headers["Set-Cookie"]
    forced = create_app(make_settings(kb_home, secure_cookies=True)).test_client()
    assert "Secure" in sign_in(forced).headers["Set-Cookie"]


def test_drafts_are_editor_only(kb_client):
    editor = auth("editor")
    r = kb_client.post("/v1/kb/entries", headers=editor, json={
        "id": "d-1", "question": "草稿问题", "answer": "未审核的答案", "status": "draft"})
    assert r.status_code == 201
    r = kb_client.post("/v1/kb/entries", headers=editor, json={
        "id": "d-2", "question": "先草稿后发布", "answer": "草稿版答案", "status": "draft"})
    kb_client.patch("/v1/kb/entries/d-2", headers={**editor, "If-Match": '"1"'},
                    json={"status": "published", "answer": "发布版答案"})
    session = kb_client.application.test_client()
    sign_in(session, "agent")
    for agent in (lambda path: kb_client.get(path, headers=auth("agent")), session.get):
        body = problem(agent("/v1/kb/entries?status=draft&limit=500"), 403, "forbidden")
        assert "editor" in body["detail"]
        listing = agent("/v1/kb/entries?limit=500").get_json()
        assert listing["total"] == 4 and "d-1" not in [e["id"] for e in listing["items"]]
        problem(agent("/v1/kb/entries/d-1"), 403, "forbidden")
        problem(agent("/v1/kb/entries/d-1/history"), 403, "forbidden")
        history = agent("/v1/kb/entries/d-2/history").get_json()["items"]
        assert [h["entry"]["answer"] for h in history] == ["发布版答案"]
        assert agent("/v1/kb/entries/d-2").status_code == 200
    for role in ("editor", "admin"):
        listing = kb_client.get("/v1/kb/entries?status=draft", headers=auth(role)).get_json()
        assert [e["id"] for e in listing["items"]] == ["d-1"]
        assert kb_client.get("/v1/kb/entries", headers=auth(role)).get_json()["total"] == 5
        assert kb_client.get("/v1/kb/entries/d-1", headers=auth(role)).status_code == 200
        assert len(kb_client.get("/v1/kb/entries/d-2/history", headers=auth(role))
                   .get_json()["items"]) == 2


# ---------------------------------------------------------------- bad input
