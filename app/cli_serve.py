"""`scholar serve-model`: the generator behind an OpenAI-compatible HTTP API."""

import argparse
import sys
from pathlib import Path

from app.cli_model import add_device_options, model_path, options_for
from app.service import Scholar
from model import UnsupportedModelError, load_generator
from model.server import ModelServer


def add_serve_commands(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve-model",
        help="serve the generator over an OpenAI-compatible HTTP API",
        description="Serve the generator (the default model unless --model names a Hugging Face "
        "folder or a GGUF file) at /v1/models, /v1/completions and /v1/chat/completions, "
        "streaming included. Requests that arrive together are decoded together.",
    )
    serve.add_argument("--model", type=Path, help="Hugging Face LLaMA folder or GGUF file")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000; 0 takes a free one")
    serve.add_argument("--max-batch", type=int, default=8, help="requests decoded together")
    serve.add_argument("--name", help="the model id clients send (default: the model's name)")
    serve.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    add_device_options(serve)
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, scholar: Scholar) -> int:
    settings = scholar.settings
    path = model_path(args, scholar)
    if path is None:
        return 2
    if args.max_batch < 1:
        print("--max-batch must be at least 1", file=sys.stderr)
        return 2
    name = args.name or (path.stem if path.is_file() else path.name)
    try:
        generator = load_generator(path, settings.models_dir, options_for(args, scholar))
    except (OSError, ValueError, UnsupportedModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        server = ModelServer(
            generator, name, args.host, args.port, args.max_batch, args.log_requests
        )
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    print(f"serving {name!r} at {server.url}/v1 (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
