"""One bench process: the invoker package (or boto3 alone) in a fresh interpreter.

Run by ``bench.__main__`` as ``python -I -S lambda_process.py MODE PACKAGE CONFIG``:
no site-packages, nothing of the project, only the standard library and the
package the bundler built, as in a Lambda environment. The process talks to the
embedded cloud through ``AWS_ENDPOINT_URL`` and reports on stderr (stdout is the
function's output: Powertools' log lines and, with the stdout sink, the records).

Modes:

* ``cold-handler``: import the handler (Lambda's init) and serve one invocation;
* ``cold-boto3``: ``import boto3`` and one raw Converse (the baseline);
* ``cold-langchain``: the minimal LangChain app's cold start: ``import boto3``,
  ``ChatBedrockConverse`` on a raw client and one ``invoke`` (what the required
  LangChain stack costs a fresh process before any of the function's own code);
* ``cold-restore``: init with SnapStart's runtime hooks (``snapshot_restore_py``,
  as the managed runtime and the embedded runner provide it), the before-snapshot
  hooks, then, timed, the after-restore hooks and the first invocation: what a
  restored environment does before it answers. The restore itself (the microVM
  resumed from its snapshot, memory paged in) has no equivalent here;
* ``count``: init, then ``CONFIG["invocations"]`` invocations (API call counts);
* ``warm``: init, then raw Converse, the floor (raw Converse plus one raw
  PutLogEvents, what the api sink cannot do without), a minimal LangChain app and
  the handler, interleaved call by call;
* ``layers``: init, then the layers of a warm call, each timed alone and
  interleaved as in ``warm``: raw Converse, the same handed to the model-call
  worker, the minimal LangChain app, the function's LangChain call, the
  invocation without and with its deadline, the handler
  (``python -m bench --layers SINK``);
* ``profile``: ``cold-handler`` under pyinstrument (``bench.profile_init``);
* ``profile-warm``: init, ``CONFIG["warmup"]`` calls, then ``CONFIG["invocations"]``
  warm handler calls and as many floor calls, interleaved, under cProfile (the
  model-call worker thread's profile apart); reports the top of each profile, by
  own time and by cumulative time (``python -m bench --profile-warm SINK``).

Every side sends the Converse request the handler's call sends (``CONFIG["request"]``,
``bench.world.converse_request``). ``cold-handler``, ``cold-boto3`` and ``cold-langchain``
report their answer's output tokens; ``warm`` and ``profile-warm`` first compare one answer of
each side and fail (exit with a message, no report) if the lengths differ.

Standard library only until the package is on ``sys.path``.
"""

import importlib.util
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

MODE, PACKAGE, CONFIG = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, PACKAGE)
# The bench's interleaving (stdlib only), loaded by path: nothing of the project is
# importable here.
_spec = importlib.util.spec_from_file_location(
    "bench_interleave", os.path.join(os.path.dirname(__file__), "interleave.py")
)
assert _spec is not None and _spec.loader is not None
INTERLEAVE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(INTERLEAVE)


def report(kind: str, value: object) -> None:
    sys.stderr.write(f"{kind} {json.dumps(value)}\n")
    sys.stderr.flush()


class Context:
    """The Lambda context attributes the handler and Powertools read."""

    function_name = "bedrock-invoker-bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:222222222222:function:bedrock-invoker-bench"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/bedrock-invoker-bench"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


EVENT = CONFIG.get("event", {})
# The Converse request the handler's call sends for EVENT (``bench.world.converse_request``):
# the raw side sends the same, so both get the same answer (the emulator derives it
# from the whole request) and time the same work.
REQUEST = CONFIG.get("request", {})


def serve(handler: object) -> int:
    """One invocation of the handler; the output tokens of its answer."""
    result = handler.lambda_handler(EVENT, Context())  # type: ignore[attr-defined]
    if "error" in result:
        raise RuntimeError(f"the handler answered an error: {result['error']}")
    return int(result["usage"]["output_tokens"])


def raw_converse(client: object) -> int:
    """One raw Converse of ``REQUEST``; the output tokens of its answer."""
    return int(client.converse(**REQUEST)["usage"]["outputTokens"])  # type: ignore[attr-defined]


def minimal_app(client: object) -> object:
    """What LangChain alone costs: ``ChatBedrockConverse`` on ``client``, no callback,
    asking what the handler asks."""
    from langchain_aws import ChatBedrockConverse

    return ChatBedrockConverse(
        client=client,
        model=REQUEST["modelId"],
        region_name=os.environ["AWS_REGION"],
        max_tokens=REQUEST["inferenceConfig"]["maxTokens"],
        service_tier=REQUEST["serviceTier"]["type"],
    )


def langchain_tokens(model: object) -> int:
    """One ``invoke`` of the minimal app; the output tokens of its answer."""
    usage = model.invoke(EVENT.get("prompt", "")).usage_metadata  # type: ignore[attr-defined]
    return -1 if usage is None else int(usage["output_tokens"])


def timed_ms(call: Any) -> Any:
    """``call`` as a measurement: the milliseconds it takes."""

    def run() -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    return run


def interleaved_medians(variants: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each variant's median ms over ``CONFIG["rounds"]`` calls, interleaved call by call."""
    samples = INTERLEAVE.interleaved(
        {name: timed_ms(call) for name, call in variants.items()},
        CONFIG["rounds"],
        warmup=CONFIG["warmup"],
    )
    return {
        name: {"median_ms": statistics.median(v), "samples": len(v)} for name, v in samples.items()
    }


def same_answers(output_tokens: dict[str, int]) -> None:
    """Fail the process unless every side got an answer of the same length."""
    if len(set(output_tokens.values())) != 1:
        raise SystemExit(
            f"the sides' answers differ ({output_tokens} output tokens): "
            "they did not send the same request"
        )


def same_answers_of_the_three_sides(raw: object, minimal: object, handler: object) -> None:
    """Raw Converse, the minimal LangChain app and the handler: one answer each, compared."""
    same_answers(
        {
            "raw": raw_converse(raw),
            "langchain": langchain_tokens(minimal),
            "handler": serve(handler),
        }
    )


def raw_client() -> object:
    """bedrock-runtime on the operations-role credentials the bench assumed once."""
    import boto3

    creds = CONFIG["raw_credentials"]
    return boto3.client(
        "bedrock-runtime",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def snapshot_hooks() -> object:
    """``snapshot_restore_py`` as Lambda's Python runtimes ship it (its four functions)."""
    import types

    module = types.ModuleType("snapshot_restore_py")
    # (hook, its args, its kwargs), in registration order.
    Hook = tuple[object, tuple[object, ...], dict[str, object]]
    before: list[Hook] = []
    after: list[Hook] = []

    def registrar(hooks: list[Hook]) -> object:
        def register(func: object, *args: object, **kwargs: object) -> object:
            hooks.append((func, args, kwargs))
            return func

        return register

    module.register_before_snapshot = registrar(before)  # type: ignore[attr-defined]
    module.register_after_restore = registrar(after)  # type: ignore[attr-defined]
    module.get_before_snapshot = lambda: before  # type: ignore[attr-defined]
    module.get_after_restore = lambda: after  # type: ignore[attr-defined]
    sys.modules["snapshot_restore_py"] = module
    return module


if MODE == "cold-handler":
    import handler

    report("ANSWERED", {"output_tokens": serve(handler)})
elif MODE == "cold-boto3":
    import boto3

    report("ANSWERED", {"output_tokens": raw_converse(boto3.client("bedrock-runtime"))})
elif MODE == "cold-langchain":
    import boto3

    model = minimal_app(boto3.client("bedrock-runtime"))
    report("ANSWERED", {"output_tokens": langchain_tokens(model)})
elif MODE == "cold-restore":
    hooks = snapshot_hooks()
    import handler

    for hook, args, kwargs in reversed(hooks.get_before_snapshot()):  # type: ignore[attr-defined]
        hook(*args, **kwargs)
    restored = time.perf_counter()
    for hook, args, kwargs in hooks.get_after_restore():  # type: ignore[attr-defined]
        hook(*args, **kwargs)
    serve(handler)
    report("RESULT", {"restore_ms": (time.perf_counter() - restored) * 1000})
elif MODE == "count":
    import handler

    for _ in range(CONFIG["invocations"]):
        serve(handler)
    report("DONE", {"modules": sorted({name.split(".")[0] for name in sys.modules})})
elif MODE == "warm":
    import handler

    raw = raw_client()

    def call_raw() -> None:
        raw_converse(raw)

    import boto3

    # The Lambda's own credentials, as the api sink's writer has them.
    own_logs = boto3.client("logs")
    floor_stream = f"floor-{uuid.uuid4()}"
    own_logs.create_log_stream(logGroupName=CONFIG["log_group"], logStreamName=floor_stream)

    def call_floor() -> None:
        call_raw()
        own_logs.put_log_events(
            logGroupName=CONFIG["log_group"],
            logStreamName=floor_stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"floor": true}'}],
        )

    def call_handler() -> None:
        serve(handler)

    minimal = minimal_app(raw)

    def call_langchain() -> None:
        langchain_tokens(minimal)

    # The floor's Converse is the raw one: three answers to compare.
    same_answers_of_the_three_sides(raw, minimal, handler)

    variants = {
        "raw": call_raw,
        "floor": call_floor,
        "langchain": call_langchain,
        "handler": call_handler,
    }
    report("RESULT", interleaved_medians(variants))
elif MODE == "layers":
    import handler
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.messages import HumanMessage

    # The layers of a warm call, each timed on its own and interleaved as in ``warm``:
    # what each adds over the one before is where the handler's time goes.
    invoker = handler._invoker
    raw = raw_client()
    minimal = minimal_app(raw)
    prompt = [HumanMessage(EVENT.get("prompt", ""))]

    def model_call(callbacks: list[Any]) -> None:
        # The function's own LangChain call (its model, guardrail and tier).
        invoker._chat.converse(
            REQUEST["modelId"],
            prompt,
            callbacks=callbacks,
            max_tokens=REQUEST["inferenceConfig"]["maxTokens"],
            service_tier=REQUEST["serviceTier"]["type"],
        )

    def invocation(deadline: bool) -> None:
        context = Context()
        invoker.handle(
            EVENT,
            remaining_time_ms=context.get_remaining_time_in_millis if deadline else None,
            invocation_id=context.aws_request_id,
        )

    same_answers_of_the_three_sides(raw, minimal, handler)
    # (layer, the layer it adds to, the call): each row's cost over its base is one part.
    layers = [
        ("raw boto3 converse", None, lambda: raw_converse(raw)),
        (
            "raw converse handed to the model-call worker",
            "raw boto3 converse",
            lambda: invoker._model_calls.submit(raw_converse, raw).result(),
        ),
        ("minimal LangChain app", "raw boto3 converse", lambda: langchain_tokens(minimal)),
        ("the function's LangChain call", "minimal LangChain app", lambda: model_call([])),
        (
            "  with a callback that does nothing",
            "the function's LangChain call",
            lambda: model_call([BaseCallbackHandler()]),
        ),
        (
            "invocation without a deadline",
            "  with a callback that does nothing",
            lambda: invocation(deadline=False),
        ),
        (
            "invocation with its deadline",
            "invocation without a deadline",
            lambda: invocation(deadline=True),
        ),
        ("the handler", "invocation with its deadline", lambda: serve(handler)),
    ]
    medians = interleaved_medians({name: call for name, _, call in layers})
    report("RESULT", {name: {**medians[name], "over": base} for name, base, _ in layers})
elif MODE == "profile":
    # pyinstrument comes from the venv, after the package: profiling only.
    sys.path.append(CONFIG["profiler_path"])
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    import handler

    serve(handler)
    profiler.stop()
    report("RESULT", profiler.output_text(unicode=False, color=False, show_all=False))
elif MODE == "profile-warm":
    import cProfile
    import io
    import pstats

    import boto3
    import handler

    # The floor, as in ``warm``: raw Converse and one raw PutLogEvents, profiled too.
    raw = raw_client()
    own_logs = boto3.client("logs")
    floor_stream = f"floor-{uuid.uuid4()}"
    own_logs.create_log_stream(logGroupName=CONFIG["log_group"], logStreamName=floor_stream)

    def call_floor() -> None:
        raw_converse(raw)
        own_logs.put_log_events(
            logGroupName=CONFIG["log_group"],
            logStreamName=floor_stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": '{"floor": true}'}],
        )

    same_answers({"floor": raw_converse(raw), "handler": serve(handler)})
    for _ in range(CONFIG["warmup"]):
        serve(handler)
        call_floor()
    # The model call runs on the invoker's worker thread (the same idle one every
    # time), which cProfile does not see from here: enable a profile there too.
    workers = handler._invoker._model_calls
    handler_thread, worker, floor = cProfile.Profile(), cProfile.Profile(), cProfile.Profile()
    workers.submit(worker.enable).result()
    elapsed = {"handler": 0.0, "floor": 0.0}
    for _ in range(CONFIG["invocations"]):  # interleaved, as in ``warm``
        started = time.perf_counter()
        handler_thread.runcall(serve, handler)
        elapsed["handler"] += time.perf_counter() - started
        started = time.perf_counter()
        floor.runcall(call_floor)
        elapsed["floor"] += time.perf_counter() - started
    workers.submit(worker.disable).result()
    out = io.StringIO()
    n = CONFIG["invocations"]
    out.write(
        f"{n} calls each, under the profiler: handler {elapsed['handler'] / n * 1000:.3f} ms, "
        f"floor {elapsed['floor'] / n * 1000:.3f} ms per call\n"
    )
    profiles = {"handler thread": handler_thread, "model-call worker": worker, "floor": floor}

    def by_package(profile: cProfile.Profile) -> dict[str, list[float]]:
        """Calls and own seconds per top-level package (``stdlib``, ``builtins``)."""
        totals: dict[str, list[float]] = {}
        for (filename, _, _), (_, calls, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
            if filename.startswith(PACKAGE):
                group = filename[len(PACKAGE) :].lstrip("/").split("/")[0].removesuffix(".py")
            else:
                group = "builtins" if filename == "~" else "stdlib"
            total = totals.setdefault(group, [0, 0.0])
            total[0] += calls
            total[1] += own
        return totals

    out.write("calls and own ms per call, by package:\n")
    for name, profile in profiles.items():
        groups = sorted(by_package(profile).items(), key=lambda kv: -kv[1][1])
        out.write(
            f"  {name}: "
            + ", ".join(f"{g} {c / n:.0f} / {t / n * 1000:.3f}" for g, (c, t) in groups)
            + "\n"
        )
    for name, profile in profiles.items():
        out.write(f"==== {name}\n")
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(100)
    report("RESULT", out.getvalue())
else:
    raise SystemExit(f"unknown mode {MODE!r}")
sys.stdout.flush()
os._exit(0)  # skip interpreter teardown: Lambda freezes, it does not exit
