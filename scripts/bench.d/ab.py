#!/usr/bin/env python3
"""A quick before/after of release binaries, for iterating on the redirect between full
scripts/bench runs (which remain the figures of record).

    scripts/bench.d/ab.py MODE ROUNDS SECONDS BIN[@K=V+K=V][,BIN...] [SERVER...]

MODE: pinned (every server on CPU 0, wrk on CPU 1) or unpinned (both on CPUs 0 and 1).
SERVER: base (examples/baseline), mem-1k, sql-1k, sql-1m, sql-1m-zipf, mem-1k-root or
sql-1k-root (GET /{code} instead of /s/{code}), and mem-1k-rules or sql-1k-rules (links with
five redirect rules, none matching; seeded beside the plain ones) (default: base mem-1k
sql-1k); each BIN gets
one server of each kind, with the settings after `@` (joined by `+`)
and XENV="K=V ..." for all. Rounds run wrk (1 thread, 50 connections) against every server in
turn, so drift hits all of them alike; prints each run and the medians, as ratios to the
baseline. Needs the examples built (cargo build --release --examples) and wrk. The 1,000,000-
link SQLite file is made once (seed sqlite-fill) and copied for each server. Nothing checks
that the machine is otherwise idle: run it alone.
"""
import os, sys, subprocess, time, socket, statistics, shutil, re, tempfile
mode, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bins = sys.argv[4].split(',')
servers = sys.argv[5:] or ['base', 'mem-1k', 'sql-1k']
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T = os.path.join(os.path.abspath(os.environ.get('CARGO_TARGET_DIR', os.path.join(ROOT, 'target'))), 'release')
work = tempfile.mkdtemp(prefix='quick-')
tck = os.sysconf('SC_CLK_TCK')
scpu = '0' if mode == 'pinned' else '0,1'
wcpu = '1' if mode == 'pinned' else '0,1'
def port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
def ticks(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return int(f[11]) + int(f[12])
def wait(p, want):
    for _ in range(300):
        r = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', f'http://127.0.0.1:{p}/health/live'], capture_output=True, text=True).stdout
        if r == want: return
        time.sleep(0.1)
    raise SystemExit(f'port {p} not ready')
env0 = {k: v for k, v in os.environ.items() if not k.startswith('URL_SHORTENER')}
lim = {f'URL_SHORTENER__RATE_LIMIT__{k}': '6000000' for k in 'CREATES_PER_MINUTE CREATE_BURST REDIRECTS_PER_MINUTE REDIRECT_BURST NOT_FOUND_PER_MINUTE NOT_FOUND_BURST'.split()}
xenv = dict(kv.split('=', 1) for kv in os.environ.get('XENV', '').split())
procs = []
def start(binp, backend, db=None):
    p = port()
    binp, _, extra = binp.partition('@')
    bx = dict(kv.split('=', 1) for kv in extra.split('+') if kv)
    env = dict(env0, **lim, URL_SHORTENER__SERVER__LISTEN=f'127.0.0.1:{p}', URL_SHORTENER__STORAGE__BACKEND=backend, URL_SHORTENER__LINK_HEALTH__ENABLED='false', **xenv, **bx)
    if db: env['URL_SHORTENER__STORAGE__SQLITE__PATH'] = db
    pr = subprocess.Popen(['nice', '-n', '-20', 'taskset', '-c', scpu, binp], env=env, cwd=work, stdout=open(f'{work}/{len(procs)}.log', 'w'), stderr=subprocess.STDOUT)
    procs.append(pr); wait(p, '200'); return pr, p
def seed(*a):
    out = subprocess.run(['taskset', '-c', '1', f'{T}/examples/seed', *map(str, a)], capture_output=True, text=True)
    if out.returncode: raise SystemExit(out.stderr)
BIG = os.path.join(os.path.dirname(T), 'ab-sql-1m.db')
targets = []  # (label, pid, port, links)
try:
    for server in servers:
        if server == 'base':
            p = port()
            pr = subprocess.Popen(['nice', '-n', '-20', 'taskset', '-c', scpu, f'{T}/examples/baseline', f'127.0.0.1:{p}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(pr); wait(p, '302'); targets.append(('base', 'base', pr.pid, p, ['1000'])); continue
        for b in bins:
            name = (os.path.basename(b.split('@')[0])[-8:] + ('@' + b.split('@')[1][-14:] if '@' in b else ''))
            kind = server.removesuffix('-root').removesuffix('-rules')
            if kind == 'mem-1k':
                pr, p = start(b, 'memory'); seed('create', f'127.0.0.1:{p}', 0, 1000, 64); args = ['1000']
                if server.endswith('-rules'):
                    seed('create-ruled', f'127.0.0.1:{p}', 0, 1000, 64); args += ['ruled']
            elif kind == 'sql-1k':
                db = f'{work}/{len(procs)}/db.sqlite'; pr, p = start(b, 'sqlite', db); seed('create', f'127.0.0.1:{p}', 0, 1000, 64); args = ['1000']
                if server.endswith('-rules'):
                    seed('create-ruled', f'127.0.0.1:{p}', 0, 1000, 64); args += ['ruled']
            elif server.startswith('sql-1m'):
                if not os.path.exists(BIG):
                    db = f'{work}/mk/db.sqlite'; pr, p = start(b, 'sqlite', db); pr.terminate(); pr.wait()
                    seed('sqlite-fill', db, 0, 1000000, int(time.time() * 1000)); shutil.copy(db, BIG)
                db = f'{work}/{len(procs)}/db.sqlite'; os.makedirs(os.path.dirname(db)); shutil.copy(BIG, db)
                pr, p = start(b, 'sqlite', db); args = ['1000000'] + (['zipf'] if server.endswith('zipf') else [])
            if server.endswith('-root'):
                args = args + ['root']
            targets.append((server, name, pr.pid, p, args))
    # warmup
    for t in targets:
        subprocess.run(['taskset', '-c', wcpu, 'wrk', '-t1', '-c50', '-d2s', '-s', f'{ROOT}/scripts/bench.d/redirect.lua', f'http://127.0.0.1:{t[3]}', '--', *t[4]], capture_output=True)
    res = {}
    for r in range(rounds):
        for t in targets:
            c0 = ticks(t[2])
            out = subprocess.run(['nice', '-n', '-20', 'taskset', '-c', wcpu, 'wrk', '-t1', '-c50', f'-d{secs}s', '--timeout', '5s', '-s', f'{ROOT}/scripts/bench.d/redirect.lua', f'http://127.0.0.1:{t[3]}', '--', *t[4]], capture_output=True, text=True).stdout
            c1 = ticks(t[2])
            line = [l for l in out.splitlines() if l.startswith('BENCH ')][0]
            f = dict(kv.split('=') for kv in line.split()[1:])
            req = int(f['requests']); rps = req / (int(f['duration_us']) / 1e6)
            cpu = (c1 - c0) / tck * 1e6 / req
            res.setdefault((t[0], t[1]), []).append((rps, cpu, int(f['p99_us'])))
            print(f'r{r} {t[0]:12} {t[1]:12} {rps:9.0f} req/s {cpu:6.2f} us/req p99 {f["p99_us"]}', flush=True)
    print('--- medians')
    base = res.get(('base', 'base'))
    for k, v in res.items():
        rps = statistics.median(x[0] for x in v); cpu = statistics.median(x[1] for x in v)
        rel = f'  {rps / statistics.median(x[0] for x in base):.2f}x / {cpu / statistics.median(x[1] for x in base):.2f}x' if base else ''
        print(f'{k[0]:12} {k[1]:12} {rps:9.0f} req/s {cpu:6.2f} us/req{rel}')
finally:
    for pr in procs:
        pr.terminate()
    for pr in procs:
        try: pr.wait(30)
        except Exception: pr.kill()
    shutil.rmtree(work, ignore_errors=True)
