"""Text the model writes itself: random prefixes for ROME and the default statistics / retain corpus.

When no corpus is configured, sampling the model unconditionally is the most faithful stand-in for the
data it was trained on that needs no download and no access to that data: its keys follow the model's
own distribution, and KL on it preserves what the model would say anyway (other people's facts
included). Samples that mention the request's subjects or values are dropped by the callers.
"""

from __future__ import annotations

import re

import torch
from transformers import PreTrainedTokenizerBase

from rtbf.names import mentions_name
from rtbf.pii import normalise
from rtbf.request import ForgetRequest


def _start_token(tokenizer: PreTrainedTokenizerBase) -> int:
    for candidate in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


@torch.no_grad()
def sample_texts(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    count: int,
    length: int,
    device: torch.device,
    seed: int = 0,
    batch_size: int = 32,
    top_k: int = 40,
    min_length: int = 0,
    keep_empty: bool = False,
) -> list[str]:
    """``count`` unconditional samples of at most ``length`` new tokens (top-k sampling, seeded).

    A sample ends where the model ends it (its end-of-text token) unless ``min_length`` forbids that:
    forcing a model past the end of what it would write yields text it never saw, and a retain or
    statistics corpus made of that anchors degenerate behaviour instead of the model's real one.
    The stream is seeded per call and drawn in fixed batches, so the first n samples of a longer call
    are those of a call for n when n is a multiple of ``batch_size`` (``keep_empty`` keeps the positions
    of samples the model ended at once, as empty strings).
    """
    generator_state = torch.random.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    torch.manual_seed(seed)
    texts: list[str] = []
    start = _start_token(tokenizer)
    try:
        while len(texts) < count:
            n = min(batch_size, count - len(texts))
            ids = torch.full((n, 1), start, dtype=torch.long, device=device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                top_k=top_k,
                max_new_tokens=length,
                min_new_tokens=min_length or None,
                pad_token_id=tokenizer.pad_token_id,
            )
            texts.extend(t.strip() for t in tokenizer.batch_decode(out[:, 1:], skip_special_tokens=True))
    finally:
        torch.random.set_rng_state(generator_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
    return texts if keep_empty else [t for t in texts if t]


def random_prefixes(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    count: int,
    device: torch.device,
    seed: int = 0,
    length: int = 8,
) -> list[str]:
    """Short model-written prefixes ('{prefix}. {subject}') that make ROME's key robust to what precedes the name."""
    if count <= 0:
        return []
    texts = sample_texts(model, tokenizer, count, length, device, seed=seed, min_length=length)
    return [t.replace("\n", " ").strip().rstrip(".") + "." for t in texts]


# A run of this many digits or more inside a value is specific enough to count as the value's own: a
# sample that repeats one (the model's garbled '(699) 628-5493' of a subject's 699-801-5493) and is held
# in the retain KL holds the fragment where the edit must remove it. Shorter runs (area codes, house
# numbers) are shared with many other people's data, which the retain set exists to keep.
VALUE_DIGIT_RUN = 4
_DIGIT_RUN = re.compile(r"\d{%d,}" % VALUE_DIGIT_RUN)


def mentions_any(text: str, requests: list[ForgetRequest]) -> bool:
    """True when text names any subject of the requests (``rtbf.names.mentions_name``: a namesake is someone
    else) or contains any of their PII values (normalised) or a run of at least ``VALUE_DIGIT_RUN`` digits
    from one."""
    digit_runs = set(_DIGIT_RUN.findall(text))
    for request in requests:
        if mentions_name(text, request.subject.names):  # not a namesake's text ("Steven" in "Steven Hayes")
            return True
        for item in request.all_items():
            if normalise(item.value, item.type) in normalise(text, item.type):
                return True
            if digit_runs and any(run in digit_runs for run in _DIGIT_RUN.findall(item.value)):
                return True
    return False
