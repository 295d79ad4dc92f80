"""The one settings object of rtbf.

Every knob of the gateway, the workers, the engine and the verification gate lives here, read from
environment variables prefixed ``RTBF_`` (nested groups use ``__``, e.g. ``RTBF_GATE__MAX_EXPOSURE_BITS``)
or from a ``.env`` file. Keeping them in one place means the verification report can echo the exact
thresholds it was judged against, and ops have a single page to read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineSettings(BaseModel):
    """Knobs of the forgetting engine (localisation and editors)."""

    device: str = Field("auto", description="'auto' picks cuda when available, else cpu.")
    # DEPN localisation
    ig_steps: int = Field(20, ge=2, le=200, description="Integrated-gradient steps m (zero baseline).")
    ig_batch_rows: int = Field(160, ge=2, description="Sequences per localisation forward pass (instances x steps).")
    neuron_threshold: float = Field(0.1, gt=0, le=1, description="Keep neurons with Att >= this * instance max.")
    vote_fraction: float = Field(
        0.3, gt=0, le=1, description="A neuron is a privacy neuron when at least this share of PII instances vote for it."
    )
    max_neurons: int = Field(200, ge=1, description="Edit at most this many privacy neurons in total.")
    # ROME / MEMIT
    rome_layer: int | None = Field(None, description="Force the edited layer; default: the layer with most privacy mass.")
    rome_objective: str = Field(
        "stranger",
        pattern="^(stranger|target)$",
        description="'stranger': make the subject's PII continuations those of a person the model never met; "
        "'target': teach the explicit rome_target text instead (e.g. a refusal).",
    )
    rome_target: str = Field(
        "[redacted]", description="Non-revealing continuation used when rome_objective is 'target'."
    )
    rome_value_prob_ceiling: float = Field(
        1e-4, gt=0, lt=1, description="v* optimisation stops once every context gives the value at most this probability."
    )
    rome_max_layers: int = Field(
        3, ge=1, description="ROME edits further layers (most privacy mass first) while PII still leaks; not those "
        "later than a layer whose v* found no route to a value (they reach fewer of the reads of the name)."
    )
    rome_v_steps: int = Field(40, ge=1)
    rome_v_lr: float = Field(0.5, gt=0)
    rome_kl_weight: float = Field(0.0625, ge=0)
    rome_weight_decay: float = Field(0.5, ge=0)
    rome_clamp_norm_factor: float = Field(4.0, gt=0)
    rome_prefix_count: int = Field(10, ge=0, description="Random prefixes used to average the key k*.")
    rome_value_keys: bool = Field(
        True,
        description="When the subject-keyed edits leave the PII extractable, edit the same layers keyed at the "
        "positions that predict the value (models that read the name from there, past the subject's FFNs).",
    )
    rome_value_layers: int = Field(
        4, ge=1, description="Value-keyed edits: at most this many layers, from the last one down (an edit late in the "
        "network moves the least of the model's computation; earlier layers only while the value still leaks)."
    )
    rome_value_passes: int = Field(
        2, ge=1, description="Passes over those layers while the value still leaks (each edit starts from the last)."
    )
    rome_value_steps: int = Field(60, ge=1, description="Optimisation steps for the value positions' residuals.")
    rome_value_lr: float = Field(0.2, gt=0, description="Adam step, as a share of the outputs' mean norm per sqrt(d_model).")
    rome_value_prefixes: int = Field(1, ge=0, description="Model-written prefixes per context for the value-keyed rows.")
    rome_value_mom2_weight: float = Field(
        2.0, gt=0, description="lambda in dW = D^T K (lambda C + K^T K + K_s^T K_s)^-1, per value key: how firmly the "
        "rest of the layer's inputs keep their outputs against realising the residuals; it grows with the keys, so "
        "a request about ten people holds the layer as firmly, per person, as one about one.",
    )
    rome_value_stranger_texts: int = Field(
        32, ge=0, description="Phrasings about strangers whose keys the value-keyed edit holds still (locality), "
        "per subject of the request."
    )
    rome_value_sampled_pii_texts: int = Field(
        128, ge=0, description="Model-written samples holding other people's PII whose keys inside that PII the "
        "value-keyed edit holds still (the values the model reproduces unprompted keep their tokens), per subject of "
        "the request, drawn from stats_sample_texts samples per subject. Ten subjects on the GPT-2 demo kept 61 of the "
        "neighbours' 65 items (54 with 128 in all) but left 1 / 7 / 7 hits (0 / 6 / 2): a ten-subject edit of a "
        "4-layer demo has more keys than its FFNs have room for, and the held ones take their share."
    )
    rome_value_lead_in_texts: int = Field(
        64, ge=0, description="Sampled continuations of what the request's contexts say before the subject's name, "
        "per subject, whose keys inside the PII they state the value-keyed edit holds still: the people the model "
        "names in the request's own phrasings, whose values share the edited keys most closely."
    )
    rome_value_crowding: float = Field(
        4.0, gt=0, description="A value-keyed edit is crowded when its value keys outnumber this multiple of the "
        "layer's FFN width (d_ff): the solve can then realise only a small share of each residual, and it "
        "compromises along the keys that every value of a format shares. A crowded edit aims values built from "
        "the subject's name at the strangers' level and leaves the values' punctuation unpushed (the two settings "
        "below, unless set). One subject of the 4-layer demos is 0.7-1.1x, ten are 7-11x; ten people in a model "
        "with d_ff 11008 are under 1x (README)."
    )
    rome_value_name_built_strangers: bool | None = Field(
        None, description="Value-keyed edits aim a value built wholly from the subject's name (an e-mail such as "
        "chang.r@green.info) at the level strangers' rebuilt values get (as FPGA does) instead of just under the "
        "leak ceiling. Unset: only when the edit is crowded (rome_value_crowding). On one subject of the GPT-2 "
        "demo it raised held-out perplexity past the 3% budget; on ten, aimed just under the ceiling, the "
        "e-mails stayed extractable (README)."
    )
    rome_value_push_punctuation: bool | None = Field(
        None, description="Value-keyed edits push the value tokens without a letter or digit too (a phone's "
        "brackets and dash, an e-mail's '@', an address's comma). Unset: unless the edit is crowded. Every value "
        "of the format has them: on ten subjects of the GPT-2 demo pushing them lost neighbours' addresses after "
        "the street name and e-mails before the '@'; on one subject leaving them alone left the phone number "
        "above the exposure target (README)."
    )
    covariance_samples: int = Field(20000, ge=100, description="Token positions used for C = E[k k^T].")
    covariance_corpus: str | None = Field(
        None, description="Text file (one document per line) for C; default: the bundled generic-English corpus."
    )
    stats_sample_texts: int = Field(
        256, ge=8, description="Model-written texts sampled for C when no corpus is configured (FPGA's retain set "
        "draws more of the same seeded stream for a request about several people: fpga_retain_texts)."
    )
    # FPGA
    fpga_lr: float = Field(5e-4, gt=0)
    fpga_max_steps: int = Field(
        80, ge=1, description="Step budget per fpga_batch_texts of forget texts (a request with more texts than one "
        "minibatch gets proportionally more steps, so each text is seen as often); it stops earlier when clean."
    )
    fpga_check_every: int = Field(
        1, ge=1, description="Leak check every this many passes over the forget texts (one pass: one step for a "
        "request whose texts fit one minibatch): stopping at the first clean pass keeps the ascent from "
        "overshooting into other people's data, and a ten-subject request does not pay a check per minibatch."
    )
    fpga_deepen_patience: int = Field(
        5, ge=1, description="Checks without a 5% fall of an item's distance above its targets after which, while the "
        "stop check still names the item, its stuck tokens' distance is handed to its met targets (the stuck ones are "
        "held where other text pulls back, and pushing them harder costs other people's data)."
    )
    fpga_retain_texts: int = Field(
        256, ge=0, description="Retain texts in the KL term per subject of the request (PII-bearing and ordinary "
        "model samples, one for one). On the demo GPT-2, 256 kept 91 of 93 of the other subjects' items where 96 "
        "kept 87; a ten-subject request on the LLaMA demo kept 53 of 65 with 256 in all, 61 with 1024 samples."
    )
    fpga_retain_min_texts: int = Field(
        0, ge=0, description="The retain set holds at least this many texts whatever the request's size (each step "
        "draws fpga_retain_batch_texts of them, so a larger set costs sampling time, not step time). Measured on one "
        "subject with 2048: NeoX kept 88 of 91 of the other subjects' items (87 without), GPT-2 87 of 92 (88 to 90 "
        "without): no gain that outlasts run-to-run noise, so off by default."
    )
    fpga_objective: str = Field(
        "bounded", pattern="^(bounded|ascent)$",
        description="'bounded': each value token is pushed only to the never-seen level (a KL target; keeps other "
        "people's data and fluency); 'ascent': the paper's plain token-weighted gradient ascent down to a fixed floor "
        "(stronger on exposure, costlier in utility).",
    )
    fpga_never_seen_candidates: int = Field(
        16, ge=4, description="Random same-format values whose median likelihood is each text's target level."
    )
    fpga_anchor_texts: int = Field(
        64, ge=0, description="'context + random same-format value' texts added to the retain KL: they hold the "
        "never-seen baseline in place while the true value sinks to it (bounded objective)."
    )
    fpga_stranger_anchor_texts: int = Field(
        32, ge=0, description="The edited phrasings about strangers (other names, the model's own completion) added "
        "to the retain KL: they keep what the model says of other people there (bounded objective). On the GPT-2 "
        "demo, 32 kept the other subjects' retain-probe perplexity within +2.2% (+4.3% without); 64 held the edited "
        "phrasings so firmly that the subject's e-mail domain still followed its name after the step budget."
    )
    fpga_sibling_min_prob: float = Field(
        0.05, ge=0, le=1, description="Also push each value down in the contexts of the request's other items where "
        "the model writes it with at least this probability ('Ryan Chang's address is' followed by his e-mail address; "
        "workers/engine/instances.py sibling_instances): an extractor's answer counts against every item of the "
        "person. 0.05: one sample in twenty. 0 turns it off."
    )
    fpga_margin_nats: float = Field(2.0, ge=0, description="How far below the never-seen level a value is pushed.")
    fpga_layers: str = Field(
        "all", pattern="^(located|all)$",
        description="'located': train only the FFNs of the layers DEPN located; 'all': every layer's FFN. DEPN puts "
        "~90% of the attribution in the first FFN of the demo models, and training that FFN alone was measured "
        "to cost the other subjects' PII (76-87 of 93 items kept, against 92-93 on every FFN) and to miss the "
        "exposure target on LLaMA and GPT-NeoX: the value is recalled through every layer, and more layers "
        "let the push find a direction specific to this person.",
    )
    fpga_scope: str = Field(
        "layers", pattern="^(layers|neurons)$",
        description="'layers': train the whole FFN of each chosen layer; 'neurons': only DEPN's privacy neurons' own "
        "weights (key rows, value columns), the most surgical update.",
    )
    fpga_pii_weight: float = Field(1.0, ge=0)
    fpga_ordinary_weight: float = Field(0.05, ge=0)
    fpga_retain_weight: float = Field(
        10.0, ge=0, description="Weight of the KL on retain text. On the demo models 3 kept 99% of other people's "
        "PII where 1 kept 91%, at the same exposure reached. Values memorised closer to the edge of greedy decoding "
        "(a GPT-2 demo fine-tuned for 150 steps on ten people's birth dates, IBANs, SSNs and cards, erased from a "
        "context-free request) need more: 3 kept 21 of the 30 other values the model gave before (their long digit "
        "runs broke), 10 kept 27; on the demos themselves 10 kept every neighbour's item (GPT-2, GPT-NeoX, one subject)."
    )
    fpga_retain_pii_weight: float = Field(
        4.0, ge=1, description="Weight, in the retain KL, of the positions that predict a recognised PII token of "
        "another person in the model's samples (1: every token alike). Locality is judged on those tokens, and "
        "averaged with the words around them they carry a few percent of the term. NeoX demo, one subject, mined "
        "templates on: 89 of 91 neighbours' items kept with 4, 85 with 1."
    )
    reference_cache_mb: int = Field(
        1024, ge=0, validation_alias=AliasChoices("reference_cache_mb", "fpga_reference_cache_mb"),
        description="The original model's next-token distributions that the editors' KL terms compare "
        "against (FPGA's forget and retain text, the value-keyed ROME positions) are kept in memory up to this size, "
        "else recomputed each step from the original weights (one extra forward pass without gradients). Read "
        "from its former name, fpga_reference_cache_mb, too, so a deployment's setting keeps its effect."
    )
    fpga_retain_batch_texts: int = Field(
        128, ge=1, description="Retain texts in each step's KL term, a fresh random subset of the retain set: the "
        "whole set every step made the retain pass the dearest part of a step (352 texts against 96 forget texts)."
    )
    fpga_batch_texts: int = Field(
        96, ge=1, description="Forget texts per step: a request with many subjects is edited in one pass on random "
        "minibatches of its (context, value) texts, so a step's cost does not grow with the request."
    )
    phrasing_samples_per_name: int = Field(
        0, ge=0, description="Before editing, prompt the model with each of the subject's names and sample it this "
        "many times; every text before a requested value in those samples becomes one more context of that item "
        "(workers/engine/phrasings.py): the wording the model learnt the fact in. Off (0) by default: with 16, ten "
        "subjects on the GPT-2 demo went from 2/4/4 to 1/1/1 hits, but the LLaMA demo's edit then kept 45 of the "
        "neighbours' 65 items, losing 18 of their e-mails."
    )
    phrasing_max_new_tokens: int = Field(48, ge=1, description="Length of each of those samples.")
    phrasing_contexts_per_item: int = Field(3, ge=0, description="Most contexts added per item that way.")
    mined_templates_per_item: int = Field(
        4, ge=0, description="Sentence templates mined from the model's own samples (the sentences it writes other "
        "people's PII in, name taken out; workers/engine/templates.py), filled with the subject's name, added as "
        "contexts of each item of that PII type: the wordings the model learnt such facts in, which a request and "
        "the phrasing banks do not know. With 4 (and namesakes held, fpga_retain_pii_weight 4), ten subjects on the "
        "GPT-2 demo went from 1/3/3 hits to 0/0/0 with 64 of 65 neighbours' items kept; 0 turns it off."
    )
    mined_template_min_count: int = Field(
        2, ge=1, description="A template counts once this many of the samples use it (one sample's wording is noise)."
    )
    # The editors' own stopping rule: the cheap leak check (no greedy hit, value probability under
    # rome_value_prob_ceiling) and the gate's exposure measure on a smaller candidate pool, so an edit
    # stops only once the value ranks like a random value of its format, not merely once decoding stops
    # emitting it (a memorised value can rank first among candidates with no decoding mode producing it).
    stop_exposure_bits: float = Field(
        3.0, gt=0, description="Edits continue until every item's exposure is at most this (the gate's cap is 4)."
    )
    stop_exposure_candidates: int = Field(300, ge=50, description="Same-format candidates of the stop check.")
    stop_exposure_every: int = Field(
        8, ge=1, description="Rank the candidates on every n-th stop check whose cheap part passes (it costs ~100x more)."
    )
    stop_exposure_contexts: int = Field(2, ge=1, le=20, description="Contexts averaged per item in the stop check.")
    stop_memorisation: bool = Field(
        True, description="Also require the gate's MA / EL_n test (against never-seen replicas) before stopping: it "
        "catches a value still produced in part (a rare e-mail domain after the name), which the other two miss.",
    )
    model_spellings: bool = Field(
        True, description="Before editing, decode the unedited model from each item's attack contexts; where it writes "
        "a value the ticket typed otherwise ((977) 630-0663 for 977-630-0663), its spelling takes the typed value's "
        "place (further spellings become further items): the editors work on token paths, and the typed spelling's "
        "path is not the memorised one. The gate still judges the typed value.",
    )
    stop_extraction: bool = Field(
        True, description="Also require that greedy decoding from the check contexts yields no requested value as "
        "text (the gate's attack): a model can write a value along another token path than the tokenizer's own "
        "spelling, which the teacher-forced check does not follow.",
    )
    # Per-model FFN override, for architectures that are not discovered automatically:
    # {"model_type": {"layers": "model.layers", "down_proj": "mlp.down_proj"}}
    ffn_overrides: dict[str, dict[str, str]] = Field(default_factory=dict)
    cache_dir: Path = Field(Path("var/cache"), description="Where covariance statistics are cached.")
    seed: int = 0


class GateSettings(BaseModel):
    """Thresholds of the verification gate; echoed in every report."""

    samples: int = Field(100, ge=0, description="Top-k samples per prompt.")
    top_k: int = Field(40, ge=1)
    temperature: float = Field(1.0, gt=0)
    beams: int = Field(5, ge=1)
    max_new_tokens: int | None = Field(None, description="Default: long enough for the value plus slack.")
    exposure_candidates: int = Field(10000, ge=100)
    exposure_baseline_values: int = Field(
        1000, ge=1, description="Never-seen same-format values whose exposures calibrate the percentile (free: "
        "they are scored candidates already; a percentile of only 20 values swings by over a bit)."
    )
    max_exposure_bits: float = Field(4.0, gt=0)
    exposure_baseline_percentile: float = Field(95.0, gt=0, le=100)
    partial_leak_fraction: float = Field(0.5, gt=0, le=1)
    perplexity_budget: float = Field(0.03, ge=0, description="Largest allowed relative perplexity rise.")
    locality_floor: float = Field(0.95, ge=0, le=1, description="Share of other subjects' PII that must stay extractable.")
    el_ns: list[int] = Field(default_factory=lambda: [3, 10])
    exposure_contexts: int = Field(
        1, ge=1, le=20, description="Contexts per item whose averaged log-likelihood ranks the exposure candidates."
    )
    memorisation_baseline_replicas: int = Field(
        50, ge=1, le=200, description="Never-seen replicas (fresh same-format values) of the MA / EL_n baseline."
    )
    memorisation_baseline_percentile: float = Field(
        99.0, gt=0, le=100, description="MA and each EL_n must be at most this percentile of the replicas. A request "
        "about a never-seen person is one more draw from the replicas' distribution: a p95 bar over three measures "
        "fails about one such person in seven (measured on the demo: a never-seen e-mail at the replicas' p95)."
    )
    memorisation_contexts: int = Field(2, ge=1, le=20, description="Instances per item measured for MA and EL_n.")
    locality_contexts: int = Field(3, ge=1, le=50, description="Greedy prompts per other subject's item (locality).")
    reference_spellings: bool = Field(
        True, description="With a reference model, also judge the spellings in which it writes a value the request "
        "typed otherwise ((977) 630-0663 for 977-630-0663): exposure and MA / EL_n of a spelling the model never "
        "wrote say nothing about the one it memorised (workers.verify.spellings).",
    )
    batch_size: int = Field(256, ge=1)
    seed: int = 1234


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RTBF_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    env: str = "dev"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/rtbf"
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = None
    # 32-byte AES keys, base64 url-safe; the first is used to encrypt, all are tried to decrypt (rotation).
    encryption_key: str = Field("", description="base64 32-byte key for AES-GCM of ticket PII; required outside dev/test.")
    encryption_key_id: str = "k1"
    old_encryption_keys: dict[str, str] = Field(default_factory=dict)
    hash_salt: str = Field("rtbf-dev-salt", description="Salt for the hashes that stand in for PII in reports.")
    pii_retention_days: int = Field(30, ge=0)
    model_store: str = Field("var/models", description="Root of immutable model versions (local path or fsspec URI).")
    lease_seconds: int = Field(3600, ge=10)
    lease_retry_seconds: int = Field(
        30, ge=1, description="A worker that finds a model's edit lease taken re-tries the ticket after this many seconds."
    )
    webhook_secret: str = "rtbf-dev-webhook-secret"
    webhook_max_attempts: int = Field(6, ge=1)
    webhook_resend_after_seconds: int = Field(
        300, ge=1,
        description="A pending webhook delivery whose next attempt has been due this long is re-sent to the "
        "delivery queue (its Celery message was lost: a broker outage at commit, a failed retry).",
    )
    max_body_bytes: int = Field(1_000_000, ge=1024)
    log_level: str = "INFO"
    log_json: bool = False

    engine: EngineSettings = Field(default_factory=EngineSettings)
    gate: GateSettings = Field(default_factory=GateSettings)


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once; tests call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
