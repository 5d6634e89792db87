"""Summary of a scripts/bench run: medians over rounds, ratios to the baseline, targets.

Usage: python3 summary.py RESULTS.tsv FACTS

RESULTS.tsv rows (one per wrk run): kind, server, round, requests, req/s, p50 us, p99 us,
server CPU us per request, server RSS kB, errors, server CPU % of one core during wrk's load
period, server-core busy %,
client-core busy %, wrk CPU % of one core, % of a core other work took, contended (0/1),
the store servers' (PostgreSQL, Redis) CPU us per request (0 for the embedded stores).
Only rounds in which no run was contended count, unless no round was clean.
FACTS: key=value lines written by scripts/bench.
"""

import statistics
import sys
from collections import defaultdict

COLUMNS = ["kind", "server", "round", "requests", "rps", "p50", "p99", "cpu", "rss", "errors",
           "server_cpu", "server_busy", "client_busy", "wrk_cpu", "other", "contended",
           "store_cpu"]


def load(results_path, facts_path):
    rows = []
    with open(results_path) as f:
        for line in f:
            values = line.rstrip("\n").split("\t")
            row = dict(zip(COLUMNS, values))
            for key in COLUMNS[2:]:
                row[key] = float(row[key])
            rows.append(row)
    facts = {}
    with open(facts_path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            facts[key] = value
    return rows, facts


def med(values):
    return statistics.median(values) if values else float("nan")


def ms(us):
    return f"{us / 1000:.2f} ms"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def main():
    rows, facts = load(sys.argv[1], sys.argv[2])
    # A round counts when none of its runs was contended; when no round is clean, all count.
    # The PostgreSQL servers share the cores with their database: their runs do not decide.
    dirty = {(r["kind"], r["round"]) for r in rows
             if r["contended"] and not r["server"].startswith("pg-")}
    used = {}
    for kind in ("redirect", "create"):
        all_rounds = {r["round"] for r in rows if r["kind"] == kind}
        clean = all_rounds - {rnd for (k, rnd) in dirty if k == kind}
        used[kind] = clean or all_rounds
    by = defaultdict(list)
    for row in rows:
        if row["kind"] in used and row["round"] in used[row["kind"]]:
            by[(row["kind"], row["server"])].append(row)

    def m(kind, server, key):
        return med([r[key] for r in by[(kind, server)]])

    def ratio(server, key):
        """Median over rounds of (server / baseline in the same round)."""
        # The unpinned servers (u-*) are compared with the unpinned baseline.
        base_name = "u-baseline" if server.startswith("u-") else "baseline"
        base = {r["round"]: r[key] for r in by[("redirect", base_name)]}
        return med([r[key] / base[r["round"]] for r in by[("redirect", server)]
                    if base.get(r["round"])])

    duration, conns = facts["duration"], facts["connections"]

    def rounds_note(kind):
        clean, ran = int(facts[f"clean_rounds_{kind}"]), int(facts[f"all_rounds_{kind}"])
        if clean == 0:
            return (f"medians of all {ran} rounds: **every round was disturbed by other work on "
                    "the machine; these figures are not reliable**")
        return f"medians of {clean} uncontended rounds ({ran} run)"
    large = int(facts["large_links"])
    out = []
    p = out.append

    p(f"## url-shortener bench ({facts['machine']})")
    p("")
    p(f"Command: `{facts['command']}`  ")
    p(f"Wall time: {facts['bench_seconds']} s of benchmark ({facts['wall_seconds']} s with the "
      f"build). Each wrk run {duration} s, 1 thread, {conns} connections, pinned to its own "
      "core; every server pinned to the other core. A round counts only if, in every run, other "
      f"work on the machine took at most {facts['contention_limit']}% of either core. Ratios are "
      "the median over rounds of server / baseline in the same round. Server CPU/req is the "
      "server process's utime+stime (all threads) over the run divided by the requests wrk "
      "completed; *server CPU use* is the server's CPU time as a share of one core during wrk's "
      "load period and *wrk CPU use* is wrk's over its whole run, start-up included (it first "
      "builds its table of requests: about a second for 1,000,000 codes); near 100% means that "
      "side was the bottleneck; *other work* is the most any other process "
      "took of the server's or wrk's core. Servers and wrk run at "
      f"nice {facts['nice']}. The service runs with its defaults (log level info into a file, "
      "rate limiter on) except: "
      f"`{facts['service_env'] or '(nothing)'}` (budgets one loopback client cannot spend).")
    p("")
    p(f"### Redirect `GET /s/{{code}}`, and `GET /{{code}}` where the row says so (random code among the stored links; {rounds_note('redirect')})")
    p("")
    p("| server | store | links | req/s | p50 | p99 | server CPU/req | RSS | req/s vs base | "
      "CPU/req vs base | p99 vs base | errors | server CPU use | wrk CPU use | other work |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = {"baseline": ("baseline (examples/baseline.rs)", "none", "-"),
             "mem-1k": ("url-shortener", "memory", "1,000"),
             "mem-1k-root": ("url-shortener, `GET /{code}`", "memory", "1,000"),
             "sql-1k": ("url-shortener", "SQLite", "1,000"),
             "sql-1k-root": ("url-shortener, `GET /{code}`", "SQLite", "1,000"),
             "sql-1k-rules": ("url-shortener, links with five rules (none matching)", "SQLite", "1,000"),
             "mem-1m": ("url-shortener", "memory", f"{large:,}"),
             "sql-1m": ("url-shortener", "SQLite", f"{large:,}"),
             "sql-1m-zipf": ("url-shortener, Zipf-drawn codes", "SQLite", f"{large:,}"),
             "u-baseline": ("baseline, unpinned", "none", "-"),
             "u-mem-1k": ("url-shortener, unpinned", "memory", "1,000"),
             "u-sql-1k": ("url-shortener, unpinned", "SQLite", "1,000"),
             "pg-1k": ("url-shortener", "PostgreSQL", "1,000"),
             "pg-1m": ("url-shortener", "PostgreSQL", f"{large:,}"),
             "pg-1m-tier": ("url-shortener + Redis tier", "PostgreSQL", f"{large:,}"),
             "sql-1k-rq": ("url-shortener, Redis click queue", "SQLite", "1,000"),
             "old-mem-1k": ("earlier build (BENCH_OLD_BIN)", "memory", "1,000"),
             "old-sql-1k": ("earlier build (BENCH_OLD_BIN)", "SQLite", "1,000")}
    for server, (label, store, links) in names.items():
        if not by[("redirect", server)]:
            continue
        rel = ["1.00x" if server in ("baseline", "u-baseline") else f"{ratio(server, key):.2f}x"
               for key in ("rps", "cpu", "p99")]
        errors = sum(r["errors"] for r in by[("redirect", server)])
        p(f"| {label} | {store} | {links} | {m('redirect', server, 'rps'):,.0f} | "
          f"{ms(m('redirect', server, 'p50'))} | {ms(m('redirect', server, 'p99'))} | "
          f"{m('redirect', server, 'cpu'):.2f} µs | {m('redirect', server, 'rss') / 1024:,.1f} MiB | "
          f"{rel[0]} | {rel[1]} | {rel[2]} | {errors:.0f} | "
          f"{m('redirect', server, 'server_cpu'):.0f}% | {m('redirect', server, 'wrk_cpu'):.0f}% | "
          f"{m('redirect', server, 'other'):.0f}% |")
    p("")
    p("The unpinned rows (server and wrk free to use both cores, the runtime sized for two) "
      "are compared with the unpinned baseline; all other rows run the server on one core and "
      "wrk on the other.")
    p("")
    p("PostgreSQL and Redis are the machine's servers, not pinned; their CPU time during the "
      "runs (all postgres and redis-server processes) per redirect:")
    p("")
    p("| server | store CPU/req | service + store CPU/req |")
    p("|---|---:|---:|")
    for server in ("pg-1k", "pg-1m", "pg-1m-tier"):
        if by[("redirect", server)]:
            store = m("redirect", server, "store_cpu")
            p(f"| {server} | {store:.2f} µs | {m('redirect', server, 'cpu') + store:.2f} µs |")
    p("")

    p(f"### Redirect with 1,000 vs {large:,} stored links")
    p("")
    p(f"| store | req/s at 1,000 | req/s at {large:,} | ratio | CPU/req at 1,000 | "
      f"CPU/req at {large:,} | p99 at 1,000 | p99 at {large:,} |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|")
    scale = {}
    for store, small, big in (("memory", "mem-1k", "mem-1m"), ("SQLite", "sql-1k", "sql-1m"),
                              ("SQLite, Zipf-drawn codes", "sql-1k", "sql-1m-zipf"),
                              ("PostgreSQL", "pg-1k", "pg-1m"),
                              ("PostgreSQL + Redis tier", "pg-1k", "pg-1m-tier")):
        r_small, r_big = m("redirect", small, "rps"), m("redirect", big, "rps")
        scale[store] = r_big / r_small
        p(f"| {store} | {r_small:,.0f} | {r_big:,.0f} | {scale[store]:.2f}x | "
          f"{m('redirect', small, 'cpu'):.2f} µs | {m('redirect', big, 'cpu'):.2f} µs | "
          f"{ms(m('redirect', small, 'p99'))} | {ms(m('redirect', big, 'p99'))} |")
    p("")

    p(f"The {large:,} SQLite links were inserted straight into the file (after the service had "
      f"created its schema); the memory store's went through `POST /shorten`. The SQLite store "
      "keeps its default link cache in front (the memory store has none). The PostgreSQL links "
      "were inserted with one `INSERT … SELECT FROM generate_series`; pg-1m-tier is a second "
      "instance on the same database with `cache.redis_url`, and every code was resolved once "
      f"(HEAD, at {float(facts['tier_fill_per_second']):,.0f}/s) before the runs, so the tier "
      "holds all of them while each instance's own cache holds 100,000.")
    p("")

    p(f"### Create `POST /shorten` (new alias per request; {rounds_note('create')})")
    p("")
    p("| store | creates/s | p50 | p99 | server CPU/create | errors |")
    p("|---|---:|---:|---:|---:|---:|")
    creates = {}
    for store, server in (("memory", "mem-1k"), ("SQLite (synchronous=full)", "sql-1k"),
                          ("PostgreSQL (synchronous_commit=on)", "pg-1k")):
        creates[server] = m("create", server, "rps")
        errors = sum(r["errors"] for r in by[("create", server)])
        p(f"| {store} | {creates[server]:,.0f} | {ms(m('create', server, 'p50'))} | "
          f"{ms(m('create', server, 'p99'))} | {m('create', server, 'cpu'):.2f} µs | "
          f"{errors:.0f} |")
    p("")
    p("The server has one core (wrk has the other), so these are creates per server core; "
      "PostgreSQL, unpinned, shares both.")
    p("")
    scans, heads = int(facts["tier_links_scans"]), int(facts["tier_head_requests"])
    p(f"### Redis tier: database reads for cached codes")
    p("")
    p(f"{heads:,} `HEAD /s/{{code}}` over all {large:,} codes on pg-1m-tier (each resolved once "
      f"before): PostgreSQL's statistics show **{scans:,}** lookups in the `links` table "
      "(scans of `links_pkey` plus full scans, in PostgreSQL's statistics views; the expiry "
      "sweeps' scans of the `expires_at` index are not lookups) during the run. HEAD counts no click, "
      "so no flush touches the table.")
    p(f"Seeding {large:,} links into the memory store through `POST /shorten` "
      f"(examples/seed.rs, 64 in flight) ran at {float(facts['seed_mem_per_second']):,.0f}/s.")
    p("")

    before, after = int(facts["rss_before_kb"]), int(facts["rss_after_kb"])
    per_link = (after - before) * 1024 / large
    url_len = float(facts["avg_long_url_len"])
    beyond = per_link - url_len
    p(f"### Memory store: RSS per link at {large:,} links")
    p("")
    p("| RSS before | RSS after | bytes per link | average long URL | bytes per link beyond the URL |")
    p("|---:|---:|---:|---:|---:|")
    p(f"| {before / 1024:,.1f} MiB | {after / 1024:,.1f} MiB | {per_link:.0f} | {url_len:.1f} | "
      f"{beyond:.0f} |")
    p("")

    p("### Clicks: stored vs redirects wrk completed")
    p("")
    p("| server | how counted | redirects completed | clicks stored | difference | allowed "
      "(runs × connections) | verdict |")
    p("|---|---|---:|---:|---:|---:|---|")
    clicks_ok = True
    for server, how in (("mem-1k", "sum of /stats before exit"),
                        ("sql-1k", "SUM(click_count) after SIGTERM"),
                        ("sql-1m", "SUM(click_count) after SIGTERM"),
                        ("pg-1k", "SUM(click_count) after SIGTERM"),
                        ("pg-1m", "SUM(click_count) after SIGTERM (pg-1m and pg-1m-tier)"),
                        ("sql-1k-rq", "SUM(click_count) after SIGTERM (Redis queue; lag run included)")):
        if f"completed_{server}" not in facts:
            continue
        completed, stored = int(facts[f"completed_{server}"]), int(facts[f"clicks_{server}"])
        # wrk's runs may end with a request answered but not yet counted by wrk; the lag run's
        # client counts every answer.
        allowed = int(facts[f"runs_{server}"]) * int(conns)
        diff = stored - completed
        ok = 0 <= diff <= allowed
        clicks_ok &= ok
        p(f"| {server} | {how} | {completed:,} | {stored:,} | {diff:+,} | {allowed:,} | "
          f"{'ok' if ok else 'LOST' if diff < 0 else 'TOO MANY'} |")
    p("")

    queue_ok = True
    if "lag_p99_ms" in facts:
        p("### Click pipeline")
        p("")
        rq = m("redirect", "sql-1k-rq", "rps") / m("redirect", "sql-1k", "rps")
        p(f"Redirect on SQLite with `clicks.queue = \"redis\"` (sql-1k-rq, its own processor in "
          f"process): {m('redirect', 'sql-1k-rq', 'rps'):,.0f} req/s, **{rq:.2f}x** the memory "
          f"queue (sql-1k, {m('redirect', 'sql-1k', 'rps'):,.0f} req/s), CPU/req "
          f"{m('redirect', 'sql-1k-rq', 'cpu'):.2f} µs vs {m('redirect', 'sql-1k', 'cpu'):.2f} µs "
          "(the processor's work on the same core included; Redis's is not).")
        p("")
        p(f"End-to-end lag, redirect to its click in `/stats`, on sql-1k-rq while examples/seed.rs "
          f"sent redirects at {int(facts['lag_target_rate']):,}/s (half the measured rate; it "
          f"achieved {float(facts['load_per_second']):,.0f}/s): {facts['probes']} probes, p50 "
          f"{facts['lag_p50_ms']} ms, p99 **{facts['lag_p99_ms']} ms**, max {facts['lag_max_ms']} ms.")
        p("")
        p("| one `url-shortener worker` (server core) | events | seconds | events/s | stored | verdict |")
        p("|---|---:|---:|---:|---:|---|")
        rates = {}
        for name, label in (("worker-sqlite", "into SQLite, 1,000 links"),
                            ("worker-sqlite-1m", f"into SQLite, {large:,} links (each event "
                                                 "another link)"),
                            ("worker-redis", "into Redis, 1,000 links")):
            if f"worker_events_{name}" not in facts:
                continue
            events = int(facts[f"worker_events_{name}"])
            secs = float(facts[f"worker_seconds_{name}"])
            stored = int(facts[f"worker_stored_{name}"])
            rates[name] = events / secs
            exact = stored == events
            queue_ok &= exact
            p(f"| {label} | {events:,} | {secs:.2f} | {rates[name]:,.0f} | {stored:,} | "
              f"{'exact' if exact else 'NOT EXACT'} |")
        p("")
        lag99 = float(facts["lag_p99_ms"])
    if "health_per_second" in facts:
        p("### Link health")
        p("")
        p(f"One instance on SQLite checked {int(facts['health_checks']):,} new links spread over "
          f"{facts['health_hosts']} loopback fixture hosts in {facts['health_seconds']} s: "
          f"**{float(facts['health_per_second']):,.0f} checks/s** (the checker's defaults: "
          "concurrency 8, rounds of 64 leases, `HEAD` first; no politeness gap, since the "
          "fixtures are ours; each check is a lease, a read of the link, the request and a "
          "recorded result).")
        p("")
    if "old_bin" in facts:
        p("### Before and after (same run)")
        p("")
        p(f"Earlier build: `{facts['old_bin']}`.")
        p("")
        p("| store | earlier req/s | this req/s | ratio | earlier CPU/req | this CPU/req |")
        p("|---|---:|---:|---:|---:|---:|")
        for store, old, new in (("memory", "old-mem-1k", "mem-1k"), ("SQLite", "old-sql-1k", "sql-1k")):
            a, b = m("redirect", old, "rps"), m("redirect", new, "rps")
            p(f"| {store} | {a:,.0f} | {b:,.0f} | {b / a:.2f}x | {m('redirect', old, 'cpu'):.2f} µs | "
              f"{m('redirect', new, 'cpu'):.2f} µs |")
        p("")

    p("### Targets")
    p("")
    p("| target | figure | verdict |")
    p("|---|---|---|")
    for server, store in (("mem-1k", "memory"), ("sql-1k", "SQLite"),
                          ("u-mem-1k", "memory, unpinned"), ("u-sql-1k", "SQLite, unpinned")):
        if not by[("redirect", server)]:
            continue
        rps, cpu, p99 = ratio(server, "rps"), ratio(server, "cpu"), ratio(server, "p99")
        p(f"| redirect on {store}: req/s ≥ 0.9x baseline | {rps:.2f}x | {verdict(rps >= 0.9)} |")
        p(f"| redirect on {store}: CPU/req ≤ 1.25x baseline | {cpu:.2f}x | {verdict(cpu <= 1.25)} |")
        p(f"| redirect on {store}: p99 ≤ 1.5x baseline | {p99:.2f}x | {verdict(p99 <= 1.5)} |")
    for store in ("memory", "SQLite", "SQLite, Zipf-drawn codes"):
        p(f"| redirect on {store} with {large:,} links within 10% of 1,000 | "
          f"{scale[store]:.2f}x | {verdict(scale[store] >= 0.9)} |")
    p(f"| create on SQLite ≥ 10,000/s | {creates['sql-1k']:,.0f}/s | "
      f"{verdict(creates['sql-1k'] >= 10_000)} |")
    pg_rps, mem_rps = m("redirect", "pg-1k", "rps"), m("redirect", "mem-1k", "rps")
    p(f"| redirect on PostgreSQL (warm cache) within 10% of memory | "
      f"{pg_rps / mem_rps:.2f}x | {verdict(pg_rps / mem_rps >= 0.9)} |")
    p(f"| create on PostgreSQL ≥ 10,000/s | {creates['pg-1k']:,.0f}/s | "
      f"{verdict(creates['pg-1k'] >= 10_000)} |")
    p(f"| with the Redis tier, no database read for a cached code | {scans:,} scans | "
      f"{verdict(scans == 0)} |")
    p(f"| create on memory ≥ 30,000/s | {creates['mem-1k']:,.0f}/s | "
      f"{verdict(creates['mem-1k'] >= 30_000)} |")
    p(f"| memory store ≤ 300 B/link beyond the long URL | {beyond:.0f} B | {verdict(beyond <= 300)} |")
    p(f"| no lost clicks | see clicks table | {verdict(clicks_ok)} |")
    if "lag_p99_ms" in facts:
        p(f"| redirect with the Redis click queue ≥ 0.9x the memory queue | {rq:.2f}x | "
          f"{verdict(rq >= 0.9)} |")
        for name, label in (("worker-sqlite", "SQLite"), ("worker-sqlite-1m", f"SQLite, {large:,} links"),
                            ("worker-redis", "Redis")):
            if name not in rates:
                continue
            p(f"| one click processor on {label} ≥ 50,000 events/s | {rates[name]:,.0f}/s | "
              f"{verdict(rates[name] >= 50_000)} |")
        p(f"| click lag p99 ≤ 2 s at half the redirect rate | {lag99:,.0f} ms | "
          f"{verdict(lag99 <= 2000)} |")
        p(f"| processed clicks exact | see worker table | {verdict(queue_ok)} |")
    p("")
    logs = ", ".join(f"{s} {int(facts[f'log_bytes_{s}']) / 2**20:,.0f} MiB"
                     for s in ("mem-1k", "sql-1k", "mem-1m", "sql-1m", "pg-1k", "pg-1m",
                               "pg-1m-tier"))
    p(f"Service logs (level info, one line per request) written during the run: {logs}.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
