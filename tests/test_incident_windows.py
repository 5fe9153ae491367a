"""[incidents.window_hours]: the centre's windows over the fitted ones, read from the
home's hotline.toml, used by /v1/analyze (through the server's desk) and by
`hotline incidents`; bad values stop with an error naming the key."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.errors import ConfigError
from foundation.settings import Settings
from incidents.online import IncidentDesk
from incidents.windows import window_hours

ROOT = Path(__file__).resolve().parents[1]
NOW = 500_000.0
REGION = "海州区"
FIRST = "幸福小区停水了，一滴水都没有，什么时候来水"
SECOND = "我住幸福小区5栋，从早上到现在一直没水"
LATER = "幸福小区东门这边也停水了，请问什么时候恢复供水"   # 30 h after the first


def _desk(tmp_path, hours=None):
    clock = {"now": NOW}
    d = IncidentDesk.open(f"sqlite:///{tmp_path / 'i.sqlite3'}", clock=lambda: clock["now"],
                          window_hours=hours)
    first = d.record({"text": FIRST, "region": REGION}, "t")
    d.record({"text": SECOND, "region": REGION}, "t")
    return d, first["incident"]["id"]


@pytest.mark.parametrize("hours, links", [(None, True), ({"water_outage": 48}, True),
                                          ({"water_outage": 24}, False),
                                          ({"water_outage": 336}, True)])
def test_online_decision_follows_the_window(tmp_path, hours, links):
    desk, incident_id = _desk(tmp_path, hours)
    m = desk.match(LATER, REGION, time_h=NOW + 30)
    assert (m is not None and m["id"] == incident_id) is links, m


def test_default_applies_to_classes_without_their_own(tmp_path):
    """"default" is the window of reports naming no class (and of classes the dev
    set did not fit); a class's own window stays."""
    desk, _ = _desk(tmp_path, {"default": 12})
    assert desk.linker.window_of(frozenset()) is None          # no class: the default
    assert desk.linker._params()[2] == 12.0
    assert desk.linker.window_of({"water_outage"}) == 48.0      # fitted, kept
    assert desk.linker.window_of({"tree"}) == 12.0              # not fitted: the default
    assert desk.store.default_window_h == 12.0                  # closes_at follows
    # a copy: the linker it came from keeps its windows
    from incidents.linker import IncidentLinker

    fitted = IncidentLinker.load()
    assert fitted.with_windows({}) is fitted
    assert fitted.with_windows({"default": 12, "water_outage": 6}).window_of({"water_outage"}) == 6
    assert fitted._params()[2] == 168.0 and fitted.window_of({"water_outage"}) == 48.0


@pytest.mark.parametrize("hours, closes", [(None, 48), ({"water_outage": 24}, 24)])
def test_closes_at_follows_the_window(tmp_path, hours, closes):
    desk, incident_id = _desk(tmp_path, hours)
    assert desk.store.incident(incident_id)["closes_at"] == NOW + closes


@pytest.mark.parametrize("table, message", [
    ({"window_hours": {"water_outage": -3}}, "water_outage = -3: expected a positive number"),
    ({"window_hours": {"water_outage": "48h"}}, "water_outage = '48h'"),
    ({"window_hours": {"default": 0}}, "default = 0"),
    ({"window_hours": {"noise": True}}, "noise = True"),
    ({"window_hours": {"noise": float("nan")}}, "noise = nan"),
    ({"window_hours": {"fault": 48}}, "'fault' is not a problem class"),
    ({"window_hours": 48}, "window_hours = 48: expected a table"),
    ({"windows": {}}, "unknown key(s) ['windows']"),
])
def test_bad_settings_name_the_key(table, message):
    with pytest.raises(ConfigError) as err:
        window_hours(table)
    assert message in str(err.value)


def test_read_from_the_home_toml(tmp_path):
    (tmp_path / "hotline.toml").write_text(
        "[incidents.window_hours]\nwater_outage = 24\ndefault = 72.5\n", encoding="utf-8")
    s = Settings.load(overrides={"home": tmp_path}, env={})
    assert window_hours(s.incidents) == {"water_outage": 24.0, "default": 72.5}
    assert window_hours(Settings.load(overrides={"home": tmp_path / "none"}, env={}).incidents) == {}


def test_server_refuses_to_start_on_a_bad_window(tmp_path):
    from server import create_app
    from tests.conftest import make_settings

    (tmp_path / "hotline.toml").write_text("[incidents.window_hours]\npower_outage = -1\n",
                                           encoding="utf-8")
    with pytest.raises(ConfigError, match="power_outage = -1"):
        create_app(make_settings(tmp_path))


@pytest.mark.parametrize("toml, links", [("", True),
                                         ("[incidents.window_hours]\nwater_outage = 24\n", False)])
def test_analyze_uses_the_home_window(served_home, tmp_path, toml, links):
    """/v1/analyze through the app: the server's desk has the home's windows. The
    outage's calls came 31 and 30 h ago; this one links under the fitted 48 h and
    not under the home's 24 h."""
    import datetime as dt
    import time

    from server import create_app
    from tests.conftest import auth, copy_home, make_settings

    home = tmp_path / "home"
    copy_home(served_home, home)
    (home / "hotline.toml").write_text(toml, encoding="utf-8")
    client = create_app(make_settings(home)).test_client()
    for text, ago in ((FIRST, 31), (SECOND, 30)):
        when = dt.datetime.fromtimestamp(time.time() - ago * 3600, dt.timezone.utc)
        r = client.post("/v1/incidents/orders", headers=auth("agent"),
                        json={"text": text, "region": REGION, "time": when.isoformat(timespec="seconds")})
        assert r.status_code == 201, r.get_json()
    incident_id = r.get_json()["incident"]["id"]
    r = client.post("/v1/analyze", headers=auth("agent"), json={"text": LATER, "region": REGION})
    assert r.status_code == 200, r.get_json()
    inc = r.get_json()["incident"]
    assert (inc is not None and inc["id"] == incident_id) is links, inc


def _run(home: Path, inp: Path, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "hotline.cli.main", "--home", str(home), "incidents",
                    str(inp), "--text-col", "text", "--time-col", "time", "--region-col", "region",
                    "--out", str(out), "--no-progress"],
                   check=True, cwd=ROOT, capture_output=True, env=_env())


def _env():
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_batch_uses_the_home_window(tmp_path):
    inp = tmp_path / "in.csv"
    with open(inp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "time", "region"])
        w.writerows([(FIRST, "2026-05-01 08:00", REGION), (SECOND, "2026-05-01 09:00", REGION),
                     (LATER, "2026-05-02 14:00", REGION)])   # 30 h after the first

    def ids(home):
        home.mkdir(exist_ok=True)
        out = tmp_path / f"{home.name}.csv"
        _run(home, inp, out)
        with open(out, encoding="utf-8", newline="") as fh:
            return [r["incident_id"] for r in csv.DictReader(fh)]

    fitted = ids(tmp_path / "fitted")
    assert fitted[0] == fitted[1] == fitted[2]          # outage: 48 h
    short = tmp_path / "short"
    short.mkdir()
    (short / "hotline.toml").write_text("[incidents.window_hours]\nwater_outage = 24\n",
                                        encoding="utf-8")
    got = ids(short)
    assert got[0] == got[1] != got[2]


def test_batch_names_the_bad_key(tmp_path):
    (tmp_path / "hotline.toml").write_text('[incidents.window_hours]\nnoise = "a week"\n',
                                           encoding="utf-8")
    inp = tmp_path / "in.csv"
    inp.write_text("text,time,region\n停水,2026-05-01 08:00,海州区\n", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "hotline.cli.main", "--home", str(tmp_path),
                        "incidents", str(inp), "--out", str(tmp_path / "o.csv"), "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, env=_env())
    assert p.returncode != 0 and "noise = 'a week'" in p.stderr, p.stderr
    assert not (tmp_path / "o.csv").exists()
