"""`nightshift mcp` driven by the official MCP Python SDK's client: an agent starts a shift,
reads it, pauses, steers and kills a job, and reads the last diff."""

import asyncio
import json
import tempfile
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from test_floor import binary, env, make_world


def payload(result):
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def until(what, f, within=30.0):
    end = time.monotonic() + within
    while True:
        v = await f()
        if v:
            return v
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def supervise(tmp):
    params = StdioServerParameters(command=str(binary()), args=["mcp", "--config", "nightshift.toml"],
                                   cwd=str(tmp), env=env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            assert tools == {"list_shifts", "shift_status", "job_status", "last_diff", "ledger", "start_shift",
                             "pause", "resume", "kill", "steer", "requeue"}
            assert payload(await session.call_tool("list_shifts", {})) == {"shifts": []}

            started = payload(await session.call_tool("start_shift", {"spec": str(tmp / "shift.toml")}))
            assert "nightshift run" in started["started"]

            async def accepted():
                r = await session.call_tool("job_status", {"shift": "browser", "job": "calc"})
                if r.is_error:
                    return None
                j = payload(r)
                return j if j["accepted"] >= 1 else None

            await until("an accepted iteration", accepted)
            paused = payload(await session.call_tool("pause", {"shift": "browser", "job": "calc"}))
            assert paused["by"] == "mcp" and paused["action"] == {"kind": "pause"}
            steered = payload(await session.call_tool("steer", {"shift": "browser", "job": "calc", "note": "mind the log"}))
            assert steered["action"] == {"kind": "steer", "note": "mind the log"}

            again = await session.call_tool("pause", {"shift": "browser", "job": "calc"})
            assert again.is_error and again.content[0].text == "job `calc` is already paused"
            unknown = await session.call_tool("job_status", {"shift": "nope", "job": "calc"})
            assert unknown.is_error and "no job `calc`" in unknown.content[0].text

            async def settled():
                j = payload(await session.call_tool("job_status", {"shift": "browser", "job": "calc"}))
                return j if all(i["state"] not in ("running", "committed") for i in j["iterations"]) else None

            before = len((await until("the running iteration to end", settled))["iterations"])
            await asyncio.sleep(2.0)
            j = payload(await session.call_tool("job_status", {"shift": "browser", "job": "calc"}))
            assert len(j["iterations"]) == before, "a paused job starts no iteration"
            assert j["paused"]["by"] == "mcp"

            diff = payload(await session.call_tool("last_diff", {"shift": "browser", "job": "calc"}))
            assert diff["iteration"] == before and "+++ b/log.txt" in diff["diff"], diff

            killed = payload(await session.call_tool("kill", {"shift": "browser", "job": "calc"}))
            assert killed["action"] == {"kind": "kill"}

            async def finished():
                j = payload(await session.call_tool("job_status", {"shift": "browser", "job": "calc"}))
                return j if j["state"] == "finished" else None

            j = await until("the job to stop", finished)
            assert j["stop_reason"] == "killed" and j["stop_detail"] == "killed by mcp"
            shift = payload(await session.call_tool("shift_status", {"shift": "browser"}))
            assert [a["kind"] for a in shift["needs_attention"] if a["job"] == "calc"] == ["killed"]
            for job in ("wordcount",):
                payload(await session.call_tool("kill", {"shift": "browser", "job": job}))


def test_an_agent_starts_reads_and_steers_a_shift_over_mcp():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_world(tmp)
        asyncio.run(supervise(tmp))
