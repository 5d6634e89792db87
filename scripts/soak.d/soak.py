#!/usr/bin/env python3
"""A soak of the release binary on SQLite: a steady mixed load for a stated time, a table row a
minute (requests, p50/p99 latency, 5xx, RSS, open descriptors), and at the end the clicks
stored against the redirects answered. Everything runs on 127.x addresses; the load is bounded
in rate and time. See scripts/soak for the command."""

import argparse
import http.client
import http.server
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "soak's long passphrase"
# Links visitors follow; creates past this many are deleted again at once, and every login is
# logged out again, so that the stored data stays the same size and memory can stay flat.
POOL = 2_000
FIXTURE_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
# (action, weight): what a visitor, an owner and an operator do, in proportion.
MIX = [
    ("redirect", 70),
    ("stats", 7),
    ("analytics", 5),
    ("page", 8),
    ("create", 5),
    ("login", 2),
    ("check", 1),
    ("bad_login", 2),
]


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Fixture(http.server.BaseHTTPRequestHandler):
    """A destination for the link-health checker: answers by path."""

    def do_HEAD(self):
        self.answer()

    def do_GET(self):
        self.answer()

    def answer(self):
        status = 200
        if "/gone" in self.path:
            status = 404
        elif "/error" in self.path:
            status = 500
        elif "/moved" in self.path:
            status = 301
        self.send_response(status)
        if status == 301:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_fixtures(port):
    servers = []
    for host in FIXTURE_HOSTS:
        server = http.server.ThreadingHTTPServer((host, port), Fixture)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    return servers


class Client:
    """One keep-alive connection to the service."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                if response.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, payload, elapsed, response
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


class Stats:
    """Per-minute figures, shared by the workers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.redirect_latencies = []
        self.statuses = {}
        self.server_errors = []
        self.redirects = {}

    def record(self, action, status, elapsed, path):
        with self.lock:
            self.latencies.append(elapsed)
            if action == "redirect":
                self.redirect_latencies.append(elapsed)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500:
                self.server_errors.append(f"{action} {path} -> {status}")

    def redirected(self, code):
        with self.lock:
            self.redirects[code] = self.redirects.get(code, 0) + 1

    def take(self):
        with self.lock:
            taken = (self.latencies, self.redirect_latencies, self.statuses)
            self.latencies, self.redirect_latencies, self.statuses = [], [], {}
            return taken


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def memory(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class Sampler:
    """The service's RSS and open descriptors once a second: one reading a minute would catch
    password hashes (19 MiB each, a few at a time) at random moments."""

    def __init__(self, pid, stop):
        self.pid = pid
        self.stop = stop
        self.lock = threading.Lock()
        self.samples = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop.wait(1.0):
            reading = memory(self.pid)
            with self.lock:
                self.samples.append(reading)

    def take(self):
        with self.lock:
            taken, self.samples = self.samples, []
        return taken or [memory(self.pid)]


class World:
    """What the workers share: the links, the people and their credentials."""

    def __init__(self, port, fixture_port):
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.fixture_port = fixture_port
        self.codes = []
        self.owned = {}
        self.people = []
        self.lock = threading.Lock()

    def destination(self, n):
        host = FIXTURE_HOSTS[n % len(FIXTURE_HOSTS)]
        kind = ["ok", "ok", "ok", "moved", "gone", "error"][n % 6]
        return f"http://{host}:{self.fixture_port}/{kind}/{n}"

    def add(self, code, person):
        """Keeps `code` among the links visitors follow; `False` once there are enough of
        them (the caller deletes it again, so the stored data stays the same size)."""
        with self.lock:
            if len(self.codes) < POOL:
                self.codes.append(code)
                self.owned[code] = person
                return True
            return False

    def pick(self):
        with self.lock:
            return random.choice(self.codes)


def login(client, name, password):
    status, _, _, response = client.request(
        "POST", "/api/session", {"username": name, "password": password}
    )
    cookie = response.getheader("set-cookie", "").split(";")[0]
    return status, cookie


def setup(world, binary, workdir):
    """Five users with a session and a key each, and 1,000 links spread over them."""
    client = Client(world.port)
    admin_status, admin = login(client, "root", PASSWORD)
    assert admin_status == 200, admin_status
    browser = {"Cookie": admin, "Origin": world.origin}
    for i in range(5):
        name = f"soaker{i}"
        status, body, _, _ = client.request(
            "POST", "/api/users", {"username": name, "password": PASSWORD}, browser
        )
        assert status == 201, (status, body)
        status, cookie = login(client, name, PASSWORD)
        assert status == 200
        headers = {"Cookie": cookie, "Origin": world.origin}
        status, body, _, _ = client.request("POST", "/api/keys", {"name": "soak"}, headers)
        assert status == 201, (status, body)
        key = json.loads(body)["secret"]
        world.people.append({"name": name, "cookie": cookie, "key": key})
    for n in range(1_000):
        person = world.people[n % len(world.people)]
        status, body, _, _ = client.request(
            "POST",
            "/shorten",
            {"long_url": world.destination(n)},
            {"Authorization": f"Bearer {person['key']}"},
        )
        assert status == 201, (status, body)
        world.add(json.loads(body)["short_code"], person)


def worker(world, stats, stop, rate, seed):
    random.seed(seed)
    client = Client(world.port)
    actions = [a for a, w in MIX for _ in range(w)]
    interval = 1.0 / rate
    next_at = time.perf_counter()
    n = 0
    while not stop.is_set():
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        action = random.choice(actions)
        code = world.pick()
        person = random.choice(world.people)
        browser = {"Cookie": person["cookie"], "Origin": world.origin}
        if action == "redirect":
            path = f"/s/{code}"
            status, _, elapsed, _ = client.request("GET", path)
            if status == 302:
                stats.redirected(code)
        elif action == "stats":
            path = f"/stats/{code}"
            status, _, elapsed, _ = client.request("GET", path)
        elif action == "analytics":
            path = random.choice(
                [f"/stats/{code}/timeseries?interval=hour", f"/stats/{code}/breakdown"]
            )
            status, _, elapsed, _ = client.request("GET", path)
        elif action == "page":
            owner = world.owned.get(code, person)
            path = random.choice(["/", "/links", "/account", "/keys", f"/links/{code}"])
            cookie = owner["cookie"] if path.startswith("/links/") else person["cookie"]
            status, _, elapsed, _ = client.request("GET", path, headers={"Cookie": cookie})
        elif action == "create":
            n += 1
            path = "/shorten"
            status, body, elapsed, _ = client.request(
                "POST",
                path,
                {"long_url": world.destination(seed * 1_000_000 + n)},
                {"Authorization": f"Bearer {person['key']}"},
            )
            if status == 201:
                code = json.loads(body)["short_code"]
                if not world.add(code, person):
                    gone, _, took, _ = client.request(
                        "DELETE",
                        f"/api/links/{code}",
                        headers={"Authorization": f"Bearer {person['key']}"},
                    )
                    stats.record("delete", gone, took, "/api/links/{code}")
        elif action == "login":
            path = "/api/session"
            status, _, elapsed, response = client.request(
                "POST", path, {"username": person["name"], "password": PASSWORD}
            )
            cookie = response.getheader("set-cookie", "").split(";")[0]
            if status == 200 and cookie:
                ended, _, took, _ = client.request(
                    "DELETE", path, headers={"Cookie": cookie, "Origin": world.origin}
                )
                stats.record("logout", ended, took, path)
        elif action == "bad_login":
            path = "/api/session"
            status, _, elapsed, _ = client.request(
                "POST", path, {"username": person["name"], "password": "not the password"}
            )
        else:  # check
            owner = world.owned.get(code, person)
            path = f"/api/links/{code}/check"
            status, _, elapsed, _ = client.request(
                "POST", path, headers={"Cookie": owner["cookie"], "Origin": world.origin}
            )
        stats.record(action, status, elapsed, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=int, default=200, help="requests per second in all")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="url-shortener-soak.")
    port = free_port()
    fixture_port = free_port()
    fixtures = start_fixtures(fixture_port)
    env = dict(
        os.environ,
        URL_SHORTENER__SERVER__LISTEN=f"127.0.0.1:{port}",
        URL_SHORTENER__SERVER__BASE_URL=f"http://127.0.0.1:{port}",
        URL_SHORTENER__RATE_LIMIT__ENABLED="false",
        URL_SHORTENER__SECURITY__ALLOW_PRIVATE_DESTINATIONS="true",
        URL_SHORTENER__LINK_HEALTH__FIRST_CHECK_AFTER_SECONDS="5",
        URL_SHORTENER__LINK_HEALTH__MIN_HOST_INTERVAL_MS="50",
        URL_SHORTENER__LINK_HEALTH__INTERVAL_HOURS="1",
        URL_SHORTENER__LOG__LEVEL="warn",
    )
    subprocess.run(
        [args.binary, "user", "create", "root", "--admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
        text=True,
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    log = open(os.path.join(workdir, "service.log"), "w")
    server = subprocess.Popen([args.binary], cwd=workdir, env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("soak: the service did not start; see " + log.name)
                time.sleep(0.1)
        world = World(port, fixture_port)
        setup(world, args.binary, workdir)
        print(
            f"soak: {args.binary} on SQLite in {workdir}, {args.rate} req/s from "
            f"{args.workers} workers for {args.minutes:g} min "
            f"(mix: {', '.join(f'{a} {w}%' for a, w in MIX)}; creates past {POOL:,} links "
            f"are deleted again and logins logged out, so the data stays the same size)",
            flush=True,
        )
        print("| minute | requests | req/s | p50 ms | p99 ms | redirect p99 ms | 5xx | RSS MiB median | RSS MiB max | fds max |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
        stats = Stats()
        stop = threading.Event()
        sampler = Sampler(server.pid, stop)
        threads = [
            threading.Thread(
                target=worker,
                args=(world, stats, stop, args.rate / args.workers, i + 1),
                daemon=True,
            )
            for i in range(args.workers)
        ]
        for t in threads:
            t.start()
        rows = []
        started = time.time()
        minute = 0
        while time.time() - started < args.minutes * 60:
            time.sleep(min(60, args.minutes * 60 - (time.time() - started)))
            minute += 1
            latencies, redirect_latencies, statuses = stats.take()
            samples = sampler.take()
            rss = statistics.median(s[0] for s in samples)
            rss_max = max(s[0] for s in samples)
            fds = max(s[1] for s in samples)
            errors = sum(n for s, n in statuses.items() if s >= 500)
            row = (
                minute,
                len(latencies),
                len(latencies) / 60,
                percentile(latencies, 0.5) * 1000,
                percentile(latencies, 0.99) * 1000,
                percentile(redirect_latencies, 0.99) * 1000,
                errors,
                rss,
                rss_max,
                fds,
            )
            rows.append(row)
            print(
                "| {} | {} | {:.0f} | {:.1f} | {:.1f} | {:.1f} | {} | {:.0f} | {} | {} |".format(*row),
                flush=True,
            )
        stop.set()
        for t in threads:
            t.join()
        # Clicks reach storage within the flush interval; read them after two.
        time.sleep(3)
        client = Client(port)
        stored = 0
        for code in list(stats.redirects):
            status, body, _, _ = client.request("GET", f"/stats/{code}")
            assert status == 200, (code, status)
            stored += json.loads(body)["click_count"]
        answered = sum(stats.redirects.values())
        warm = rows[2:] if len(rows) > 3 else rows
        rss_values = [r[7] for r in warm]
        rss_peaks = [r[8] for r in warm]
        fd_values = [r[9] for r in warm]
        total_errors = sum(r[6] for r in rows)
        print()
        print(f"redirects answered 302: {answered}; clicks stored: {stored} "
              f"({'equal' if stored == answered else 'DIFFERENT'})")
        print(f"5xx answers: {total_errors}" + (f" (first: {stats.server_errors[:5]})" if total_errors else ""))
        if warm:
            print(f"after warm-up (minute {warm[0][0]} on): median RSS {min(rss_values):.0f}-{max(rss_values):.0f} MiB "
                  f"(first {rss_values[0]:.0f}, last {rss_values[-1]:.0f}), peak RSS {max(rss_peaks)} MiB, "
                  f"descriptors {min(fd_values)}-{max(fd_values)}, "
                  f"p99 median {statistics.median(r[4] for r in warm):.1f} ms")
        ok = stored == answered and total_errors == 0
        sys.exit(0 if ok else 1)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        for fixture in fixtures:
            fixture.shutdown()


if __name__ == "__main__":
    main()
