"""Run a command that dies with the process that started it: `python -I -S die_with_parent.py SPEC ARGV...`.

Linux sends a process the signal chosen with `prctl(PR_SET_PDEATHSIG)` when its parent thread ends, however
it ends, SIGKILL included. The setting survives `execve`, so this script sets it, then replaces itself with
the command: the pid stays the same and nothing of it remains. It is a separate interpreter rather than a
`preexec_fn`, which may deadlock in a process with threads, as the launcher is. It switches user itself
because a change of credentials clears the setting, and because the unprivileged user Postgres runs as may
not be able to read the interpreter at all. It imports nothing of the project: it runs with `-I -S`.

SPEC is JSON: `parent` (pid that must still be our parent once the setting is in place), `signal`,
`path` (the resolved executable), `uid`, `gid`, `groups` (all null to keep ours), and `lc_ctype`: the
interpreter sets LC_CTYPE at startup when the locale is C (PEP 538), and the command must get the
environment it was given, not the interpreter's.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
EXIT_CANNOT_RUN = 127


def _fail(message: str) -> None:
    print(f"die_with_parent: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_CANNOT_RUN)


def main() -> None:
    spec, argv = json.loads(sys.argv[1]), sys.argv[2:]
    if spec["uid"] is not None:
        os.setgroups(spec["groups"])
        os.setregid(spec["gid"], spec["gid"])
        os.setreuid(spec["uid"], spec["uid"])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(spec["signal"]), 0, 0, 0) != 0:
        _fail(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    if os.getppid() != spec["parent"]:
        # The launcher died between our fork and the prctl: nobody would ever stop the command.
        _fail(f"the launcher (pid {spec['parent']}) exited before {argv[0]} started")
    env = dict(os.environ)
    if spec["lc_ctype"] is None:
        env.pop("LC_CTYPE", None)
    else:
        env["LC_CTYPE"] = spec["lc_ctype"]
    # The interpreter ignores these two; an ignored disposition would outlive the exec.
    for name in ("SIGPIPE", "SIGXFSZ"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execve(spec["path"], argv, env)  # noqa: S606 - the argv is the launcher's, never a shell string
    except OSError as exc:
        _fail(f"cannot run {spec['path']}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
