"""Two `hotline serve` over one home each start `python -m training.prepare`:
one builds, the other waits on HOME/run/prepare.lock (and then finds nothing to
do) instead of training a second model beside it."""
import os
import subprocess
import sys
import time
from pathlib import Path

from foundation.settings import Settings
from training.prepare import home_lock

ROOT = Path(__file__).resolve().parents[1]


def test_a_second_prepare_waits_for_the_first_on_the_same_home(tmp_path):
    settings = Settings.load(overrides={"home": tmp_path, "kb_url": ""})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HOTLINE_KB_URL", None)
    with home_lock(settings):   # the first builder, still at work
        child = subprocess.Popen([sys.executable, "-m", "training.prepare", "--home", str(tmp_path)],
                                 cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        seen = []
        for line in child.stderr:   # blocks until the child logs that it waits (or exits)
            seen.append(line)
            if "waiting for it" in line:
                break
        assert seen and "waiting for it" in seen[-1], f"prepare did not wait: {''.join(seen)}"
        time.sleep(0.5)
        assert child.poll() is None, "prepare went on while another held the home's lock"
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "prepare: finished" in err    # after the lock was released
