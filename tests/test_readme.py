"""The README's command blocks, run as written against a fresh `aiaas up`, so the README cannot drift.

The install block's `aiaas up` starts the whole platform on free ports in a data dir of its own (CI has just
run the same install); then every later `bash` block runs in one shell, in order, with variables carried
from block to block and `localhost:8000` pointed at that gateway. A block that streams (`curl -N`) is cut
after a while, as a person would press Ctrl-C. Each Python one-liner and every source file of the project
is also compiled by every supported Python found on this machine: a README that only works on one minor
version is how a newcomer's first command failed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.stack import free_port
from tests.conftest import ENDPOINT_VARIABLES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
# `python -c '...'` one-liners inside the blocks.
ONE_LINER = re.compile(r"python3? -c '([^']*)'")
SUPPORTED = ("3.11", "3.12", "3.13")
STREAM_SECONDS = 15
UP_READY_SECONDS = 240

# A streamed `curl -N` never ends by itself: cut it as a reader would, and count the cut as success.
SHELL_PREAMBLE = f"""
set -euo pipefail
curl() {{
  if [[ " $* " == *" -N "* ]]; then
    command curl --max-time {STREAM_SECONDS} "$@" || [ $? -eq 28 ]
  else
    command curl --fail-with-body "$@"
  fi
}}
"""


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def install_block() -> str:
    found = [b for b in blocks() if "pip install" in b]
    assert len(found) == 1, "the README has one install block"
    return found[0].strip()


def usage_blocks() -> list[str]:
    """Every block after the install and test commands: what a user types against a running platform."""
    return [b for b in blocks() if "pip install" not in b and b.strip() != "python -m pytest -q"]


def test_ci_runs_the_readme_install_and_test_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    steps = [step.strip() for step in install_block().split("&&")]
    assert steps[-1] == "aiaas up"
    # CI installs exactly as the README says (quietly), and runs the README's test command.
    assert "python3 -m venv .venv" in steps and "python3 -m venv .venv" in ci
    assert "pip install -e '.[dev]'" in steps and "-e '.[dev]'" in ci
    assert any(b.strip() == "python -m pytest -q" for b in blocks())
    assert "\npython -m pytest -q\n" in ci


def find_python(version: str) -> str | None:
    """This interpreter, or one on PATH, or one that pyenv keeps, that really is `version`."""
    if sys.version.startswith(f"{version}."):
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.startswith(f"{version}."):
            return candidate
    return None


@pytest.mark.parametrize("version", SUPPORTED)
def test_readme_one_liners_and_sources_compile_on_every_supported_python(version: str, tmp_path: Path) -> None:
    interpreter = find_python(version)
    if interpreter is None:
        pytest.skip(f"Python {version} is not installed here")
    snippets = [m for b in blocks() for m in ONE_LINER.findall(b)]
    assert snippets, "the README's one-liners were found"
    for index, snippet in enumerate(snippets):
        (tmp_path / f"readme_{index}.py").write_text(snippet)
    sources = [str(p) for p in ROOT.rglob("*.py") if ".venv" not in p.parts and ".aiaas" not in p.parts]
    check = "import sys, ast\nfor path in sys.argv[1:]:\n    ast.parse(open(path).read(), path)\n"
    done = subprocess.run(
        [interpreter, "-c", check, *map(str, tmp_path.glob("*.py")), *sources], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def wait_until_group_is_gone(group: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise TimeoutError(f"process group {group} still running")


@pytest.fixture(scope="module")
def platform_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    """`aiaas up` as the README runs it, on free ports, in a data dir of its own."""
    data_dir = tmp_path_factory.mktemp("readme")
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARIABLES and not k.startswith("AIAAS_")}
    gateway_port = free_port()
    env.update(
        AIAAS_DATA_DIR=str(data_dir),
        AIAAS_GATEWAY_PORT=str(gateway_port),
        AIAAS_TEMPORAL_PORT=str(free_port()),
        AIAAS_TEMPORAL_UI_PORT=str(free_port()),
        AIAAS_POSTGRES_PORT=str(free_port()),
        AIAAS_REDIS_PORT=str(free_port()),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    up = install_block().split("&&")[-1].strip()
    log = (data_dir / "up.log").open("w")
    # The README's command is a shell line by definition.
    process = subprocess.Popen(  # noqa: S602
        up, shell=True, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + UP_READY_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, (data_dir / "up.log").read_text()[-3000:]
            # As a reader does: wait for `up` to say it is up (a gateway answers before the workers poll,
            # and a message sent then waits on a worker still importing), then check the gateway answers.
            if "aiaas is up after" not in (data_dir / "up.log").read_text():
                time.sleep(1)
                continue
            try:
                if httpx.get(f"http://127.0.0.1:{gateway_port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("aiaas up did not serve the gateway:\n" + (data_dir / "up.log").read_text()[-3000:])
        yield gateway_port, env
    finally:
        # Ctrl-C reaches the whole foreground group, the shell and `aiaas up` alike.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
            wait_until_group_is_gone(process.pid, 60)
        except (subprocess.TimeoutExpired, TimeoutError):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.mark.slow
def test_readme_usage_blocks_run_as_written(platform_up: tuple[int, dict[str, str]]) -> None:
    port, env = platform_up
    script = SHELL_PREAMBLE
    for block in usage_blocks():
        script += "\n" + block.replace("localhost:8000", f"localhost:{port}") + "\n"
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # The conversation answered, and the stream showed it arriving.
    assert '"type":"message.accepted"' in output.replace(" ", "") or "message.accepted" in output
    assert "message.completed" in output
    assert "echo: Where is my order?" in output
    # The demo world's order, looked up for its own customer through the offline model's plan.
    assert "[tool] orders.lookup completed" in output and "done: orders.lookup=ok" in output
