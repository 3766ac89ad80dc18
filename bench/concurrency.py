"""Several people asking at once: ``streamlit run app.py`` driven by N headless Chromium pages at the same moment.

    .venv/bin/python bench/concurrency.py                       # 1, 4 and 8 sessions, 3 rounds each
    .venv/bin/python bench/concurrency.py --label after --sessions 1,4,8 --rounds 3
    .venv/bin/python bench/concurrency.py --label before --repo /tmp/verbatim-old   # another tree (git archive REV)
    .venv/bin/python bench/concurrency.py --sessions 8 --py-spy /tmp/server.txt       # profile the server (py-spy)

The app runs as its own process on a free loopback port, on a temporary copy of seeds/ and an index of it built
first (``python -m qa index``). Each of N sessions is one Chromium page (one browser, one context per session).
In each round every page waits until its page is idle, types a different question from
tests/data/natural_seeds.jsonl (answerable ones) and all press Enter at the same moment (a barrier); the figure is
Enter → the first new passage card visible, measured inside each page (``performance.now()`` at the keydown and
when a MutationObserver first sees the card in the page), so the browser driver's own delays do not count. An answer the
app judges "not found" has no visible card (they are collapsed); its "not found" box counts instead.

Printed, one row per N: p50 / p95 / max of that figure, answered / asked, errors on the page, the server's time in
``answer_question`` (the page footer, 0.1 s resolution), the server's RSS (VmRSS and VmHWM from
/proc/<pid>/status), CPU seconds of the server and of the browsers during the phase (in the JSON also per kind of
Chromium process), the machine's busy share and the load average. The browsers share the machine's cores with the
server here, as they would not in use: read the server's CPU seconds per question next to the latency. Results go
to ``bench/results/concurrency.json`` under ``--label`` (other labels are kept and shown in the same table), the
server log to ``bench/results/concurrency-server.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.appserver import AppServer, AppServerError  # noqa: E402
from bench.corpus import save_result  # noqa: E402

RESULTS = REPO / "bench" / "results"
QUESTIONS = REPO / "tests" / "data" / "natural_seeds.jsonl"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
START_TIMEOUT_S = 240
ANSWER_TIMEOUT_S = 60
TICK = os.sysconf("SC_CLK_TCK")

_IDLE = """() => !document.querySelector(
        '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]')
    && !!document.querySelector('[data-testid="stChatInputTextArea"]')
    && !document.querySelector('[data-testid="stChatInputTextArea"]:disabled')"""

# Armed before each question: remembers how many cards and "not found" boxes the page has, records when Enter goes
# down in the chat box (capture phase: before Streamlit's own handler), and watches the DOM for the first new
# passage card that is visible (one in a collapsed expander is not), a new "not found" box, or an error. A
# MutationObserver rather than polling: the page is checked when it changes, and layout is only asked for when a
# new card has arrived (polling every 20 ms would force a layout of a busy page 50 times a second, in every page).
_ARM = """() => {
    const ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]';
    const cards = () => document.getElementsByClassName("vb-card");
    const st = {enter: null, done: null, cards: cards().length,
                none: document.querySelectorAll(".vb-answer.vb-none").length,
                errors: document.querySelectorAll(ERRORS).length};
    window.__vb = st;
    if (window.__vbObserver) window.__vbObserver.disconnect();
    if (!window.__vbKeys) {
        window.__vbKeys = true;
        document.addEventListener("keydown", (e) => {
            const s = window.__vb;
            const box = e.target && e.target.getAttribute
                && e.target.getAttribute("data-testid") === "stChatInputTextArea";
            if (s && s.enter === null && e.key === "Enter" && box)
                s.enter = {t: performance.now(), wall: Date.now()};
        }, true);
    }
    const check = () => {
        const s = window.__vb;
        if (s.enter === null || s.done !== null) return;
        const all = cards();
        let kind = null;
        for (let i = s.cards; i < all.length && !kind; i++)
            if (all[i].tagName === "ARTICLE" && all[i].offsetParent !== null) kind = "card";
        if (!kind && document.querySelectorAll(".vb-answer.vb-none").length > s.none) kind = "none";
        if (!kind && document.querySelectorAll(ERRORS).length > s.errors) kind = "error";
        if (kind) { s.done = {t: performance.now(), kind: kind}; window.__vbObserver.disconnect(); }
    };
    window.__vbObserver = new MutationObserver(check);
    window.__vbObserver.observe(document.body, {childList: true, subtree: true, attributes: true,
                                                attributeFilter: ["open", "aria-expanded", "style", "class"]});
}"""

_DONE = "() => window.__vb && window.__vb.done"

_FOOTER = """() => {
    const xs = Array.from(document.querySelectorAll('[data-testid="stCaptionContainer"]'))
        .map(e => e.innerText.trim()).filter(t => / search · [0-9.]+ s$/.test(t));
    return xs.length ? xs[xs.length - 1] : null;
}"""


def questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [r["q"] for r in rows if r.get("kind") == "answerable"]


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))
    return xs[i]


# ------------------------------------------------------------------------------------------------ /proc


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5), counted after "(comm)"


def proc_memory_mb(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def proc_threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def process_kind(pid: int) -> str:
    """``renderer``, ``gpu-process``, ``utility``… for Chromium's processes (its ``--type``), ``browser`` for the
    main one, else the program's name (``node``: the Playwright driver)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()  # zygote children: one string
    except OSError:
        return "gone"
    for arg in args:
        if arg.startswith(b"--type="):
            return arg[7:].decode(errors="replace")
    name = Path(args[0].decode(errors="replace")).name if args and args[0] else "?"
    return "browser" if "chrom" in name else name


def cpu_by_kind(pids) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid in pids:
        kind = process_kind(pid)
        out[kind] = out.get(kind, 0.0) + proc_cpu_s(pid)
    return out


def descendants(root: int, exclude: set[int]) -> list[int]:
    """Processes under ``root`` (not under any of ``exclude``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in exclude:
                out.append(child)
                todo.append(child)
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine (all cores) from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, sum(fields[:8])


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# ------------------------------------------------------------------------------------------------ server


class Server(AppServer):
    """The page on a copy of seeds/ with an index built beforehand; a start that fails ends the benchmark."""

    def __init__(self, root: Path, extra_env: dict | None = None, repo: Path = REPO):
        super().__init__(root, repo, extra_env, timeout=START_TIMEOUT_S)

    def build_index(self) -> float:
        shutil.copytree(self.repo / "seeds", self.docs)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "qa", "index", "--docs", str(self.docs), "--index", str(self.index)],
                       cwd=self.repo, env=self.env, check=True, stdout=subprocess.DEVNULL, timeout=600)
        return time.monotonic() - started

    def start(self) -> float:
        try:
            return super().start()
        except AppServerError as exc:
            raise SystemExit(str(exc)) from None


# ------------------------------------------------------------------------------------------------ sessions


async def open_session(browser, url: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT_S * 1000)
    await page.goto(url, wait_until="domcontentloaded")
    await page.get_by_test_id("stChatInputTextArea").wait_for(state="visible", timeout=START_TIMEOUT_S * 1000)
    await page.wait_for_function(_IDLE, timeout=START_TIMEOUT_S * 1000, polling=100)
    return context, page


async def prepare(page, question: str) -> None:
    """Wait until the page is idle, type the question, arm the watcher (see ``_ARM``)."""
    await page.wait_for_function(_IDLE, timeout=ANSWER_TIMEOUT_S * 1000, polling=50)
    box = page.get_by_test_id("stChatInputTextArea")
    await box.fill(question)
    if await box.input_value() != question:
        raise RuntimeError("the chat box lost the typed question")
    await page.evaluate(_ARM)


async def wait_answer(page) -> dict:
    """Enter → first new visible passage (or "not found" box), measured in the page."""
    try:
        await page.wait_for_function(_DONE, timeout=ANSWER_TIMEOUT_S * 1000, polling=100)
    except Exception as exc:  # timeout or a page that went away
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    state = await page.evaluate("() => window.__vb")
    enter, done = state["enter"], state["done"]
    if enter is None:
        return {"ok": False, "error": "Enter was not seen by the page"}
    result = {"ok": done["kind"] != "error", "kind": done["kind"], "seconds": (done["t"] - enter["t"]) / 1000,
              "enter_wall_ms": enter["wall"]}
    if done["kind"] == "error":
        result["error"] = "the page shows an error"
    await page.wait_for_function(_IDLE, timeout=ANSWER_TIMEOUT_S * 1000, polling=50)
    footer = await page.evaluate(_FOOTER)
    if footer:
        try:
            result["server_s"] = float(footer.rsplit("·", 1)[1].strip().rstrip("s").strip())
        except ValueError:
            pass
    return result


async def run_phase(browser, server: Server, n: int, rounds: int, pool: list[str], offset: int) -> dict:
    opened = await asyncio.gather(*(open_session(browser, server.url) for _ in range(n)))
    pages = [page for _, page in opened]
    exclude = {server.proc.pid}
    browser_pids = descendants(os.getpid(), exclude)
    cpu_server0 = proc_cpu_s(server.proc.pid)
    cpu_browsers0 = sum(proc_cpu_s(p) for p in browser_pids)
    kinds0 = cpu_by_kind(browser_pids)
    busy0, total0 = machine_cpu()
    load0 = loadavg()
    wall0 = time.monotonic()
    results = []
    for r in range(rounds):
        qs = [pool[(offset + r * n + i) % len(pool)] for i in range(n)]
        await asyncio.gather(*(prepare(page, q) for page, q in zip(pages, qs)))
        # The barrier: every box holds its question; all Enter presses are sent together.
        await asyncio.gather(*(page.get_by_test_id("stChatInputTextArea").press("Enter") for page in pages))
        answers = await asyncio.gather(*(wait_answer(page) for page in pages))
        enters = [a["enter_wall_ms"] for a in answers if "enter_wall_ms" in a]
        for i, (q, a) in enumerate(zip(qs, answers)):
            results.append({"round": r + 1, "session": i, "question": q, **a})
        skew = (max(enters) - min(enters)) if enters else None
        secs = [a["seconds"] for a in answers if a.get("ok")]
        print(f"  N={n} round {r + 1}: " + " ".join(f"{s:.2f}" for s in sorted(secs))
              + (f"  (Enter spread {skew:.0f} ms)" if skew is not None else ""), flush=True)
    wall = time.monotonic() - wall0
    browser_pids = set(browser_pids) | set(descendants(os.getpid(), exclude))
    cpu_browsers = sum(proc_cpu_s(p) for p in browser_pids) - cpu_browsers0
    kinds = {k: round(v - kinds0.get(k, 0.0), 2) for k, v in cpu_by_kind(browser_pids).items()}
    cpu_server = proc_cpu_s(server.proc.pid) - cpu_server0
    busy1, total1 = machine_cpu()
    memory = proc_memory_mb(server.proc.pid)
    threads = proc_threads(server.proc.pid)
    await asyncio.gather(*(context.close() for context, _ in opened))

    ok = [x["seconds"] for x in results if x.get("ok")]
    server_s = [x["server_s"] for x in results if "server_s" in x]
    return {
        "sessions": n,
        "rounds": rounds,
        "asked": len(results),
        "answered": len(ok),
        "errors": [x["error"] for x in results if "error" in x],
        "not_found": sum(1 for x in results if x.get("kind") == "none"),
        "p50_s": round(statistics.median(ok), 3) if ok else None,
        "p95_s": round(percentile(ok, 0.95), 3) if ok else None,
        "max_s": round(max(ok), 3) if ok else None,
        "server_answer_p50_s": round(statistics.median(server_s), 2) if server_s else None,
        "server_answer_max_s": round(max(server_s), 2) if server_s else None,
        "server_rss_mb": memory.get("VmRSS"),
        "server_hwm_mb": memory.get("VmHWM"),
        "server_threads": threads,
        "server_cpu_s": round(cpu_server, 2),
        "browsers_cpu_s": round(cpu_browsers, 2),
        "browsers_cpu_by_process_s": kinds,
        "wall_s": round(wall, 2),
        "machine_busy": round((busy1 - busy0) / max(total1 - total0, 1), 3),
        "loadavg_before": load0,
        "loadavg_after": loadavg(),
        "results": results,
    }


async def run_all(server: Server, sessions: list[int], rounds: int) -> list[dict]:
    from playwright.async_api import async_playwright

    pool = questions()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                                   timeout=60_000)
        try:
            # Warm-up: one session asks one question (the first script run loads the model and opens the index).
            context, page = await open_session(browser, server.url)
            await prepare(page, pool[-1])
            await page.get_by_test_id("stChatInputTextArea").press("Enter")
            warm = await wait_answer(page)
            await context.close()
            print(f"warm-up question: {warm.get('seconds', float('nan')):.2f} s", flush=True)
            phases = []
            for i, n in enumerate(sessions):
                phases.append(await run_phase(browser, server, n, rounds, pool, offset=i * 7))
            return phases
        finally:
            await browser.close()


def fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def table(runs: dict[str, dict]) -> str:
    head = ("label", "N", "p50 s", "p95 s", "max s", "answered", "err", "ask p50/max s", "RSS MB", "HWM MB",
            "server CPU s", "browsers CPU s", "wall s", "busy", "load 1m")
    rows = [head]
    for label, run in runs.items():
        for p in run["phases"]:
            rows.append((label, str(p["sessions"]), fmt(p["p50_s"]), fmt(p["p95_s"]), fmt(p["max_s"]),
                         f"{p['answered']}/{p['asked']}", str(len(p["errors"])),
                         f"{fmt(p['server_answer_p50_s'], '.1f')}/{fmt(p['server_answer_max_s'], '.1f')}",
                         fmt(p["server_rss_mb"], ".0f"), fmt(p["server_hwm_mb"], ".0f"), fmt(p["server_cpu_s"], ".1f"),
                         fmt(p["browsers_cpu_s"], ".1f"), fmt(p["wall_s"], ".1f"), f"{p['machine_busy']:.0%}",
                         f"{p['loadavg_before'][0]:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    def line(row) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join(line(r) for r in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,4,8", help="comma-separated session counts (default 1,4,8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="current", help="name of this run in the results file")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the app")
    parser.add_argument("--repo", default=str(REPO), help="run the app (and build the index) of this source tree, "
                        "e.g. an export of an earlier revision, with this venv (default: this tree)")
    parser.add_argument("--py-spy", metavar="FILE", help="record the server with py-spy (collapsed stacks) into FILE; "
                        "needs `pip install py-spy` in the venv")
    parser.add_argument("--py-spy-args", default="--rate 200 --nonblocking", help="more py-spy record options")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not installed at {CHROMIUM}: apt-get install -y --no-install-recommends chromium",
              file=sys.stderr)
        return 2
    sessions = [int(x) for x in args.sessions.split(",") if x.strip()]
    extra_env = dict(item.split("=", 1) for item in args.env)

    root = Path(tempfile.mkdtemp(prefix="verbatim-bench-concurrency-"))
    server = Server(root, extra_env, Path(args.repo))
    try:
        built = server.build_index()
        healthy = server.start()
        spy = None
        if args.py_spy:
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(server.proc.pid),
                                    "--format", "raw", "-o", args.py_spy, *args.py_spy_args.split()],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"index built in {built:.1f} s; server healthy after {healthy:.1f} s on {server.url} "
              f"(load average {' '.join(map(str, loadavg()))})", flush=True)
        phases = asyncio.run(run_all(server, sessions, args.rounds))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
    finally:
        server.stop()
        RESULTS.mkdir(parents=True, exist_ok=True)
        if server.log_path.exists():
            shutil.copy(server.log_path, RESULTS / "concurrency-server.log")
        shutil.rmtree(root, ignore_errors=True)

    out = RESULTS / "concurrency.json"
    runs = json.loads(out.read_text()).get("runs", {}) if out.exists() else {}
    runs[args.label] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "repo": str(Path(args.repo).resolve()),
        "env": extra_env,
        "phases": phases,
        "note": "seconds = Enter → first new visible passage card (or 'not found' box), measured in the page; "
                "ask = the server's answer_question time from the page footer; busy = the machine's CPU use "
                "(all processes, all cores) during the phase; loadavg_before = the 1-minute load average as the "
                "phase started",
    }
    out = save_result("concurrency", {"runs": runs})
    print()
    print(table(runs))
    print(f"\nwritten to {out}")
    return 0 if all(p["answered"] == p["asked"] and not p["errors"] for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
