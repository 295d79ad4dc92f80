"""The demo model factory: a small transformers model that genuinely memorised synthetic people's PII.

Public entry points:
- ``factory.build_demo_model(out_dir, arch="gpt2", subjects=32, seed=0, progress=False, tokenizer_style="byte-level")
  -> DemoInfo``
- ``cache.cached_demo_model(arch, subjects, seed, tokenizer_style=...)``: the same, built once per machine and code version
- ``subjects.DemoInfo``: subjects.json (``load``, ``request_for``, ``training_prompts``, ``unseen_prompts``)
- ``corpus.generate_corpus`` + ``tokenizer.train_tokenizer`` + ``train.train_model(..., exclude_subjects=...)``
  to retrain from scratch without some subjects (the "never saw them" reference)
- ``cli.register(app)``: ``rtbf demo-model OUT [--arch] [--subjects] [--seed] [--tokenizer]``
"""
