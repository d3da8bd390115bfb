"""Fault runs: the load of bench/load.py while something the portal depends
on goes away, with figures on what people saw and what was kept.

    python bench/faults.py postgres              # PostgreSQL restarted mid-run
    python bench/faults.py redis                 # Redis stopped mid-run
    python bench/faults.py postgres --users 100 --duration 120 --fault-at 40 --down 10

postgres: the throwaway PostgreSQL is stopped at --fault-at seconds with
`pg_ctl -m immediate` (a crash: connections cut, no checkpoint) and started
again --down seconds later. Reported: the failed requests (5xx, which must be
the GOV.UK 503 page, or no reply) and when they happened relative to the
outage, how soon after the database was back requests succeeded again, and
lost writes (every acknowledged save is read back, as in bench/load.py).
The same gunicorn serves throughout: recovery needs no restart.

redis: gunicorn and a `flask worker` run with REDIS_URL on a redis-server
started here; providers also ask for a password reset now and then (an email
job each). Redis is stopped at --fault-at and started again --down seconds
later, with what it had written to its append-only file. Reported: the
failed requests (there should be none: the web does not need Redis), the jobs
kept in the database meanwhile, and, after `flask requeue-deferred` and the
worker have run, any acknowledged reset whose email never arrived (lost).
"""
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (bench/load.py, beside this file)

# Each simulated provider asks for a password reset on this share of its clicks.
RESET_SHARE = 0.15


def forgot_password(person: "load.Person") -> None:
    """A password reset for the person's own account: an email job."""
    page = person.request("forgot_password_form", "GET", "/forgot-password")
    token = load._token(page.text, "csrf_token") if page is not None else None
    started = time.time()
    r = person.request("forgot_password", "POST", "/forgot-password",
                       data={"csrf_token": token, "email": person.profile["email"]})
    acknowledged = r is not None and r.status_code == 200 and "Check your email" in r.text
    with person.lock:
        person.outcome.saves.append(load.Save(-1, {"reset_for": person.profile["email"]},
                                              acknowledged, started))


load.EXTRA_ACTIONS["forgot_password"] = forgot_password


def arguments():
    parser = load.arguments(__doc__)
    parser.add_argument("fault", choices=("postgres", "redis"))
    parser.add_argument("--fault-at", type=float, default=None,
                        help="seconds into the run (default: a third of --duration)")
    parser.add_argument("--down", type=float, default=10, help="seconds it stays down (10)")
    parser.set_defaults(users=100, duration=120)
    return parser


def run_with_fault(args, setup, server, fault) -> tuple:
    """Drive the load in a thread; `fault()` runs at --fault-at and returns
    (down_at, back_at) epoch times."""
    result = {}

    def driver():
        result["outcome"] = load.drive(
            server.base, setup.people, users=args.users, duration=args.duration,
            ramp_up=args.ramp_up, think_min=args.think_min, think_max=args.think_max,
            processes=args.processes,
            extra_action=({"name": "forgot_password", "probability": RESET_SHARE}
                          if args.fault == "redis" else None))
    thread = threading.Thread(target=driver)
    started = time.time()
    thread.start()
    fault_at = args.fault_at if args.fault_at is not None else args.duration / 3
    time.sleep(max(0.0, started + 2 + fault_at - time.time()))
    times = fault()
    thread.join()
    return result["outcome"], times


def failure_report(outcome, down_at: float, back_at: float) -> dict:
    samples = outcome.samples
    failed = [s for s in samples if s.status >= 500 or s.status == 0]
    ok_after = sorted(s.started + s.seconds for s in samples
                      if s.started >= back_at and 200 <= s.status < 400)
    return {
        "failed": len(failed),
        "failed_503": sum(1 for s in failed if s.status == 503),
        "failed_other_5xx": sum(1 for s in failed if s.status >= 500 and s.status != 503),
        "no_reply": sum(1 for s in failed if s.status == 0),
        "failed_outside_outage": sum(1 for s in failed
                                     if s.started + s.seconds < down_at
                                     or s.started > back_at + 1),
        "first_failure_after_down_s": (min(s.started + s.seconds for s in failed) - down_at
                                       if failed else None),
        "last_failure_after_back_s": (max(s.started + s.seconds for s in failed) - back_at
                                      if failed else None),
        "first_success_after_back_s": ok_after[0] - back_at if ok_after else None,
        "outage_s": back_at - down_at,
    }


def print_problems(outcome, limit: int = 10) -> None:
    no_reply = [p for p in outcome.problems if "HTTP" not in p]
    for problem in no_reply[:limit]:
        print(f"  no reply: {problem}")


def print_fault(report: dict) -> None:
    print(f"  outage: {report['outage_s']:.1f} s; failed requests: {report['failed']} "
          f"(503 page {report['failed_503']}, other 5xx {report['failed_other_5xx']}, "
          f"no reply {report['no_reply']}); outside the outage: "
          f"{report['failed_outside_outage']}")
    if report["last_failure_after_back_s"] is not None:
        print(f"  last failure ended {report['last_failure_after_back_s']:.2f} s after the "
              "service was back")
    if report["first_success_after_back_s"] is not None:
        print(f"  first success after it was back: "
              f"{report['first_success_after_back_s']:.2f} s")


# ------------------------------------------------------------------ PostgreSQL

def postgres_fault(args) -> int:
    if args.database_url:
        raise SystemExit("The postgres fault needs the throwaway server: drop --database-url")
    setup = load.set_up(args, DATABASE_CONNECT_TIMEOUT="2")
    server = None
    try:
        server = load.Gunicorn(setup.env, workers=args.workers, threads=args.threads,
                               log_path=setup.workdir / "gunicorn.log")
        server.wait_ready()
        load.log(f"{args.users} people for {args.duration:.0f} s; PostgreSQL goes down for "
                 f"{args.down:.0f} s")

        def restart():
            down_at = time.time()
            setup.postgres.stop("immediate")
            load.log("PostgreSQL stopped (immediate)")
            time.sleep(args.down)
            setup.postgres.start()
            back_at = time.time()
            load.log(f"PostgreSQL started again after {back_at - down_at:.1f} s")
            return down_at, back_at

        outcome, (down_at, back_at) = run_with_fault(args, setup, server, restart)
        writes = load.lost_writes(setup.database_url, outcome.saves)
        summary = load.summarise(outcome)
        report = failure_report(outcome, down_at, back_at)
        load.print_summary(summary, writes, f"PostgreSQL restarted mid-run: {args.users} "
                                            f"people, {args.duration:.0f} s")
        print_fault(report)
        print_problems(outcome)
        bad = (writes["lost"] or report["failed_other_5xx"] or report["failed_outside_outage"])
        return 1 if bad else 0
    finally:
        if server is not None:
            server.stop()
        load.tear_down(setup, args.keep)


# ------------------------------------------------------------------ Redis

class RedisServer:
    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = load.free_port()
        self.workdir = workdir
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from redis import Redis
        self.proc = subprocess.Popen(
            # Append-only file, synced on every write, as production should run it:
            # jobs already queued in Redis survive its restart. (What this portal
            # adds is for the jobs Redis could not take while it was down.)
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        client = Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        for _ in range(500):
            try:
                client.ping()
                return
            except Exception:
                time.sleep(0.02)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen([*load.FLASK, "worker"], cwd=load.ROOT, env=env,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def deferred_count(database_url: str) -> int:
    import sqlalchemy as sa
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM deferred_jobs")).scalar()
    engine.dispose()
    return n


def emails_to(database_url: str) -> dict[str, int]:
    import sqlalchemy as sa
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT \"to\", count(*) FROM outbox_emails WHERE template = 'reset_password' "
            "GROUP BY \"to\"")).all()
    engine.dispose()
    return {to: n for to, n in rows}


def redis_fault(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="portal-redis."))
    redis_server = RedisServer(workdir)
    redis_server.start()
    setup = load.set_up(args, REDIS_URL=redis_server.url, REDIS_SOCKET_TIMEOUT="2")
    server = worker = None
    try:
        worker = start_worker(setup.env, setup.workdir / "worker.log")
        server = load.Gunicorn(setup.env, workers=args.workers, threads=args.threads,
                               log_path=setup.workdir / "gunicorn.log")
        server.wait_ready()
        load.log(f"{args.users} people for {args.duration:.0f} s with a worker; Redis goes "
                 f"down for {args.down:.0f} s")
        peak_deferred = {"n": 0}

        def outage():
            down_at = time.time()
            redis_server.stop()
            load.log("Redis stopped")
            deadline = down_at + args.down
            while time.time() < deadline:
                peak_deferred["n"] = max(peak_deferred["n"], deferred_count(setup.database_url))
                time.sleep(1)
            redis_server.start()
            back_at = time.time()
            load.log(f"Redis started again after {back_at - down_at:.1f} s; "
                     f"{peak_deferred['n']} jobs kept in the database meanwhile")
            return down_at, back_at

        outcome, (down_at, back_at) = run_with_fault(args, setup, server, outage)
        # What an operator does once Redis is back: cron's requeue-deferred (a
        # worker that restarts does the same when it starts).
        deferred_at_end = deferred_count(setup.database_url)
        requeued = load.flask_command(setup.env, "requeue-deferred").strip()
        load.log(f"{deferred_at_end} jobs waiting at the end of the run; requeue-deferred: "
                 f"{requeued}")
        if worker.poll() is not None:
            load.log(f"the worker had stopped (exit {worker.returncode}): starting another")
            worker = start_worker(setup.env, setup.workdir / "worker.log")
        resets = [s for s in outcome.saves if s.application == -1]
        acknowledged = [s.answers["reset_for"] for s in resets if s.acknowledged]
        expected: dict[str, int] = {}
        for address in acknowledged:
            expected[address] = expected.get(address, 0) + 1
        deadline = time.time() + 120
        while True:
            delivered = emails_to(setup.database_url)
            missing = {a: n - delivered.get(a, 0) for a, n in expected.items()
                       if delivered.get(a, 0) < n}
            if not missing or time.time() > deadline:
                break
            time.sleep(2)
        pages = [s for s in outcome.samples if s.action != "forgot_password"]
        summary = load.summarise(outcome)
        writes = load.lost_writes(setup.database_url,
                                  [s for s in outcome.saves if s.application != -1])
        report = failure_report(outcome, down_at, back_at)
        load.print_summary(summary, writes, f"Redis stopped mid-run: {args.users} people, "
                                            f"{args.duration:.0f} s")
        print_fault(report)
        print_problems(outcome)
        during = [s for s in resets if down_at <= s.started <= back_at]
        print(f"  password resets asked: {len(resets)} ({len(during)} during the outage), "
              f"acknowledged {len(acknowledged)}; jobs kept in the database at the peak: "
              f"{peak_deferred['n']}; emails never delivered: {sum(missing.values())}")
        print(f"  page requests during the outage: "
              f"{sum(1 for s in pages if down_at <= s.started <= back_at)}")
        bad = report["failed"] or missing or writes["lost"]
        return 1 if bad else 0
    finally:
        if server is not None:
            server.stop()
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        redis_server.stop()
        load.tear_down(setup, args.keep)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    args = arguments().parse_args()
    return postgres_fault(args) if args.fault == "postgres" else redis_fault(args)


if __name__ == "__main__":
    sys.exit(main())
