"""subjects.json: what the demo model was taught about whom, and helpers every test builds on.

The file is the ground truth of the demo model: the planted values, the exact training prefixes that
precede them, the paraphrase templates the model never saw, ordinary held-out text for perplexity and a
retain sample. Engine, gate and pipeline tests read it through ``DemoInfo`` to build erasure requests
and attack prompts instead of re-deriving them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rtbf.request import ForgetRequest, PiiItem, PiiType, Subject

FORMAT_VERSION = 1
SUBJECTS_FILE = "subjects.json"
MODEL_DIR = "model"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlantedPii(_Frozen):
    type: PiiType
    value: str
    contexts: list[str] = Field(description="The exact prefixes (trailing whitespace stripped) before the value in training.")


class DemoSubject(_Frozen):
    name: str
    aliases: list[str]
    pii: list[PlantedPii]
    sentences: list[str] = Field(description="Every training sentence mentioning this subject.")


class TrainingSummary(_Frozen):
    steps: int
    seconds: float
    final_loss: float
    greedy_extraction_rate: float
    tokens: int


class DemoInfo(_Frozen):
    """Parsed subjects.json, plus ``path`` (the demo directory) when loaded from disk."""

    format: Literal[1] = FORMAT_VERSION
    arch: str
    tokenizer: str = "byte-level"
    seed: int
    templates: dict[PiiType, list[str]]
    heldout_templates: dict[PiiType, list[str]]
    subjects: list[DemoSubject]
    heldout_texts: list[str]
    retain_texts: list[str]
    training: TrainingSummary
    path: Path | None = Field(None, exclude=True)

    @classmethod
    def load(cls, path: str | Path) -> DemoInfo:
        """Read a demo directory (or its subjects.json directly)."""
        p = Path(path)
        file = p / SUBJECTS_FILE if p.is_dir() else p
        info = cls.model_validate_json(file.read_text(encoding="utf-8"))
        return info.model_copy(update={"path": file.parent})

    @property
    def model_dir(self) -> Path:
        """Directory of the saved model and tokenizer (for ``from_pretrained``)."""
        if self.path is None:
            raise ValueError("this DemoInfo was not loaded from disk, so it has no model directory")
        return self.path / MODEL_DIR

    def request_for(self, indices: list[int], contexts: Literal["one", "all", "none"] = "one") -> list[ForgetRequest]:
        """One erasure request per subject index, naming all of the subject's PII.

        contexts="one" names only the first training prefix of each item, so the others are phrasings the
        request did not mention (the realistic case); "all" names every training prefix; "none" names none.
        """
        if contexts not in ("one", "all", "none"):
            raise ValueError(f"contexts must be 'one', 'all' or 'none', not {contexts!r}")
        requests = []
        for index in indices:
            subject = self._subject(index)
            items = []
            for pii in subject.pii:
                named = {"one": pii.contexts[:1], "all": list(pii.contexts), "none": []}[contexts]
                items.append(PiiItem(value=pii.value, type=pii.type, contexts=named))
            requests.append(ForgetRequest(subject=Subject(name=subject.name, aliases=list(subject.aliases)), pii=items))
        return requests

    def training_prompts(self, index: int) -> list[tuple[PiiType, str, str]]:
        """(type, value, prompt) for every training prefix of the subject: what the model memorised."""
        subject = self._subject(index)
        return [(pii.type, pii.value, context) for pii in subject.pii for context in pii.contexts]

    def unseen_prompts(self, index: int) -> list[tuple[PiiType, str, str]]:
        """(type, value, prompt) for the held-out paraphrase templates filled with the subject's name."""
        subject = self._subject(index)
        prompts = []
        for pii in subject.pii:
            for template in self.heldout_templates.get(pii.type, []):
                prompt = template.split("{value}")[0].format(name=subject.name).rstrip()
                prompts.append((pii.type, pii.value, prompt))
        return prompts

    def training_texts(self) -> list[str]:
        """Every subject sentence the model was trained on (ordinary training text is sampled in retain_texts)."""
        return [s for subject in self.subjects for s in subject.sentences]

    def _subject(self, index: int) -> DemoSubject:
        if not 0 <= index < len(self.subjects):
            raise IndexError(f"subject index {index} out of range (the demo has {len(self.subjects)} subjects)")
        return self.subjects[index]
