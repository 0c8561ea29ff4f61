"""The software bill of materials: a CycloneDX document of what is installed, every pinned dependency in it
at its pinned version.

`.ci/run` writes it to build/sbom.cdx.json (kept with the run's artefacts) and points AIAAS_SBOM at it; run
alone, the test makes its own from the interpreter running it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sbom(tmp_path: Path) -> dict:
    given = os.environ.get("AIAAS_SBOM")
    if given:
        return json.loads(Path(given).read_text())
    out = tmp_path / "sbom.cdx.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cyclonedx_py",
            "environment",
            "--pyproject",
            str(ROOT / "pyproject.toml"),
            "--of",
            "JSON",
            "-o",
            str(out),
            sys.executable,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return json.loads(out.read_text())


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"], *extras["dev"]]
    # `dev` may take in another extra of the project itself (`aiaas[weaviate]`): its pins are installed too.
    for requirement in extras["dev"]:
        if own := re.fullmatch(rf"{project['name']}\[([^\]]+)\]", requirement):
            requirements += [r for extra in own.group(1).split(",") for r in extras[extra.strip()]]
    pins = {}
    for requirement in requirements:
        if requirement.startswith(f"{project['name']}["):
            continue
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", requirement)
        assert found, f"{requirement!r} is not pinned to one version"
        name, version = found.groups()
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_sbom_lists_every_pinned_dependency_at_its_pin(tmp_path: Path) -> None:
    sbom = _sbom(tmp_path)
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["name"] == "aiaas"
    installed = {re.sub(r"[-_.]+", "-", c["name"]).lower(): c.get("version") for c in sbom["components"]}
    pins = _pins()
    assert len(pins) > 20
    wrong = {name: (version, installed.get(name)) for name, version in pins.items() if installed.get(name) != version}
    assert not wrong, f"pinned vs in the SBOM: {wrong}"
    assert all(c.get("purl", "").startswith("pkg:pypi/") for c in sbom["components"])
