"""Drive the portal's key pages under gunicorn and print latency, throughput
and SQL statements per request, beside a bare Flask "hello" served the same way.

    python bench/benchmark.py --database-url sqlite:////tmp/bench-sqlite/portal.db
    python bench/benchmark.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Against an existing database (fill it with `flask --app wsgi bench-data`). It
adds (or resets) one bench user per role, password BENCH_PASSWORD, then starts
gunicorn on a free loopback port, signs in, and runs each page for --duration
seconds with --concurrency client processes (processes, not threads, so the
clients' own Python does not serialise on one GIL). Finally it checks the
memory a 100 MB upload costs: the peak resident size of a fresh single gunicorn
worker before and after a real multipart POST to the evidence upload, and
tracemalloc's peak around LocalStorage.save streaming 100 MB.
Every gunicorn it started is stopped at the end, also on error or Ctrl-C.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
BENCH_PASSWORD = "bench portal password 2026"
BENCH_SECRET_KEY = "bench-secret-key-not-for-production"
BENCH_DOMAIN = "bench.invalid"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
MB = 1024 * 1024


# ------------------------------------------------------------------ set-up in the app

def prepare(database_url: str) -> dict:
    """Pick the records the pages show and make one bench user per role."""
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from app import create_app
    from app.domain.states import ApplicationStatus, Role
    from app.extensions import db
    from app.models import Application, ApplicationLot, Setting, User, utcnow
    from app.models.evaluation import LotEvaluation
    from app.models.contract import AccessAgreement
    from app.domain import second_factor
    from app.domain.states import FeeReviewStatus
    from app.models import FeeReviewRound

    app = create_app()
    with app.app_context():
        ses = db.session
        today = date.today()

        def one(query):
            return ses.execute(query.limit(1)).first()

        draft = one(sa.select(Application.id, Application.provider_id)
                    .where(Application.status == ApplicationStatus.DRAFT)
                    .order_by(Application.id))
        if draft is None:
            draft = one(sa.select(Application.id, Application.provider_id).order_by(Application.id))
        # Evaluation pages exist once a lot's evaluation has started.
        evaluated = ses.execute(
            sa.select(ApplicationLot.application_id, ApplicationLot.lot_id)
            .join(Application, Application.id == ApplicationLot.application_id)
            .join(LotEvaluation, LotEvaluation.application_lot_id == ApplicationLot.id)
            .where(Application.status.in_([ApplicationStatus.IN_EVALUATION,
                                           ApplicationStatus.SUBMITTED]))
            .order_by(Application.status, ApplicationLot.application_id)  # in_evaluation first
            .limit(10)).all()
        submitted_lot = ses.execute(
            sa.select(ApplicationLot.lot_id, sa.func.count())
            .join(Application, Application.id == ApplicationLot.application_id)
            .where(Application.status == ApplicationStatus.SUBMITTED)
            .group_by(ApplicationLot.lot_id).order_by(sa.func.count().desc()).limit(1)).first()
        agreement = one(sa.select(AccessAgreement.authority_id, AccessAgreement.lot_id)
                        .where(AccessAgreement.starts_on <= today,
                               AccessAgreement.ends_on >= today)
                        .order_by(AccessAgreement.authority_id, AccessAgreement.lot_id))
        outcode = one(sa.select(Setting.outcode, sa.func.count()).group_by(Setting.outcode)
                      .order_by(sa.func.count().desc()))
        if draft is None or agreement is None or outcode is None:
            raise SystemExit("The database lacks applications, access agreements or settings: "
                             "load bench-data (or demo-data) first.")

        fee_round = ses.execute(
            sa.select(FeeReviewRound.id).where(FeeReviewRound.status == FeeReviewStatus.OPEN)
            .order_by(FeeReviewRound.id.desc()).limit(1)).scalar()
        users = {}
        for role, provider_id, authority_id in (
                (Role.PROVIDER_ADMIN, draft.provider_id, None),
                (Role.EVALUATOR, None, None), (Role.MANAGER, None, None),
                (Role.MEMBER_OFFICER, None, agreement.authority_id)):
            email = f"bench-{role.value.replace('_', '-')}@{BENCH_DOMAIN}"
            user = ses.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
            if user is None:
                user = User(email=email, full_name=f"Bench {role.label}", role=role)
                ses.add(user)
            user.role, user.provider_id, user.authority_id = role, provider_id, authority_id
            user.email_confirmed_at = user.email_confirmed_at or utcnow()
            user.is_active_account = True
            user.set_password(BENCH_PASSWORD)
            if role.is_staff:
                # Staff sign in with a second factor: a secret the bench can
                # compute (as the demo accounts do in development).
                second_factor.set_up_demo(user, BENCH_SECRET_KEY)
            users[role.value] = email
        ses.commit()

        counts = {}
        for table in db.metadata.sorted_tables:
            counts[table.name] = ses.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        return {
            "users": users, "draft_application": draft.id,
            "evaluations": [(r.application_id, r.lot_id) for r in evaluated],
            "queue_lot": submitted_lot.lot_id if submitted_lot else agreement.lot_id,
            "directory_lot": agreement.lot_id, "outcode": outcode.outcode,
            "fee_round": fee_round,
            "row_counts": counts,
        }


# ------------------------------------------------------------------ gunicorn

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn in its own process group, stopped with the group."""

    def __init__(self, target: str, env: dict, *, workers: int, threads: int, chdir: Path,
                 log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [GUNICORN, "-w", str(workers), "-k", "gthread", "--threads", str(threads),
             "-b", f"127.0.0.1:{self.port}", "--chdir", str(chdir), "--timeout", "120",
             target],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str = "/", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log.name}")
            try:
                requests.get(self.base + path, timeout=10, allow_redirects=False)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()


def portal_env(args, instance_dir: str, **extra) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=args.database_url, PORTAL_ENV="development",
               SECRET_KEY=BENCH_SECRET_KEY, QUERY_COUNT_HEADER="1",
               PORTAL_INSTANCE_DIR=instance_dir,
               # Every client comes from 127.0.0.1: the per-address sign-in
               # limit is for the internet, not for this loopback run.
               RATE_LIMITS_ENABLED="0")
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


# ------------------------------------------------------------------ clients

def sign_in(base: str, email: str) -> dict:
    session = requests.Session()
    page = session.get(base + "/sign-in", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("no csrf_token on /sign-in")
    done = session.post(base + "/sign-in", data={
        "csrf_token": token.group(1), "email": email, "password": BENCH_PASSWORD},
        allow_redirects=False, timeout=30)
    if done.status_code != 303:
        raise RuntimeError(f"sign-in as {email} failed: {done.status_code}")
    if "/sign-in/second-factor" in done.headers.get("Location", ""):
        sys.path.insert(0, str(ROOT))
        from app.domain import second_factor
        page = session.get(base + "/sign-in/second-factor", timeout=30)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        code = second_factor.current_code(second_factor.demo_secret(BENCH_SECRET_KEY, email))
        done = session.post(base + "/sign-in/second-factor", data={
            "csrf_token": token.group(1), "code": code}, allow_redirects=False, timeout=30)
        if done.status_code != 303:
            raise RuntimeError(f"second factor for {email} failed: {done.status_code}")
    return session.cookies.get_dict()


def _client(url: str, cookies: dict, seconds: float, warmup: int) -> list[tuple]:
    """One client: GET the url back to back until the time is up, reading the
    whole body (a CSV export is streamed). Returns (seconds, status, queries)."""
    session = requests.Session()
    session.cookies.update(cookies)
    out = []
    for _ in range(warmup):
        session.get(url, allow_redirects=False).content
    deadline = time.perf_counter() + seconds
    while (start := time.perf_counter()) < deadline:
        response = session.get(url, allow_redirects=False, stream=True)
        for _chunk in response.iter_content(65536):
            pass
        elapsed = time.perf_counter() - start
        out.append((elapsed, response.status_code, response.headers.get("X-Query-Count")))
    return out


def drive(pool, url: str, cookies: dict, seconds: float, concurrency: int) -> dict:
    start = time.perf_counter()
    futures = [pool.submit(_client, url, cookies, seconds, 2) for _ in range(concurrency)]
    samples = [s for f in futures for s in f.result()]
    wall = time.perf_counter() - start
    latencies = sorted(s[0] * 1000 for s in samples)
    queries = [int(s[2]) for s in samples if s[2] is not None]
    errors = sum(1 for s in samples if s[1] >= 400)
    statuses = sorted({s[1] for s in samples})

    def pct(p):
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]
    return {"requests": len(samples), "p50_ms": pct(50), "p95_ms": pct(95),
            "rps": len(samples) / seconds, "wall_s": wall, "errors": errors,
            "statuses": statuses,
            "queries": (min(queries), max(queries)) if queries else None,
            "queries_median": statistics.median(queries) if queries else None}


# ------------------------------------------------------------------ memory

def _hwm_kb(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _pdf_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")
        block = b"% bench padding " * 4096
        while f.tell() < size - len(block):
            f.write(block)
        f.write(b"\n" * (size - f.tell() - 6) + b"%%EOF\n")


def upload_memory(args, instance_dir: str, users: dict, workdir: Path) -> dict:
    """A real 100 MB multipart POST to the evidence upload, on a fresh
    one-worker gunicorn: its worker's peak resident size before and after."""
    size = args.upload_mb * MB
    pdf = workdir / "upload.pdf"
    _pdf_file(pdf, size)
    env = portal_env(args, instance_dir, MAX_UPLOAD_BYTES=str(size + 10 * MB),
                     STORAGE_DIR=str(workdir / "documents"))
    server = Server("wsgi:app", env, workers=1, threads=args.threads, chdir=ROOT,
                    log=workdir / "gunicorn-upload.log")
    try:
        server.wait_ready("/sign-in")
        cookies = sign_in(server.base, users["provider_admin"])
        session = requests.Session()
        session.cookies.update(cookies)
        form_url = "/evidence/upload?kind=safeguarding_policy"
        for _ in range(5):  # warm the worker: imports, templates, connections
            page = session.get(server.base + form_url)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
        (pid,) = server.worker_pids()
        rss_before, hwm_before = _hwm_kb(pid)

        boundary = "benchboundary7d9a"
        fields = {"csrf_token": token, "expires_on-day": "31", "expires_on-month": "3",
                  "expires_on-year": str(date.today().year + 1)}
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items())
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="policy.pdf"\r\nContent-Type: application/pdf\r\n\r\n').encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        conn.putrequest("POST", form_url)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
        conn.endheaders()
        start = time.perf_counter()
        conn.send(head)
        with open(pdf, "rb") as f:
            while chunk := f.read(MB):
                conn.send(chunk)
        conn.send(tail)
        response = conn.getresponse()
        response.read()
        seconds = time.perf_counter() - start
        rss_after, hwm_after = _hwm_kb(pid)
        stored = sum(p.stat().st_size for p in (workdir / "documents").rglob("*") if p.is_file())
        return {"status": response.status, "location": response.getheader("Location"),
                "seconds": seconds, "rss_before_mb": rss_before / 1024,
                "hwm_before_mb": hwm_before / 1024, "rss_after_mb": rss_after / 1024,
                "hwm_after_mb": hwm_after / 1024,
                "peak_increase_mb": (hwm_after - hwm_before) / 1024,
                "stored_mb": stored / MB}
    finally:
        server.stop()
        pdf.unlink(missing_ok=True)


def storage_tracemalloc(args, workdir: Path) -> float:
    """tracemalloc's peak (MB) while LocalStorage.save streams a 100 MB file."""
    from app.storage import LocalStorage
    size = args.upload_mb * MB
    pdf = workdir / "stream.pdf"
    _pdf_file(pdf, size)
    storage = LocalStorage(str(workdir / "traced"))
    try:
        with open(pdf, "rb") as stream:
            tracemalloc.start()
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            stored = storage.save("bench/traced", stream, size + 1)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert stored.size == size
        return (peak - base) / MB
    finally:
        pdf.unlink(missing_ok=True)


# ------------------------------------------------------------------ the run

def pages(setup: dict) -> list[tuple[str, str, str]]:
    """(name, role, path) for each page measured."""
    directory = urlencode({"lot": setup["directory_lot"], "postcode": setup["outcode"],
                           "radius": 20, "sort": "price"})
    evaluation = []
    if setup["evaluations"]:  # none in data where no evaluation has started
        app_id, lot_id = setup["evaluations"][0]
        evaluation = [("Evaluation page (with price check)", "evaluator",
                       f"/staff/applications/{app_id}/lots/{lot_id}")]
    fee_review = []
    if setup.get("fee_round"):  # bench-data has a running round
        fee_review = [("Fee review queue (submitted)", "evaluator",
                       f"/fee-reviews/{setup['fee_round']}/queue?status=submitted"),
                      ("Fee review report", "manager",
                       f"/fee-reviews/{setup['fee_round']}/report")]
    return [
        ("Provider dashboard", "provider_admin", "/applications/"),
        ("Application task list", "provider_admin", f"/applications/{setup['draft_application']}"),
        ("Evaluation queue (lot + status)", "evaluator",
         f"/staff/?lot={setup['queue_lot']}&status=submitted"),
        *evaluation,
        ("Directory search (lot+20mi+price)", "member_officer", f"/directory/?{directory}"),
        ("Directory search, manager", "manager", f"/directory/?{directory}"),
        ("CSV export (streamed)", "member_officer", f"/directory/export.csv?{directory}"),
        *fee_review,
        ("Price analytics (Lot 1)", "manager", f"/prices/?lot={setup['directory_lot']}"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--duration", type=float, default=20, help="seconds per page")
    parser.add_argument("--concurrency", type=int, default=8, help="client processes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--upload-mb", type=int, default=100)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    instance_dir = str(workdir / "instance")
    os.makedirs(instance_dir)
    # The in-process set-up uses the same settings as the served portal.
    os.environ.update({k: v for k, v in portal_env(args, instance_dir).items()
                       if k in ("DATABASE_URL", "PORTAL_ENV", "SECRET_KEY", "PORTAL_INSTANCE_DIR")})
    os.environ["QUERY_COUNT_HEADER"] = ""
    os.chdir(ROOT)

    load_start = os.getloadavg()
    t0 = time.perf_counter()
    setup = prepare(args.database_url)
    print(f"set-up {time.perf_counter() - t0:.1f}s; rows: "
          + ", ".join(f"{k}={v}" for k, v in sorted(setup["row_counts"].items()) if v))
    servers = []
    results = {"setup": {k: v for k, v in setup.items() if k != "row_counts"},
               "row_counts": setup["row_counts"], "pages": {}, "args": vars(args),
               "loadavg_start": load_start}
    try:
        hello = Server("hello_app:app", dict(os.environ), workers=args.workers,
                       threads=args.threads, chdir=ROOT / "bench",
                       log=workdir / "gunicorn-hello.log")
        servers.append(hello)
        portal = Server("wsgi:app", portal_env(args, instance_dir), workers=args.workers,
                        threads=args.threads, chdir=ROOT, log=workdir / "gunicorn-portal.log")
        servers.append(portal)
        hello.wait_ready()
        portal.wait_ready("/sign-in")
        cookies = {role: sign_in(portal.base, email) for role, email in setup["users"].items()}

        with ProcessPoolExecutor(max_workers=args.concurrency) as pool:
            print(f"\n{args.concurrency} clients, {args.duration:.0f}s per page, gunicorn "
                  f"-w {args.workers} -k gthread --threads {args.threads}")
            base = drive(pool, hello.base + "/", {}, args.duration, args.concurrency)
            results["pages"]["Bare Flask hello"] = dict(base, path="/", role="-")
            hello.stop()
            for name, role, path in pages(setup):
                results["pages"][name] = dict(
                    drive(pool, portal.base + path, cookies[role], args.duration,
                          args.concurrency), path=path, role=role)

        results["loadavg_end"] = os.getloadavg()
        print(f"\nload average (1, 5, 15 min): before {results['loadavg_start']}, "
              f"after {results['loadavg_end']}; other work on this machine inflates latency")
        header = (f"{'page':36} {'reqs':>6} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} "
                  f"{'SQL/req':>8} {'errors':>6} {'vs hello':>8}")
        print("\n" + header + "\n" + "-" * len(header))
        for name, r in results["pages"].items():
            q = r["queries"]
            qtext = "-" if q is None else (f"{q[0]}" if q[0] == q[1] else f"{q[0]}-{q[1]}")
            print(f"{name:36} {r['requests']:>6} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                  f"{r['rps']:>8.1f} {qtext:>8} {r['errors']:>6} "
                  f"{r['rps'] / base['rps']:>8.3f}")
        for name, r in results["pages"].items():
            if r["errors"]:
                print(f"  {name}: statuses {r['statuses']}")
        portal.stop()

        if not args.skip_upload:
            traced = storage_tracemalloc(args, workdir)
            results["storage_tracemalloc_peak_mb"] = traced
            up = upload_memory(args, instance_dir, setup["users"], workdir)
            results["upload"] = up
            print(f"\n{args.upload_mb} MB upload through gunicorn (1 worker): HTTP {up['status']} "
                  f"in {up['seconds']:.1f}s, stored {up['stored_mb']:.1f} MB; worker peak RSS "
                  f"{up['hwm_before_mb']:.1f} -> {up['hwm_after_mb']:.1f} MB "
                  f"(+{up['peak_increase_mb']:.1f} MB; goal < 20 MB)")
            print(f"LocalStorage.save streaming {args.upload_mb} MB: tracemalloc peak "
                  f"{traced:.2f} MB")
    finally:
        for server in servers:
            server.stop()
        # Keep the gunicorn logs, not the 100 MB files the memory check stored.
        for stored in ("documents", "traced", "instance"):
            shutil.rmtree(workdir / stored, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
