"""Hot reload: validate the rulesets on disk, swap them in, tell sibling workers."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

from referral_rules import RulesetError

from .deps import Services
from .models import ReloadResult

__all__ = ["RELOAD_DIR_ENV", "SUPERVISOR_ENV", "reload", "supervisor_pid"]

#: set by ``referral-rules serve --workers N`` to the supervisor's pid
SUPERVISOR_ENV = "REFERRAL_RULES_SUPERVISOR_PID"
#: the directory where a worker that reloaded through the API leaves a request naming itself,
#: before it sends the supervisor SIGUSR1; the supervisor reloads every *other* worker (the
#: worker that asked has reloaded already: telling it again reloaded it twice)
RELOAD_DIR_ENV = "REFERRAL_RULES_RELOAD_DIR"


def supervisor_pid(*, alive: bool = True) -> int | None:
    """The supervisor's pid when this process is one of its workers, else None. With
    ``alive=False`` also when the supervisor has died already (the worker is an orphan)."""
    value = os.environ.get(SUPERVISOR_ENV, "")
    if not value.isdigit() or int(value) == os.getpid():
        return None
    return int(value) if not alive or int(value) == os.getppid() else None


def _tell_siblings() -> None:
    supervisor, directory = supervisor_pid(), os.environ.get(RELOAD_DIR_ENV)
    if supervisor is None or not directory:
        return
    name = f"{os.getpid()}-{uuid.uuid4().hex}"
    tmp = Path(directory) / f".{name}"
    tmp.write_text(str(os.getpid()), encoding="ascii")
    tmp.rename(Path(directory) / name)  # whole or not at all
    os.kill(supervisor, signal.SIGUSR1)


def reload(services: Services, *, tell_siblings: bool) -> ReloadResult:
    """Reload; a broken directory leaves the old version serving and lists its problems."""
    rules = services.rules
    try:
        current = rules.reload()
    except RulesetError as exc:
        services.metrics.reloads.labels("rejected").inc()
        return ReloadResult(ok=False, generation=rules.current.generation,
                            rulesets=rules.current.versions,
                            issues=[{"text": str(i), **i.to_dict()} for i in exc.issues])
    services.metrics.reloads.labels("ok").inc()
    if tell_siblings:
        _tell_siblings()
    return ReloadResult(ok=True, generation=current.generation, rulesets=current.versions)
