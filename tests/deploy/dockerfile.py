"""A small reader of the project's Dockerfile: stages, their instructions, build-arg defaults, .dockerignore.

Enough to check, without a Docker engine, what a build would trip over: a target that does not exist,
a COPY of a path that is missing or excluded from the build context, torch installed after the package.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str


@dataclass
class Stage:
    name: str
    base: str  # image reference or the name of an earlier stage
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def lineage(self, name: str) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first (image bases end the chain)."""
        names = {s.name for s in self.stages}
        chain = [self.stage(name)]
        while chain[-1].base in names:
            chain.append(self.stage(chain[-1].base))
        return chain

    def copied_from_stages(self, name: str) -> set[str]:
        """Stages whose files end up in ``name`` through ``COPY --from=``."""
        result = set()
        for stage in self.lineage(name):
            for instruction in stage.instructions:
                match = re.search(r"--from=(\S+)", instruction.arguments)
                if instruction.keyword == "COPY" and match:
                    result.add(match.group(1))
        return result


def parse(path: Path) -> Dockerfile:
    """Split the Dockerfile into logical lines (joining ``\\`` continuations, dropping comments) and stages."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", arguments.strip(), re.IGNORECASE)
            assert match, f"unreadable FROM line: {line}"
            stages.append(Stage(name=match.group(2) or f"stage-{len(stages)}", base=match.group(1)))
        elif not stages and keyword == "ARG":
            name, _, default = arguments.strip().partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return Dockerfile(global_args, stages)


def stage_arg_defaults(stage: Stage) -> dict[str, str]:
    """``ARG NAME=default`` declared inside a stage."""
    defaults = {}
    for instruction in stage.instructions:
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            defaults[name] = default
    return defaults


def copy_sources(instruction: Instruction) -> list[str]:
    """Source paths of a COPY from the build context (not ``--from=`` another stage)."""
    if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
        return []
    if instruction.arguments.startswith("["):
        import json

        words = json.loads(instruction.arguments)
    else:
        words = shlex.split(instruction.arguments)
    words = [w for w in words if not w.startswith("--")]
    return words[:-1]


def ignore_patterns(dockerignore: Path) -> list[str]:
    lines = [line.strip() for line in dockerignore.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Whether the path, or a folder above it, is excluded by .dockerignore (Go filepath.Match, ``**``, ``!``)."""
    parts = relative.strip("/").split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/".join(parts[:depth])
            if _match(glob, candidate):
                ignored = not negate
                break
    return ignored


def _match(glob: str, candidate: str) -> bool:
    if glob.startswith("**/"):
        tail = glob[3:]
        segments = candidate.split("/")
        return any(fnmatch.fnmatchcase("/".join(segments[i:]), tail) for i in range(len(segments)))
    return fnmatch.fnmatchcase(candidate, glob)
