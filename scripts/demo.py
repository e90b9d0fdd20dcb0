"""Run roomsync against a throwaway local Synapse: plan, sync, then a plan with no changes.

Used by scripts/demo; the Synapse lives in a temporary directory and is stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.synapse import SynapseServer  # noqa: E402  (test helper, reused for the demo)


def step(title: str, *args: str, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n$ roomsync {' '.join(args)}    # {title}", flush=True)
    code = subprocess.run([sys.executable, "-m", "roomsync", *args], cwd=ROOT, env=env).returncode
    if code not in ok:
        sys.exit(f"demo: 'roomsync {' '.join(args)}' exited {code}")
    return code


def main() -> None:
    server_name = yaml.safe_load((ROOT / "roomsync.yaml").read_text())["server_name"]
    with tempfile.TemporaryDirectory(prefix="roomsync-demo-") as workdir:
        print(f"Starting a throwaway Synapse for {server_name} ...", flush=True)
        with SynapseServer(Path(workdir), server_name=server_name) as synapse:
            token = synapse.register("roomsync", admin=True)
            # What the README advises for a real server: exempt the account from rate limits.
            synapse.request("POST", "/_synapse/admin/v1/users/@roomsync:" + server_name + "/override_ratelimit",
                            token, body={"messages_per_second": 0, "burst_count": 0})
            # Bots with create_account are created by sync; the others must exist to be invited
            # (on a real server they are registered already). Bots with a token_env get their
            # token through that variable, as in the sync job.
            bot_tokens = {}
            for bot in yaml.safe_load((ROOT / "bots.yaml").read_text())["bots"]:
                if bot["user"].endswith(f":{server_name}") and not bot.get("create_account"):
                    bot_token = synapse.register(bot["user"][1:].split(":", 1)[0])
                    if bot.get("token_env"):
                        bot_tokens[bot["token_env"]] = bot_token
            print(f"Synapse is up at {synapse.url}; provisioning account @roomsync:{server_name}")
            env = {**os.environ, **bot_tokens, "ROOMSYNC_HOMESERVER": synapse.url, "ROOMSYNC_ACCESS_TOKEN": token}
            step("check the config offline", "validate", env=env)
            step("what would change (everything is new)", "plan", env=env)
            step("make the homeserver match", "sync", env=env)
            code = step("plan again: nothing left to do", "plan", "--detailed-exitcode", env=env, ok=(0, 2))
            if code != 0:
                sys.exit("demo: the second plan still has changes")
    print("\nDemo finished: the throwaway Synapse is stopped and its data removed.")


if __name__ == "__main__":
    main()
