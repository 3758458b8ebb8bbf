"""Python dvd-rw 0.1.6 on the same workload, in a fresh process: no HTTP, load + lookup only.

    python replay_worker.py '{"path": "...dvd.json", "digests": "...bin", "n": 1000, "seed": 1}'

load = DVDLoader.load() plus the first dvd.get_request(), after the same for a one-recording file
(warmPath), the median of three loads when the first took under a second; per request = get_request for the
remaining N - 1 requests (the Request model built for each, as the httpx patch does), in the same
shuffled order as the Node workers, match_on without headers. Every returned body is checked
against the md5 digests written by the harness, after the timed loop.
"""

import gc
import hashlib
import json
import resource
import sys
import time

from dvd_rw.loader import DVDLoader
from dvd_rw.models import Matcher, Request

HOSTS = ["api.example.com", "cdn.example.com", "auth.example.com"]
METHODS = ["GET", "POST"]
M32 = 0xFFFFFFFF
LOAD_SAMPLES = 3  # load is the median of this many loads (see LOAD_REPEAT_MS)
LOAD_REPEAT_MS = 1000  # only a first load shorter than this is repeated


def request(i):
    host = HOSTS[i % 3]
    method = METHODS[(i // 3) % 2]
    url = f"https://{host}/v1/items/{(i // 6) % 50}?id={i}&page={i // 300}"
    headers = [("x-trace-id", f"trace-{i:08x}"), ("accept", "application/json")]
    return Request(headers=headers, method=method, url=url)


def shuffled(n, seed):
    """The same xorshift32 Fisher-Yates permutation as workload.mjs."""
    order = list(range(n))
    x = (seed & M32) or 1
    for i in range(n - 1, 0, -1):
        x ^= (x << 13) & M32
        x ^= x >> 17
        x ^= (x << 5) & M32
        j = x % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def main():
    cfg = json.loads(sys.argv[1])
    n = cfg["n"]
    order = shuffled(n, cfg["seed"])
    result = {"tool": "python", "n": n}
    try:
        match_on = [Matcher.host, Matcher.method, Matcher.path, Matcher.query, Matcher.scheme]
        got = [None] * n
        if cfg.get("warmPath"):
            # As the Node workers: a one-recording file first, so load is this DVD's own cost.
            tw = time.perf_counter()
            warm = DVDLoader(cfg["warmPath"], match_on=match_on)
            warm.load()
            warm.dvd.get_request(request(0))
            result["firstUseMs"] = (time.perf_counter() - tw) * 1000

        def open_dvd():
            t0 = time.perf_counter()
            loader = DVDLoader(cfg["path"], match_on=match_on)
            loader.load()
            got[order[0]] = loader.dvd.get_request(request(order[0]))
            return loader.dvd, t0, time.perf_counter()

        # As the Node workers: a load under LOAD_REPEAT_MS is the median of three, the first two
        # thrown away (and collected) before the measured run.
        loads = []
        dvd, t0, t_first = open_dvd()
        while (t_first - t0) * 1000 < LOAD_REPEAT_MS and len(loads) < LOAD_SAMPLES - 1:
            loads.append((t_first - t0) * 1000)
            del dvd
            gc.collect()
            dvd, t0, t_first = open_dvd()
        loads.append((t_first - t0) * 1000)
        for k in range(1, n):
            i = order[k]
            got[i] = dvd.get_request(request(i))
        t_end = time.perf_counter()

        with open(cfg["digests"], "rb") as f:
            digests = f.read()
        wrong = 0
        first_wrong = None
        for i, res in enumerate(got):
            ok = (
                res is not None
                and res.status == 200
                and hashlib.md5(res.body or b"").digest() == digests[16 * i : 16 * i + 16]
            )
            if not ok:
                wrong += 1
                if first_wrong is None:
                    first_wrong = {"i": i, "found": res is not None}
        result.update(
            ok=wrong == 0,
            loadMs=sorted(loads)[len(loads) // 2],
            loadSamplesMs=loads,
            perRequestUs=(t_end - t_first) * 1e6 / max(1, n - 1),
            totalMs=(t_end - t0) * 1000,
            wrong=wrong,
            firstWrong=first_wrong,
        )
    except Exception as e:  # noqa: BLE001 - reported, not raised
        result.update(ok=False, error=f"{type(e).__name__}: {e}"[:300])
    result["maxRssMiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
