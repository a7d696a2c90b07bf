"""``gr2 traces``: rejection-sample teacher reasoning traces over an RL parquet into veRL SFT data."""

from __future__ import annotations

import argparse
import json

EPILOG = """examples:
  # a teacher served by `vllm serve Qwen/Qwen3-32B --port 8000` (any OpenAI-compatible server works)
  gr2 traces --rl data/ml-100k/rl/train.parquet --out data/ml-100k/traces \\
      --backend http --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-32B --attempts 4 \\
      --extra-body '{"chat_template_kwargs": {"enable_thinking": false}}'
  # hosted API: the key comes from the environment variable named by --api-key-env
  OPENAI_API_KEY=... gr2 traces --rl train.parquet --out traces --backend http \\
      --base-url https://api.example.com/v1 --model some-model --concurrency 8
  # vLLM offline engine on this GPU machine; the targeted-trace ablation
  gr2 traces --rl train.parquet --out traces_targeted --backend vllm --model /models/qwen3-32b --mode targeted
  # rerun the same command to resume an interrupted run (same --out)

then fine-tune on OUT/sft.parquet with the reasoning-SFT recipe (its chat template trains every answer token):
  TRACES=OUT/sft.parquet MODEL=... bash recipes/reasoning_sft.sh
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "traces",
        help="teacher reasoning traces by rejection sampling, written as veRL SFT parquet",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rl", required=True, help="RL parquet written by `gr2 prepare` (its prompts are the student's)")
    p.add_argument("--out", required=True, help="output folder; rerunning on it resumes")
    p.add_argument("--limit", type=int, default=None, help="only the first N rows")

    g = p.add_argument_group("teacher")
    g.add_argument("--backend", choices=("http", "vllm", "transformers"), required=True,
                   help="http: any OpenAI-compatible server; vllm: offline engine on this GPU; transformers: CPU/GPU")
    g.add_argument("--model", required=True, help="model name (http) or local model folder (vllm, transformers)")
    g.add_argument("--mode", choices=("rejection", "targeted"), default="rejection",
                   help="rejection: answer hidden (GR2's choice); targeted: target revealed (ablation)")
    g.add_argument("--hints-file", default=None, help="text file of domain-knowledge hints added to every prompt")
    g.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default %(default)s)")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default %(default)s)")
    g.add_argument("--max-tokens", type=int, default=2048, help="completion tokens per attempt (default %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="base of the per-(sample, attempt) sampling seeds (default 0)")

    g = p.add_argument_group("rejection sampling")
    g.add_argument("--attempts", type=int, default=4, help="attempts per sample at most (GR2's N; open)")
    g.add_argument("--accept", choices=("first", "promoted", "reward"), default="first",
                   help="first: target ranked first; promoted: target moved up; reward: reward >= --min-reward")
    g.add_argument("--reward", default="conditional_format", help="reward_fns variant scored on every attempt")
    g.add_argument("--min-reward", type=float, default=None, help="threshold of --accept reward")
    g.add_argument("--batch-size", type=int, default=256,
                   help="samples per wave: a few times --concurrency (http) or as large as memory allows (vllm)")

    g = p.add_argument_group("http backend")
    g.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="server URL up to /v1 (default %(default)s)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    g.add_argument("--concurrency", type=int, default=16, help="requests in flight at most")
    g.add_argument("--timeout", type=float, default=300.0, help="seconds per try")
    g.add_argument("--max-retries", type=int, default=4,
                   help="retries of a try that timed out, failed to connect or got 429 or 5xx (default %(default)s)")
    g.add_argument("--backoff", type=float, default=2.0, help="first retry delay in seconds, doubling after")
    g.add_argument("--extra-body", default=None, help="JSON merged into every request body")

    g = p.add_argument_group("local backends")
    g.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm")
    g.add_argument("--device", default="cpu", help="transformers")
    p.set_defaults(run=run)


def _backend(args: argparse.Namespace):
    if args.backend == "http":
        from gr2_verl.llm.openai_http import OpenAIBackend

        return OpenAIBackend(
            args.base_url, args.model, api_key_env=args.api_key_env, concurrency=args.concurrency,
            timeout_s=args.timeout, max_retries=args.max_retries, backoff_s=args.backoff,
            extra_body=json.loads(args.extra_body) if args.extra_body else None,
        )
    if args.backend == "vllm":
        from gr2_verl.llm.local import VLLMBackend

        return VLLMBackend(args.model, tensor_parallel_size=args.tensor_parallel_size)
    from gr2_verl.llm.local import TransformersBackend

    return TransformersBackend(args.model, device=args.device)


def run(args: argparse.Namespace) -> int:
    from gr2_verl.io import input_file, output_dir, read_text
    from gr2_verl.llm.backend import Sampling
    from gr2_verl.traces.acceptance import AcceptRule
    from gr2_verl.traces.sampler import TraceConfig, run_traces

    output_dir(args.out)
    input_file(args.rl, "RL parquet")
    hints = None
    if args.hints_file:
        hints = read_text(args.hints_file, "hints text")
    config = TraceConfig(
        mode=args.mode,
        rule=AcceptRule(kind=args.accept, reward=args.reward, min_reward=args.min_reward),
        sampling=Sampling(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens),
        attempts=args.attempts,
        hints=hints,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    backend = _backend(args)
    try:
        result = run_traces(args.rl, args.out, backend, config, model=args.model, limit=args.limit)
    except KeyboardInterrupt:
        print(f"interrupted: every answer received is in {args.out}/attempts.jsonl; rerun the command to resume")
        return 130
    finally:
        backend.close()
    s = result.summary
    per = s["attempts_per_accepted"]
    print(
        f"accepted {s['samples_accepted']}/{s['samples_attempted']} samples ({s['acceptance_rate']:.1%}), "
        f"{s['attempts_total']} attempts ({'n/a' if per is None else f'{per:.2f}'} per accepted trace), "
        f"{s['failed_requests']} failed requests, {s['retries_total']} retries"
    )
    for path in result.paths.values():
        print(f"wrote {path}")
    if s["samples_accepted"] == 0:
        raise ValueError(f"accepted no trace; {_why_none(result.paths['attempts.jsonl'], s, args)}")
    return 0


def _why_none(attempts_path: str, summary: dict, args: argparse.Namespace) -> str:
    """The cause of an empty run, from the attempt log: every request failed (which error), or no answer passed."""
    from collections import Counter

    from gr2_verl.io import read_jsonl

    if summary["samples_attempted"] == 0:
        return f"{args.rl} has no row whose target is among its candidates (rows selected: {summary['rows_selected']})"
    errors = Counter(r["error"] for _, r in read_jsonl(attempts_path) if r.get("error"))
    if summary["failed_requests"] == summary["attempts_total"]:
        error, n = errors.most_common(1)[0]
        where = f" at {args.base_url}" if args.backend == "http" else ""
        return f"all {summary['attempts_total']} requests to the teacher{where} failed ({n}x '{error}'); is it running?"
    return (f"{summary['attempts_total']} answers, none passed --accept {args.accept} "
            f"(parser statuses {summary['status_counts']}); see {attempts_path}")
