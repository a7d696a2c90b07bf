"""Reasoning traces (GR2 stage 2): a teacher LLM reranks with a rationale, rejection sampling keeps right answers.

Flow: RL parquet row -> ``teacher_prompts.teacher_messages`` -> a backend (``gr2_verl.llm.openai_http``,
``gr2_verl.llm.local``) -> ``acceptance.judge_attempt`` -> append-only ``attempts.jsonl`` -> SFT parquet
(``messages`` = the row's student prompt + the assistant answer) and a summary. ``sampler.run_traces``
ties it together; ``gr2 traces`` is its CLI.
"""
