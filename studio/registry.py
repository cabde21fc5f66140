"""The application's view of the engines: job types, command modules and window pages,
all read from the engines' declarations (:mod:`studio.core.engines`).

Adding an engine means adding a package with an ``engine.py``; nothing here lists one.
"""

from __future__ import annotations

from studio.core.engines import Engine, PageSpec, discover, refresh
from studio.core.jobs import JobType

__all__ = ["cli_modules", "engines", "get_job_type", "job_types", "pages", "refresh"]


def engines() -> tuple[Engine, ...]:
    """Every declared engine (Studio's own, then plugins)."""
    return discover()


def job_types() -> dict[str, JobType]:
    """Every job type by name; params and run functions are imported on first use."""
    out: dict[str, JobType] = {}
    for eng in discover():
        for j in eng.jobs:
            if j.name in out:
                raise RuntimeError(f"job {j.name!r} is declared by two engines: "
                                   f"{out[j.name].engine} and {eng.name}")
            out[j.name] = JobType(j.name, j.params, j.run, j.description, eng.name,
                                  j.presets)
    return out


def get_job_type(name: str) -> JobType:
    """The job type called ``name``; KeyError lists the known ones."""
    types = job_types()
    try:
        return types[name]
    except KeyError:
        known = ", ".join(sorted(types)) or "none"
        raise KeyError(f"unknown job type {name!r} (known: {known})") from None


def cli_modules() -> list[str]:
    """Modules whose ``register(groups)`` adds an engine's commands, in engine order."""
    return [eng.cli for eng in discover() if eng.cli]


def pages() -> list[PageSpec]:
    """The engines' window pages in sidebar order."""
    return sorted((p for eng in discover() for p in eng.pages), key=lambda p: p.order)
