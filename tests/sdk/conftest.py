"""End-to-end fixtures: the official OpenAI and Anthropic Python SDKs talk to a real
`nightshift gateway`, which talks to the scripted provider (`nightshift-scripted`).

Every test gets its own temporary directory, scripted provider, SQLite ledger and gateway
(all bound to 127.0.0.1 on ephemeral ports); the processes are killed at teardown.

The binaries come from `target/debug` (build them with
`cargo build -p nightshift -p nightshift-testkit`) or from `$NIGHTSHIFT_BIN_DIR`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(
    os.environ.get(
        "NIGHTSHIFT_BIN_DIR",
        Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")).resolve() / "debug",
    )
)
NIGHTSHIFT = BIN_DIR / "nightshift"
SCRIPTED = BIN_DIR / "nightshift-scripted"

STARTUP_TIMEOUT_S = 20.0

# Traffic stays on this machine: never route 127.0.0.1 through a proxy.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# The SDKs must never pick up a real key or endpoint from the environment.
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
             "ANTHROPIC_AUTH_TOKEN"):
    os.environ.pop(_var, None)


# --------------------------------------------------------------------------------------
# Money: exact integer nanodollars, the same formula the gateway documents.
# --------------------------------------------------------------------------------------

def usd_to_nanos(text: str) -> int:
    """A decimal USD string to integer nanodollars (exact; refuses sub-nanodollar)."""
    value = Decimal(text) * 1_000_000_000
    assert value == value.to_integral_value(), f"{text} is finer than a nanodollar"
    return int(value)


def format_usd(nanos: int) -> str:
    """Nanodollars as the gateway prints dollars: `$0.000125`, at least two decimals."""
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), 1_000_000_000)
    digits = f"{frac:09d}"
    while len(digits) > 2 and digits.endswith("0"):
        digits = digits[:-1]
    return f"{sign}${whole}.{digits}"


def output_cap(body: dict[str, Any]) -> int | None:
    """The output cap of a recorded upstream request, in any of the three formats."""
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        if body.get(key) is not None:
            return int(body[key])
    return None


@dataclass(frozen=True)
class Price:
    """USD per million tokens, as written in the config (decimal strings)."""

    input: str
    output: str
    cached_input: str
    cache_write: str
    reasoning: str

    def nanos(self) -> dict[str, int]:
        """Nanodollars per million tokens."""
        return {k: usd_to_nanos(getattr(self, k))
                for k in ("input", "output", "cached_input", "cache_write", "reasoning")}


@dataclass(frozen=True)
class Usage:
    """Usage in the gateway's normal form: input includes cached and cache-write tokens,
    output includes reasoning tokens."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def script(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }

    def as_reported_by(self, upstream_format: str) -> "Usage":
        """What an upstream speaking `upstream_format` can report of this usage: Chat and
        Responses have no cache-write field (those tokens are plain input there); Anthropic
        Messages has no reasoning field (those tokens are plain output there)."""
        if upstream_format in ("chat", "responses"):
            return Usage(self.input_tokens, self.output_tokens, self.cached_input_tokens, 0,
                         self.reasoning_tokens)
        if upstream_format == "messages":
            return Usage(self.input_tokens, self.output_tokens, self.cached_input_tokens,
                         self.cache_write_tokens, 0)
        raise ValueError(upstream_format)

    def capped(self, cap: int | None) -> "Usage":
        """The scripted provider honours the request's output cap."""
        if cap is None or self.output_tokens <= cap:
            return self
        return Usage(self.input_tokens, cap, self.cached_input_tokens, self.cache_write_tokens,
                     min(self.reasoning_tokens, cap))


def call_cost(u: Usage, price: Price) -> int:
    """Cost of one call in nanodollars, rounded up once per call."""
    p = price.nanos()
    cached = min(u.cached_input_tokens, u.input_tokens)
    written = min(u.cache_write_tokens, u.input_tokens - cached)
    plain = u.input_tokens - cached - written
    reasoning = min(u.reasoning_tokens, u.output_tokens)
    visible = u.output_tokens - reasoning
    total = (plain * p["input"] + cached * p["cached_input"] + written * p["cache_write"]
             + visible * p["output"] + reasoning * p["reasoning"])
    return -(-total // 1_000_000)


def expected_totals(calls: list[tuple[Usage, Price]]) -> dict[str, int]:
    """The ledger's `total` row for these settled calls."""
    return {
        "calls": len(calls),
        "input_tokens": sum(u.input_tokens for u, _ in calls),
        "cached_input_tokens": sum(u.cached_input_tokens for u, _ in calls),
        "cache_write_tokens": sum(u.cache_write_tokens for u, _ in calls),
        "output_tokens": sum(u.output_tokens for u, _ in calls),
        "reasoning_tokens": sum(u.reasoning_tokens for u, _ in calls),
        "settled_nanos": sum(call_cost(u, p) for u, p in calls),
    }


# Prices with nine decimals so that per-call rounding up is exercised, and a distinct
# price for every kind of token so that a token billed as the wrong kind changes the total.
PRICE_GPT = Price(input="2.000000123", output="8.000000077", cached_input="0.500000031",
                  cache_write="2.500000011", reasoning="12.000000059")
PRICE_CLAUDE = Price(input="3.000000007", output="15.000000013", cached_input="0.300000017",
                     cache_write="3.750000019", reasoning="15.000000013")
PRICE_COMPAT = Price(input="0.150000003", output="0.600000009", cached_input="0.075000001",
                     cache_write="0.187500007", reasoning="0.900000011")

# name -> (provider, upstream model name, price)
MODELS: dict[str, tuple[str, str, Price]] = {
    "gpt-test": ("scripted", "gpt-upstream-x", PRICE_GPT),
    "claude-test": ("scripted", "claude-upstream-x", PRICE_CLAUDE),
    "compat-test": ("compat", "compat-upstream-x", PRICE_COMPAT),
    "claude-native": ("claude", "claude-native-upstream-x", PRICE_CLAUDE),
}

PROVIDER_KEY_ENV = "NIGHTSHIFT_SDK_TEST_CLAUDE_KEY"
PROVIDER_KEY = "sk-ant-provider-secret-for-tests"


# --------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------

def _read_line_with(proc: subprocess.Popen, prefix: str, what: str, log: Path) -> str:
    """Read stdout lines until one starts with `prefix`; return the rest of it."""
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text.startswith(prefix):
                    return text[len(prefix):].strip()
        elif proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    raise RuntimeError(
        f"{what} did not print `{prefix}…` within {STARTUP_TIMEOUT_S}s "
        f"(exit {proc.returncode}); its log:\n{log.read_text(errors='replace')[-4000:]}")


def _drain(proc: subprocess.Popen) -> None:
    """Keep reading a child's stdout so that it can never block on a full pipe."""
    def run() -> None:
        assert proc.stdout is not None
        try:
            while proc.stdout.read(65536):
                pass
        except (OSError, ValueError):
            pass
    threading.Thread(target=run, daemon=True).start()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        try:
            proc.stdout.close()
        except OSError:
            pass


def _check_binaries() -> None:
    missing = [str(p) for p in (NIGHTSHIFT, SCRIPTED) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            "missing binaries " + ", ".join(missing)
            + ": run `cargo build -p nightshift -p nightshift-testkit` (or set NIGHTSHIFT_BIN_DIR)",
            pytrace=False)


@dataclass
class Minted:
    token: str
    id: str
    label: str


@dataclass
class Stack:
    """One scripted provider and one gateway sharing a temporary directory."""

    tmp: Path
    steps: list[dict[str, Any]]
    provider_addr: str = ""
    gateway_addr: str = ""
    config_path: Path = field(default_factory=Path)
    procs: list[subprocess.Popen] = field(default_factory=list)
    gateway: subprocess.Popen | None = None
    clients: list[Any] = field(default_factory=list)

    # ---- the gateway process ----

    def start_gateway(self) -> None:
        """Start a gateway on this stack's config and ledger (a fresh port each time)."""
        n = sum(1 for _ in self.tmp.glob("gateway*.log"))
        glog = self.tmp / f"gateway{n}.log"
        env = dict(os.environ)
        env[PROVIDER_KEY_ENV] = PROVIDER_KEY
        with glog.open("wb") as err:
            g = subprocess.Popen(
                [str(NIGHTSHIFT), "gateway", "--config", str(self.config_path),
                 "--listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                cwd=self.tmp, env=env)
        self.procs.append(g)
        self.gateway = g
        url = _read_line_with(g, "nightshift gateway listening on", "nightshift gateway", glog)
        self.gateway_addr = url.removeprefix("http://").rstrip("/")
        _drain(g)

    def restart_gateway(self, kill: bool = False) -> None:
        """Stop the gateway (SIGTERM, or SIGKILL when `kill`) and start a new one."""
        g = self.gateway
        if kill:
            g.kill()
            g.wait()
        else:
            g.terminate()
            assert g.wait(timeout=10) == 0, "the gateway did not shut down cleanly"
        self.start_gateway()

    # ---- clients ----

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_addr}"

    # SDK retries are off so that every call the test makes is exactly one gateway call.

    def openai(self, token: str | None, **kw: Any) -> openai.OpenAI:
        c = openai.OpenAI(api_key=token, base_url=f"{self.gateway_url}/v1",
                          max_retries=0, timeout=20.0, **kw)
        self.clients.append(c)
        return c

    def anthropic(self, token: str | None, **kw: Any) -> anthropic.Anthropic:
        c = anthropic.Anthropic(api_key=token, base_url=self.gateway_url,
                                max_retries=0, timeout=20.0, **kw)
        self.clients.append(c)
        return c

    # ---- CLI ----

    def _cli(self, *args: str) -> str:
        out = subprocess.run([str(NIGHTSHIFT), *args, "--config", str(self.config_path)],
                             capture_output=True, text=True, timeout=30, cwd=self.tmp)
        if out.returncode != 0:
            raise RuntimeError(f"nightshift {' '.join(args)} failed ({out.returncode}):\n"
                               f"{out.stdout}\n{out.stderr}")
        return out.stdout

    def mint(self, budget_usd: str = "100.00", label: str = "sdk-test",
             parent: str | None = None) -> Minted:
        args = ["token", "create", "--budget-usd", budget_usd, "--label", label, "--json"]
        if parent is not None:
            args += ["--parent", parent]
        v = json.loads(self._cli(*args))
        assert v["token"].startswith("nsk_") and v["id"].startswith("tok_"), v
        return Minted(token=v["token"], id=v["id"], label=label)

    def ledger(self, by: str = "model") -> dict[str, Any]:
        return json.loads(self._cli("ledger", "--by", by, "--json"))

    def ledger_total(self, by: str = "model") -> dict[str, int]:
        total = self.ledger(by)["total"]
        return {k: total[k] for k in ("calls", "input_tokens", "cached_input_tokens",
                                      "cache_write_tokens", "output_tokens", "reasoning_tokens",
                                      "settled_nanos")}

    def ledger_rows(self, by: str) -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in self.ledger(by)["rows"]}

    # ---- the scripted provider's record ----

    def _provider_get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{self.provider_addr}{path}", timeout=10) as r:
            return json.loads(r.read())

    def upstream_requests(self) -> list[dict[str, Any]]:
        return self._provider_get("/_scripted/requests")

    def served(self) -> int:
        return self._provider_get("/_scripted/served")["served"]


def _config_text(store: Path, provider_addr: str) -> str:
    base = f"http://{provider_addr}/v1"
    lines = [
        "[store]",
        f'url = "sqlite://{store}"',
        "",
        "[gateway]",
        "max_retries = 2",
        "retry_base_ms = 10",
        "request_timeout_ms = 5000",
        "",
        "[[provider]]", 'name = "scripted"', 'kind = "scripted"', f'base_url = "{base}"', "",
        "[[provider]]", 'name = "compat"', 'kind = "openai-compatible"', f'base_url = "{base}"', "",
        "[[provider]]", 'name = "claude"', 'kind = "anthropic"', f'base_url = "{base}"',
        f'api_key_env = "{PROVIDER_KEY_ENV}"', "",
    ]
    for name, (provider, upstream, price) in MODELS.items():
        lines += [
            "[[model]]",
            f'name = "{name}"',
            f'provider = "{provider}"',
            f'upstream = "{upstream}"',
            f'input_usd_per_mtok = "{price.input}"',
            f'output_usd_per_mtok = "{price.output}"',
            f'cached_input_usd_per_mtok = "{price.cached_input}"',
            f'cache_write_usd_per_mtok = "{price.cache_write}"',
            f'reasoning_usd_per_mtok = "{price.reasoning}"',
            "",
        ]
    return "\n".join(lines)


@pytest.fixture
def stack(tmp_path: Path):
    """A factory: `stack(steps)` starts a scripted provider replaying `steps` (dicts in the
    script's own format) and a gateway in front of it, and returns a `Stack`."""
    _check_binaries()
    started: list[Stack] = []

    def start(steps: list[dict[str, Any]], cycle: bool = False) -> Stack:
        assert not started, "one stack per test"
        s = Stack(tmp=tmp_path, steps=steps)
        started.append(s)
        script = tmp_path / "script.json"
        script.write_text(json.dumps({"cycle": cycle, "steps": steps}, indent=2))

        plog = tmp_path / "scripted.log"
        with plog.open("wb") as err:
            p = subprocess.Popen(
                [str(SCRIPTED), "--listen", "127.0.0.1:0", "--script", str(script), "--record"],
                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=tmp_path)
        s.procs.append(p)
        s.provider_addr = _read_line_with(p, "listening on", "nightshift-scripted", plog)
        _drain(p)

        s.config_path = tmp_path / "nightshift.toml"
        s.config_path.write_text(_config_text(tmp_path / "ledger.db", s.provider_addr))

        s.start_gateway()
        return s

    try:
        yield start
    finally:
        for s in started:
            for c in s.clients:
                c.close()
            for p in reversed(s.procs):
                _stop(p)


# --------------------------------------------------------------------------------------
# Helpers shared by the test files
# --------------------------------------------------------------------------------------

def text_step(text: str, usage: Usage, **extra: Any) -> dict[str, Any]:
    return {"text": text, "usage": usage.script(), **extra}


def tool_step(calls: list[tuple[str, str, dict[str, Any]]], usage: Usage,
              text: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "tool_calls": [{"id": cid, "name": name, "arguments": args} for cid, name, args in calls],
        "usage": usage.script(),
    }
    if text is not None:
        step["text"] = text
    return step


def assert_ledger(s: Stack, calls: list[tuple[Usage, Price]], by: str = "model") -> None:
    """The ledger's totals equal what `calls` cost, to the nanodollar."""
    got = s.ledger_total(by)
    want = expected_totals(calls)
    assert got == want, f"ledger total {got} != expected {want}"


def model_price(model: str) -> Price:
    return MODELS[model][2]
