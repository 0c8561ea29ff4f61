"""What a running `aiaas up` serves beyond the stack: `<data_dir>/up.json`, for `aiaas status` to find.

The stack's own endpoints are in `stack.json` (`stack.py`); the gateway and the worker's metrics endpoint are
the launcher's, so it writes this file once they answer and removes it when it stops. A launcher that was
killed leaves it behind, which is why it carries the launcher's pid.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FILE_NAME = "up.json"


@dataclass(frozen=True)
class RunningApps:
    launcher_pid: int
    # None when `up` runs without that part (`--no-gateway`, `--no-worker`).
    gateway_url: str | None
    worker_metrics_url: str | None
    # Every worker process's metrics endpoint (the first is `worker_metrics_url`), and how many gateway
    # processes share the gateway's port.
    worker_metrics_urls: list[str] = field(default_factory=list)
    gateway_processes: int = 0
    # Each worker process's role, in the order of `worker_metrics_urls` ("all", "workflows", "activities").
    worker_roles: list[str] = field(default_factory=list)

    def workers_by_role(self) -> dict[str, list[str]]:
        """The metrics endpoints of each role's processes; every one of role all when the roles are not
        known (a file written before they were recorded)."""
        urls = self.worker_metrics_urls or ([self.worker_metrics_url] if self.worker_metrics_url else [])
        roles = self.worker_roles if len(self.worker_roles) == len(urls) else ["all"] * len(urls)
        grouped: dict[str, list[str]] = {}
        for url, role in zip(urls, roles, strict=True):
            grouped.setdefault(role, []).append(url)
        return grouped

    @property
    def launcher_alive(self) -> bool:
        try:
            os.kill(self.launcher_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def apps_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def write_running_apps(data_dir: Path, apps: RunningApps) -> None:
    partial = apps_file(data_dir).with_suffix(".json.tmp")
    partial.write_text(json.dumps(asdict(apps), indent=2) + "\n")
    partial.replace(apps_file(data_dir))


def read_running_apps(data_dir: Path) -> RunningApps | None:
    try:
        data = json.loads(apps_file(data_dir).read_text())
        return RunningApps(
            launcher_pid=int(data["launcher_pid"]),
            gateway_url=data.get("gateway_url"),
            worker_metrics_url=data.get("worker_metrics_url"),
            worker_metrics_urls=[str(url) for url in data.get("worker_metrics_urls", [])],
            gateway_processes=int(data.get("gateway_processes", 0)),
            worker_roles=[str(role) for role in data.get("worker_roles", [])],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_running_apps(data_dir: Path) -> None:
    apps_file(data_dir).unlink(missing_ok=True)
