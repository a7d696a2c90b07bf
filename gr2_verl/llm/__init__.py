"""LLM clients: chat requests in, completions out (``backend``), served over an OpenAI-compatible HTTP API
(``openai_http``) or run in-process with vLLM or transformers (``local``).

Nothing here is specific to one task: ``gr2 traces`` drives them with teacher prompts.
"""
