"""The HTTP service: ``create_app(config=None)`` builds the Flask app.

Views are thin: check the caller (key + role + rate limit), read and check the
body against the published schema, call a pure function over the current
engine snapshot, return JSON. Every error is mapped to an RFC 9457 problem
document in one place (``hotline.http.problems``). See docs/api.md.
"""
from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from flask import Flask, Response, g, jsonify, request, send_from_directory
from werkzeug.middleware.proxy_fix import ProxyFix

from hotline.http import auth as auth_mod
from hotline import service
from hotline.responses import jsonable
from hotline.runtime import Engine
from hotline.http import accesslog
from hotline.http import dashboard as dashboard_views
from hotline.http import incidents as incident_views
from hotline.http import openapi, validation
from foundation import timing
from foundation.errors import InvalidInput, NotFound
from hotline.http.errors import Forbidden, PreconditionRequired, Unauthorized, WrongType
from hotline.http.feedback import FeedbackStore
from hotline.http.metrics import CONTENT_TYPE, Metrics, engine_gauges
from hotline.http.problems import problem_for
from hotline.http.ratelimit import body_cost, list_cost, make_limiter
from foundation.settings import Settings

log = logging.getLogger("hotline.server")
WIDGET_DIR = Path(__file__).resolve().parent / "widget"
DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
DRAFT_ROLE = "editor"                 # drafts (unpublished answers) are editors' work
SIGN_IN_FAILURES_PER_MINUTE = 20      # per client address, at a full bucket

def _settings(config) -> Settings:
    if isinstance(config, Settings):
        return config
    return Settings.load(overrides=dict(config or {}))


def create_app(config: Settings | Mapping[str, Any] | None = None, *,
               engine: Engine | None = None, widget_dir: Path | None = None,
               dashboard_dir: Path | None = None) -> Flask:
    """``config``: a Settings, or a dict of setting overrides (env and TOML still
    apply beneath them). ``engine`` injects a prepared engine (tests, embedding
    hosts); by default one is loaded from ``settings.home``."""
    settings = _settings(config)
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    keyring, demo_key = auth_mod.keyring_for(settings)
    sessions = auth_mod.Sessions(auth_mod.session_secret(settings.home), keyring,
                                 lifetime=settings.session_minutes * 60)
    if settings.proxy_hops > 0:
        # X-Forwarded-For/-Proto/-Host from that many trusted proxies: the client's
        # address (sign-in throttle, logs) and https (Secure cookies).
        n = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    limiter = make_limiter(settings)
    metrics = Metrics()
    engine = engine or Engine(settings)
    feedback = FeedbackStore.for_settings(settings)
    desks = incident_views.Desks(settings)
    schemas = {name: validation.Schema(schema)
               for name, schema in openapi.request_schemas(settings).items()}
    doc = openapi.build(settings)
    widget_dir = Path(widget_dir or WIDGET_DIR)
    dashboard_dir = Path(dashboard_dir or DASHBOARD_DIR)
    app.extensions["hotline"] = {"settings": settings, "engine": engine, "keyring": keyring,
                                 "demo_key": demo_key, "metrics": metrics, "feedback": feedback,
                                 "sessions": sessions, "limiter": limiter,
                                 "incidents": desks}
    metrics.add_gauges(lambda: engine_gauges(engine, feedback))

    # ------------------------------------------------------------ plumbing
    @app.before_request
    def _start():
        g.t0 = time.perf_counter()
        timing.begin()
        g.request_id = accesslog.request_id(request.headers.get("X-Request-ID"))
        g.principal = None

    @app.after_request
    def _finish(resp: Response):
        seconds = time.perf_counter() - g.get("t0", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        metrics.observe(endpoint, request.method, resp.status_code, seconds)
        phases = timing.end()
        if phases:
            resp.headers["Server-Timing"] = timing.server_timing(phases, seconds)
            metrics.observe_phases(endpoint, {**phases, "total": seconds})
        principal = g.get("principal")
        accesslog.access(g.get("request_id", ""), request.method, request.path, endpoint,
                       resp.status_code, seconds, principal.key_id if principal else None,
                       g.get("log_text"), g.get("error_code"))
        return resp

    @app.errorhandler(Exception)
    def _error(exc):
        status, body, headers = problem_for(exc)
        body["detail"] = engine.public(body["detail"])   # no path of this machine
        g.error_code = body["code"]
        resp = jsonify(body)
        resp.status_code = status
        resp.mimetype = "application/problem+json"
        resp.headers.update(headers)
        return resp

    def api(rule: str, methods: list[str], role: str):
        """Register a /v1 view that needs ``role``; authentication and the rate
        limit run before the body is read."""
        def wrap(fn):
            @functools.wraps(fn)
            def view(**kwargs):
                with timing.phase("auth"):
                    principal = auth_mod.authenticate(
                        keyring, sessions, request.headers.get("Authorization"),
                        request.cookies.get(auth_mod.SESSION_COOKIE))
                    g.principal = principal
                    principal.require(role)
                    limiter.hit(principal.key_id)   # 1 token now; the work's rest in charge()
                return fn(**kwargs)
            app.add_url_rule(rule, fn.__name__, view, methods=methods)
            return view
        return wrap

    def charge(cost: int) -> None:
        """The rest of a request's cost (docs/api.md, "Rate limit"), before the work."""
        if cost > 1:
            limiter.hit(g.principal.key_id, cost - 1, paid=1)

    def body(schema: str) -> dict:
        with timing.phase("parse"):
            data = validation.read_json(request, settings.max_body_bytes)
            schemas[schema].check(data)
        g.log_text = data.get("text") or data.get("query")
        charge(body_cost(data))
        return data

    def took(payload: dict) -> Response:
        payload["took_ms"] = round((time.perf_counter() - g.t0) * 1000, 2)
        with timing.phase("serialise"):
            return jsonify(payload)

    # ------------------------------------------------------------ analysis
    @api("/v1/analyze", ["POST"], "agent")
    def analyze():
        data = body("AnalyzeRequest")
        result = service.analyze(engine.snapshot, data["text"], data.get("region"),
                                 data.get("channel"), data.get("k", 5))
        result["incident"] = incident_views.match(desks, result)   # records nothing
        return took({"request_id": g.request_id, **result})

    def search_args() -> dict:
        """GET /v1/search?query=…&k=…: the POST body's fields from the URL (a link or a
        curl one-liner), checked by the same schema."""
        with timing.phase("parse"):
            data = {name: request.args[name] for name in ("query", "region", "department",
                                                          "category", "now") if name in request.args}
            if "k" in request.args:
                raw = request.args["k"]
                data["k"] = int(raw) if raw.strip().lstrip("-").isdigit() else raw  # schema names a bad k
            schemas["SearchRequest"].check(data)
        g.log_text = data.get("query")
        charge(body_cost(data))
        return data

    @api("/v1/search", ["GET", "POST"], "agent")
    def search():
        data = body("SearchRequest") if request.method == "POST" else search_args()
        snap = engine.snapshot
        query = service.checked_text(snap, data["query"])
        hits = service.search(snap, query, data.get("k", 5), data.get("region"),
                              data.get("department"), data.get("category"), data.get("now"))
        return took({"request_id": g.request_id, "query": query, "hits": hits})

    @api("/v1/classify", ["POST"], "agent")
    def classify():
        data = body("ClassifyRequest")
        return jsonify({"request_id": g.request_id,
                        **service.classify(engine.snapshot, [data["text"]])[0]})

    @api("/v1/classify/batch", ["POST"], "agent")
    def classify_batch():
        data = body("ClassifyBatchRequest")
        results = service.classify(engine.snapshot, [item["text"] for item in data["items"]],
                                   where="items[{i}].text")
        items = [{"id": item.get("id"), **r} for item, r in zip(data["items"], results)]
        return took({"request_id": g.request_id, "items": items})

    # ------------------------------------------------------------ knowledge base
    def store():
        snap = engine.snapshot
        snap.need("kb")
        return snap.store

    def by() -> str:
        return f"api:{g.principal.role}:{g.principal.key_id}"

    def entry_response(entry, status: int = 200) -> Response:
        resp = jsonify(jsonable(entry))
        resp.status_code = status
        resp.headers["ETag"] = f'"{entry.revision}"'
        return resp

    def base_revision() -> int:
        value = request.headers.get("If-Match")
        if value is None:
            raise PreconditionRequired("send If-Match with the revision you are changing "
                                       "(the ETag of GET /v1/kb/entries/<id>)")
        text = value.strip().removeprefix("W/").strip('"')
        if not text.isdigit() or len(text) > 12:
            raise InvalidInput(f"If-Match {value[:40]!r} is not a revision; expected a number "
                               'such as "3"')
        return int(text)

    def sees_drafts() -> bool:
        return g.principal.allows(DRAFT_ROLE)

    def no_drafts(what: str) -> Forbidden:
        return Forbidden(f"{what}: drafts are visible to role {DRAFT_ROLE!r} and above; "
                         f"this identity has role {g.principal.role!r}")

    @api("/v1/kb/entries", ["GET"], "agent")
    def list_entries():
        status = request.args.get("status")
        if status is not None and status not in ("draft", "published", "retired"):
            raise InvalidInput(f"status {status[:40]!r} is not one of draft, published, retired")
        if status == "draft" and not sees_drafts():
            raise no_drafts("status=draft")
        offset = _int_arg("offset", 0, 0, None)
        limit = _int_arg("limit", 50, 1, 500)
        charge(list_cost(limit))
        kb = store()
        if status is None and not sees_drafts():
            status = ("published", "retired")   # everything an agent may see
        items = list(itertools.islice(kb.iter_entries(status), offset, offset + limit))
        return jsonify({"total": kb.count(status), "offset": offset, "limit": limit,
                        "items": [jsonable(e) for e in items]})

    @api("/v1/kb/entries", ["POST"], "editor")
    def create_entry():
        data = body("EntryCreate")
        entry = store().add(data, by=by())
        engine.sync_index(wait=True)   # the writer reads its own write
        resp = entry_response(entry, 201)
        resp.headers["Location"] = f"/v1/kb/entries/{quote(entry.id, safe='')}"
        return resp

    @api("/v1/kb/entries/<entry_id>", ["GET"], "agent")
    def get_entry(entry_id):
        entry = store().get(entry_id)
        if entry.status == "draft" and not sees_drafts():
            raise no_drafts(f"entry {entry_id!r} is a draft")
        return entry_response(entry)

    @api("/v1/kb/entries/<entry_id>", ["PATCH"], "editor")
    def patch_entry(entry_id):
        revision = base_revision()
        data = body("EntryPatch")
        entry = store().update(entry_id, data, revision, by=by())
        engine.sync_index(wait=True)   # the writer reads its own write
        return entry_response(entry)

    @api("/v1/kb/entries/<entry_id>", ["DELETE"], "editor")
    def delete_entry(entry_id):
        revision = base_revision()
        entry = store().retire(entry_id, revision, by=by())
        engine.sync_index(wait=True)   # the writer reads its own write
        return entry_response(entry)

    @api("/v1/kb/entries/<entry_id>/history", ["GET"], "agent")
    def entry_history(entry_id):
        kb = store()
        items = kb.history(entry_id)
        if not sees_drafts():
            current = kb.find(entry_id)
            if current is not None and current.status == "draft":
                raise no_drafts(f"entry {entry_id!r} is a draft")
            items = [r for r in items if r.entry.status != "draft"]   # unpublished edits
        return jsonify({"id": entry_id, "items": jsonable(items)})

    # ------------------------------------------------------------ incidents (hotline/http/incidents.py)
    dashboard_views.register(api, desks, settings)   # before /v1/incidents/<int:id>
    incident_views.register(api, body, by, engine, desks)

    # ------------------------------------------------------------ widget session
    def session_view(principal, status: int = 200) -> Response:
        expires = principal.expires
        left = None if expires is None else max(0, int(expires - time.time()))
        resp = jsonify({"role": principal.role, "key_id": principal.key_id,
                        "expires_at": None if expires is None else _iso(expires),
                        "expires_in": left})
        resp.status_code = status
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def set_session_cookie(resp: Response, token: str, max_age: int) -> None:
        resp.set_cookie(auth_mod.SESSION_COOKIE, token, max_age=max_age, httponly=True,
                        samesite="Strict", secure=settings.secure_cookies or request.is_secure,
                        path="/v1")

    @app.post("/v1/session")
    def sign_in():
        """Exchange a configured key for a session cookie (the widget's sign-in).
        Throttled per client address: each try costs a token, a wrong key 1/20 of
        the bucket (about 20 wrong keys a minute), before the key is looked at."""
        bucket = f"sign-in:{request.remote_addr or '-'}"
        limiter.hit(bucket)
        data = validation.read_json(request, settings.max_body_bytes)
        schemas["SessionRequest"].check(data)
        principal = keyring.lookup(data["key"])
        if principal is None:
            limiter.charge(bucket, max(1.0, limiter.capacity / SIGN_IN_FAILURES_PER_MINUTE))
            raise Unauthorized("the key is not valid")
        g.principal = principal
        token, expires = sessions.issue(principal)
        resp = session_view(replace(principal, expires=expires), 201)
        set_session_cookie(resp, token, sessions.lifetime)
        return resp

    @api("/v1/session", ["GET"], "agent")
    def session_info():
        return session_view(g.principal)

    @app.delete("/v1/session")
    def sign_out():
        resp = Response(status=204)
        resp.headers["Cache-Control"] = "no-store"
        set_session_cookie(resp, "", 0)
        return resp

    # ------------------------------------------------------------ feedback, admin
    @api("/v1/feedback", ["POST"], "agent")
    def post_feedback():
        data = body("FeedbackRequest")
        row = feedback.add(data, key_id=g.principal.key_id)
        resp = jsonify({"id": row["id"], "created_at": row["created_at"]})
        resp.status_code = 201
        return resp

    @api("/v1/departments", ["GET"], "agent")
    def departments():
        return jsonify(service.departments(engine.snapshot))

    @api("/v1/models", ["GET"], "admin")
    def models():
        return jsonify(engine.describe(engine.snapshot))

    @api("/v1/admin/reload", ["POST"], "admin")
    def reload():
        # wsgi.multithread is False where this process serves one request at a
        # time (gunicorn's sync worker, the test client): nothing to pace for.
        return jsonify(engine.reload(paced=bool(request.environ.get("wsgi.multithread", True))))

    # ------------------------------------------------------------ operations
    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        snap = engine.snapshot
        resp = jsonify(engine.describe(snap))
        resp.status_code = 200 if snap.ready else 503
        return resp

    @app.get("/metrics")
    def metrics_view():
        return Response(metrics.render(), content_type=CONTENT_TYPE)

    @app.get("/openapi.json")
    def openapi_json():
        return jsonify(doc)

    @app.get("/docs")
    def docs():
        return Response(openapi.render_html(doc), content_type="text/html; charset=utf-8")

    @app.get("/widget")
    @app.get("/widget/")
    def widget_page():
        # The page grants nothing: it asks the agent to sign in (POST /v1/session).
        return _widget_file(widget_dir, "index.html")

    @app.get("/widget/<path:name>")
    def widget_asset(name):
        return _widget_file(widget_dir, name)

    @app.get("/dashboard")
    @app.get("/dashboard/")
    def dashboard_page():
        # Like the widget: the page grants nothing, the data needs a session or key.
        return _widget_file(dashboard_dir, "index.html", "dashboard")

    @app.get("/dashboard/<path:name>")
    def dashboard_asset(name):
        return _widget_file(dashboard_dir, name, "dashboard")

    return app


def _widget_file(directory: Path, name: str, what: str = "widget") -> Response:
    if not (directory / "index.html").is_file():
        raise NotFound(f"the {what} is not installed (no {directory}/index.html)")
    resp = send_from_directory(directory, name, max_age=0)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _iso(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.timezone.utc).isoformat(timespec="seconds")


def _int_arg(name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.strip().lstrip("-").isdigit() or len(raw) > 12:
        raise WrongType(f"query parameter {name}={raw[:40]!r} is not an integer")
    value = int(raw)
    if value < lo or (hi is not None and value > hi):
        raise InvalidInput(f"query parameter {name}={value} is out of range "
                           f"[{lo}, {hi if hi is not None else '∞'}]")
    return value
