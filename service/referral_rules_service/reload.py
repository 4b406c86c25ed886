"""Hot reload: validate the rulesets on disk, swap them in, tell sibling workers."""

from __future__ import annotations

import os
import signal

from referral_rules import RulesetError

from .deps import Services
from .models import ReloadResult

__all__ = ["SUPERVISOR_ENV", "reload"]

#: set by ``referral-rules serve --workers N`` to the supervisor's pid; a worker that reloaded
#: through the API sends the supervisor SIGHUP, which forwards it to every worker
SUPERVISOR_ENV = "REFERRAL_RULES_SUPERVISOR_PID"


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
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if tell_siblings and supervisor and supervisor.isdigit() and int(supervisor) == os.getppid():
        os.kill(int(supervisor), signal.SIGHUP)
    return ReloadResult(ok=True, generation=current.generation, rulesets=current.versions)
