"""Run roomsync against a throwaway local Synapse: validate, `roomsync local`, then a plan with no changes.

Used by scripts/demo. `roomsync local` starts the Synapse in a temporary directory,
registers the provisioning account and the bots, plans and syncs this repository's
rooms and writes an env file; the demo then plans again through that env file and
stops it with SIGTERM, which removes the Synapse and its data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 300  # seconds for `roomsync local` to start Synapse and sync
STOP_TIMEOUT = 30


def roomsync(*args: str) -> list[str]:
    return [sys.executable, "-m", "roomsync", *args]


def step(title: str, *args: str, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n$ roomsync {' '.join(args)}    # {title}", flush=True)
    code = subprocess.run(roomsync(*args), cwd=ROOT, env=env).returncode
    if code not in ok:
        sys.exit(f"demo: 'roomsync {' '.join(args)}' exited {code}")
    return code


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def main() -> None:
    step("check the config offline", "validate")
    with tempfile.TemporaryDirectory(prefix="roomsync-demo-") as workdir:
        env_file = Path(workdir) / "local.env"
        print("\n$ roomsync local --env-file local.env &    # throwaway Synapse: register, plan, sync", flush=True)
        local = subprocess.Popen(roomsync("local", "--env-file", str(env_file)), cwd=ROOT)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not env_file.exists():
                if local.poll() is not None:
                    sys.exit(f"demo: 'roomsync local' exited {local.returncode}")
                if time.monotonic() > deadline:
                    sys.exit(f"demo: 'roomsync local' was not ready within {READY_TIMEOUT} s")
                time.sleep(0.2)
            env = {**os.environ, **read_env_file(env_file)}
            code = step(
                "plan again, through local.env: nothing left to do", "plan", "--detailed-exitcode", env=env, ok=(0, 2)
            )
        finally:
            if local.poll() is None:
                print("\n$ kill -TERM %1    # stop it", flush=True)
                local.send_signal(signal.SIGTERM)
                try:
                    local.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    local.kill()
                    local.wait()
        if local.returncode != 0:
            sys.exit(f"demo: 'roomsync local' exited {local.returncode} when stopped")
        if code != 0:
            sys.exit("demo: the second plan still has changes")
    print("\nDemo finished: the throwaway Synapse is stopped and its data removed.")


if __name__ == "__main__":
    main()
