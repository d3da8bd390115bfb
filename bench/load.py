"""A bounded load run: N simulated people use the portal at once, under
gunicorn on loopback against PostgreSQL; it counts server errors and lost
writes and prints throughput and p50/p95 latencies.

    python bench/load.py                          # 200 users for 600 s, own PostgreSQL + demo data
    python bench/load.py --users 200 --duration 120
    python bench/load.py --data bench             # national-scale bench data instead of the demo
    python bench/load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/portal

Without --database-url it starts a throwaway PostgreSQL (the newest installed
under /usr/lib/postgresql, as scripts/test.sh does) on a free loopback port,
applies the migrations and loads the demo (or bench) data; the server and its
folder are removed at the end. It keeps PostgreSQL's durable defaults (fsync,
synchronous_commit), so a write it acknowledged is a write kept.

It adds its own people to the database: one provider organisation per
simulated provider (an administrator and a draft application on an open lot)
and one staff account per simulated commissioner (with a second factor whose
secret the script knows). Each person signs in through the real forms
(password, then a TOTP code for staff), then, until the time is up, repeats
a realistic mix with a pause between clicks (--think-min..--think-max s,
by default 2 to 10 s: people read a page before they click):

- providers: their dashboard, their application's task list, and saving the
  quality section with answers no one else writes (each save must be
  acknowledged with 303 See Other);
- commissioners (evaluators and managers): the evaluation queue, a directory
  search (a lot, 20 miles of a busy outward code, cheapest first) and a
  submitted application's page.

Afterwards every acknowledged save is read back from the database: the
stored answers must be those of the last acknowledged save (or of a later
attempt whose reply was lost), and there must be at least one audit event per
acknowledged save. A lost write or a server error (5xx, or no reply at all)
makes the exit status 1.

Sign-in rate limits are switched off for the run (every simulated person
comes from 127.0.0.1); the limits themselves are tested in the suite.
Clients are threads in several processes (--processes), so their Python
does not serialise on one GIL; they share the machine's CPUs with gunicorn,
which the figures include.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
LOAD_DOMAIN = "load-test.example"
LOAD_PASSWORD = "load test password 2026"
REQUEST_TIMEOUT = 60  # seconds: a request slower than this counts as failed

PROVIDER_ACTIONS = (("dashboard", 3), ("task_list", 3), ("save_section", 2))
STAFF_ACTIONS = (("queue", 3), ("directory", 2), ("application", 2))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ PostgreSQL

class ThrowawayPostgres:
    """A private PostgreSQL cluster on loopback, which can be stopped and
    started again (bench/faults.py restarts it mid-run)."""

    def __init__(self, max_connections: int = 200):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                       key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
        if not found:
            raise SystemExit("PostgreSQL server binaries not found under /usr/lib/postgresql "
                             "(apt-get install postgresql), or pass --database-url")
        self.bindir = found[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="portal-load-pg."))
        self.data = self.root / "data"
        self.port = free_port()
        self.max_connections = max_connections
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")  # initdb refuses root
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bindir / tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                        f"-c max_connections={self.max_connections} -c shared_buffers=256MB",
                  "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import sqlalchemy as sa
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def remove(self) -> None:
        subprocess.run([*self.as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                        "-m", "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------------ the portal

def portal_env(database_url: str, instance_dir: str, **extra: str) -> dict:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(DATABASE_URL=database_url, PORTAL_ENV="development",
               SECRET_KEY="load-test-secret-key-not-for-production",
               PORTAL_INSTANCE_DIR=instance_dir, STORAGE_DIR=str(Path(instance_dir) / "documents"),
               RATE_LIMITS_ENABLED="0")
    env.update(extra)
    return env


def flask_command(env: dict, *args: str, timeout: float = 3600) -> str:
    result = subprocess.run([*FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


class Gunicorn:
    """gunicorn in its own process group, stopped with the group."""

    def __init__(self, env: dict, *, workers: int, threads: int, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [GUNICORN, "-w", str(workers), "-k", "gthread", "--threads", str(threads),
             "-b", f"127.0.0.1:{self.port}", "--chdir", str(ROOT), "--timeout", "120",
             # Longer than any pause between clicks: gunicorn's default (2 s) closes
             # idle connections just as a client reuses them, a reset that a
             # browser retries silently but `requests` reports as no reply.
             "--keep-alive", "75", "--backlog", "2048", "wsgi:app"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log.name}")
            try:
                requests.get(self.base + "/healthz", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within {timeout}s")

    def cpu_seconds(self) -> float:
        """CPU time used so far by gunicorn's master and workers (from /proc)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        total = 0
        for pid in [self.proc.pid, *map(int, out.split())]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log.close()


# ------------------------------------------------------------------ the people

def prepare_people(database_url: str, providers: int, staff: int) -> dict:
    """Add (or reuse) the load test's people; return what the clients need."""
    sys.path.insert(0, str(ROOT))
    import pyotp
    import sqlalchemy as sa

    from app import create_app
    from app.domain import applications as rules
    from app.domain import audit
    from app.domain.states import ApplicationStatus, Role
    from app.extensions import db
    from app.models import Application, Dps, Lot, Provider, Setting, User, utcnow
    from app.models.contract import AccessAgreement
    from config import DevelopmentConfig

    config = DevelopmentConfig()
    config.SQLALCHEMY_DATABASE_URI = database_url
    app = create_app(config)
    with app.app_context():
        ses = db.session
        on = rules.today()
        probe = User()
        probe.set_password(LOAD_PASSWORD)
        password_hash = probe.password_hash  # scrypt once, not once per person
        lot = ses.execute(sa.select(Lot).join(Dps).where(Dps.opens_on <= on, Dps.closes_on >= on)
                          .order_by(Lot.dps_id, Lot.number).limit(1)).scalar_one_or_none()
        if lot is None:
            raise SystemExit("No DPS is open for applications: load demo-data or bench-data")

        people = {"providers": [], "staff": []}
        for n in range(providers):
            email = f"load-provider-{n}@{LOAD_DOMAIN}"
            user = ses.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
            if user is None:
                provider = Provider(legal_name=f"Load Test Care {n} Ltd",
                                    trading_name=f"Load Test Care {n}",
                                    company_number=f"LT{n:06d}", address_line_1="1 Test Street",
                                    town="Stratford", postcode="E15 4QZ",
                                    contact_name=f"Load Tester {n}", contact_phone="020 7946 0000",
                                    contact_email=email)
                ses.add(provider)
                ses.flush()
                user = User(email=email, full_name=f"Load Tester {n}", role=Role.PROVIDER_ADMIN,
                            provider_id=provider.id, email_confirmed_at=utcnow(),
                            password_hash=password_hash)
                ses.add(user)
                ses.flush()
            draft = ses.execute(sa.select(Application).where(
                Application.provider_id == user.provider_id,
                Application.status == ApplicationStatus.DRAFT)).scalar_one_or_none()
            if draft is None:
                ctx = audit.AuditContext(actor_id=user.id, actor_role=user.role.value)
                draft = rules.start_application(ctx, user.provider, user, [lot], on)
                ses.flush()
            people["providers"].append({"email": email, "application": draft.id})
        for n in range(staff):
            email = f"load-staff-{n}@{LOAD_DOMAIN}"
            user = ses.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
            if user is None:
                user = User(email=email, full_name=f"Load Commissioner {n}",
                            role=Role.EVALUATOR if n % 2 == 0 else Role.MANAGER,
                            email_confirmed_at=utcnow(), password_hash=password_hash)
                ses.add(user)
            user.totp_secret = pyotp.random_base32()
            user.totp_confirmed_at = utcnow()
            user.totp_last_step = None
            people["staff"].append({"email": email, "totp_secret": user.totp_secret})
        ses.commit()

        submitted = ses.execute(
            sa.select(Application.id).where(Application.status.in_(
                [ApplicationStatus.SUBMITTED, ApplicationStatus.IN_EVALUATION]))
            .order_by(Application.id).limit(50)).scalars().all()
        agreement = ses.execute(sa.select(AccessAgreement.lot_id).where(
            AccessAgreement.starts_on <= on, AccessAgreement.ends_on >= on)
            .order_by(AccessAgreement.lot_id).limit(1)).scalar()
        outcode = ses.execute(sa.select(Setting.outcode, sa.func.count())
                              .group_by(Setting.outcode).order_by(sa.func.count().desc())
                              .limit(1)).first()
        if not submitted or agreement is None or outcode is None:
            raise SystemExit("The database lacks submitted applications, agreements or settings")
        people["submitted_applications"] = submitted
        people["directory"] = f"/directory/?lot={agreement}&postcode={outcode[0]}&radius=20&sort=price"
        db.engine.dispose()
    return people


# ------------------------------------------------------------------ one simulated person

@dataclass
class Sample:
    action: str
    started: float  # epoch seconds
    seconds: float
    status: int  # 0: no reply (connection refused or reset, timeout)


@dataclass
class Save:
    application: int
    answers: dict
    acknowledged: bool
    started: float


@dataclass
class Outcome:
    samples: list = field(default_factory=list)
    saves: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def _token(html: str, name: str) -> str | None:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    return found.group(1) if found else None


class Person:
    def __init__(self, base: str, profile: dict, plan: dict, outcome: Outcome, seed: int):
        self.base, self.profile, self.plan, self.outcome = base, profile, plan, outcome
        self.http = requests.Session()
        self.random = random.Random(seed)
        self.lock = plan["lock"]

    def request(self, action: str, method: str, path: str, **kwargs) -> requests.Response | None:
        started = time.time()
        t0 = time.perf_counter()
        try:
            response = self.http.request(method, self.base + path, timeout=REQUEST_TIMEOUT,
                                         allow_redirects=False, **kwargs)
            response.content  # the whole body
            status = response.status_code
        except requests.RequestException as exc:
            response, status = None, 0
            self._problem(f"{action} {path}: {type(exc).__name__}: {str(exc)[-160:]}")
        with self.lock:
            self.outcome.samples.append(Sample(action, started, time.perf_counter() - t0, status))
        if status >= 500:
            self._problem(f"{action} {path}: HTTP {status}")
        return response

    def _problem(self, text: str) -> None:
        with self.lock:
            if len(self.outcome.problems) < 200:
                self.outcome.problems.append(text)

    def sign_in(self) -> bool:
        page = self.request("sign_in", "GET", "/sign-in")
        token = _token(page.text, "csrf_token") if page is not None else None
        if token is None:
            return False
        r = self.request("sign_in", "POST", "/sign-in", data={
            "csrf_token": token, "email": self.profile["email"], "password": LOAD_PASSWORD})
        if r is None or r.status_code != 303:
            self._problem(f"sign in as {self.profile['email']}: {r and r.status_code}")
            return False
        if "totp_secret" not in self.profile:
            return True
        import pyotp
        page = self.request("sign_in", "GET", r.headers["Location"])
        token = _token(page.text, "csrf_token") if page is not None else None
        code = pyotp.TOTP(self.profile["totp_secret"]).now()
        r = self.request("sign_in", "POST", "/sign-in/second-factor",
                         data={"csrf_token": token, "code": code})
        if r is None or r.status_code != 303:
            self._problem(f"second factor for {self.profile['email']}: {r and r.status_code}")
            return False
        return True

    # providers
    def dashboard(self):
        self.request("dashboard", "GET", "/applications/")

    def task_list(self):
        self.request("task_list", "GET", f"/applications/{self.profile['application']}")

    def save_section(self):
        path = f"/applications/{self.profile['application']}/quality"
        page = self.request("save_section_form", "GET", path)
        if page is None or page.status_code != 200:
            return
        fields = sorted(set(re.findall(r'name="(answer_\d+)"', page.text)))
        data = {"csrf_token": _token(page.text, "csrf_token"),
                "version": _token(page.text, "version")}
        unique = uuid.uuid4().hex
        answers = {f: f"Our answer {unique} to question {f[7:]}, written under load."
                   for f in fields}
        data.update(answers)
        started = time.time()
        r = self.request("save_section", "POST", path, data=data)
        acknowledged = r is not None and r.status_code == 303
        if r is not None and r.status_code not in (303, 503):
            self._problem(f"save_section {path}: HTTP {r.status_code}")
        with self.lock:
            self.outcome.saves.append(Save(self.profile["application"], answers, acknowledged,
                                           started))

    # commissioners
    def queue(self):
        self.request("queue", "GET", "/staff/")

    def directory(self):
        self.request("directory", "GET", self.plan["directory"])

    def application(self):
        app_id = self.random.choice(self.plan["submitted_applications"])
        self.request("application", "GET", f"/staff/applications/{app_id}")

    def run(self, start_at: float, end_at: float) -> None:
        time.sleep(max(0.0, start_at - time.time()))
        while not self.sign_in():
            if time.time() > end_at:
                return
            time.sleep(2)  # e.g. the database is restarting: try again
        actions = STAFF_ACTIONS if "totp_secret" in self.profile else PROVIDER_ACTIONS
        names = [name for name, _ in actions]
        weights = [weight for _, weight in actions]
        extra = self.plan.get("extra_action")
        while time.time() < end_at:
            if extra and self.random.random() < extra["probability"]:
                extra["run"](self)
            else:
                getattr(self, self.random.choices(names, weights)[0])()
            time.sleep(self.random.uniform(self.plan["think_min"], self.plan["think_max"]))


def run_people(base: str, profiles: list[dict], plan: dict, start_at: float, ramp_up: float,
               end_at: float, seed: int) -> Outcome:
    """One client process: a thread per person, each starting at its place
    in the ramp-up."""
    plan = dict(plan, lock=threading.Lock())
    if plan.get("extra_action"):
        plan["extra_action"] = dict(plan["extra_action"],
                                    run=EXTRA_ACTIONS[plan["extra_action"]["name"]])
    outcome = Outcome()
    threads = []
    for i, profile in enumerate(profiles):
        person = Person(base, profile, plan, outcome, seed * 100003 + i)
        begin = start_at + ramp_up * profile["ramp_fraction"]
        thread = threading.Thread(target=person.run, args=(begin, end_at), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=max(0.0, end_at - time.time()) + REQUEST_TIMEOUT * 3)
    with plan["lock"]:
        return Outcome(list(outcome.samples), list(outcome.saves), list(outcome.problems))


# Actions bench/faults.py adds to the mix (looked up by name in each client process).
EXTRA_ACTIONS: dict = {}


def drive(base: str, people: dict, *, users: int, duration: float, ramp_up: float,
          think_min: float, think_max: float, processes: int, seed: int = 1,
          extra_action: dict | None = None) -> Outcome:
    profiles = ([dict(p) for p in people["providers"]] + [dict(p) for p in people["staff"]])
    profiles = profiles[:users]
    random.Random(seed).shuffle(profiles)
    for i, profile in enumerate(profiles):
        profile["ramp_fraction"] = i / max(1, len(profiles))
    plan = {"think_min": think_min, "think_max": think_max, "directory": people["directory"],
            "submitted_applications": people["submitted_applications"],
            "extra_action": extra_action}
    start_at = time.time() + 2
    end_at = start_at + duration
    batches = [profiles[i::processes] for i in range(processes)]
    outcome = Outcome()
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [pool.submit(run_people, base, batch, plan, start_at, ramp_up, end_at,
                               seed + n) for n, batch in enumerate(batches) if batch]
        for future in futures:
            part = future.result()
            outcome.samples += part.samples
            outcome.saves += part.saves
            outcome.problems += part.problems
    outcome.window = (start_at, end_at)
    outcome.ramp_up_end = start_at + ramp_up
    return outcome


# ------------------------------------------------------------------ checking and reporting

def lost_writes(database_url: str, saves: list[Save]) -> dict:
    """Read every acknowledged save back. The stored answers must be the last
    acknowledged save's, or those of a later attempt whose reply was lost
    (it may have been saved), and each acknowledged save has its audit event."""
    import sqlalchemy as sa
    engine = sa.create_engine(database_url)
    by_application: dict[int, list[Save]] = defaultdict(list)
    for save in sorted(saves, key=lambda s: s.started):
        by_application[save.application].append(save)
    lost = []
    acknowledged = sum(1 for s in saves if s.acknowledged)
    with engine.connect() as conn:
        for app_id, attempts in by_application.items():
            acked = [i for i, s in enumerate(attempts) if s.acknowledged]
            if not acked:
                continue
            rows = conn.execute(sa.text(
                "SELECT question_id, answer FROM quality_answers WHERE application_id = :a"),
                {"a": app_id}).all()
            stored = {f"answer_{q}": text for q, text in rows}
            allowed = [s.answers for s in attempts[acked[-1]:]]
            if stored not in allowed:
                lost.append({"application": app_id, "stored": stored,
                             "last_acknowledged": attempts[acked[-1]].answers})
            events = conn.execute(sa.text(
                "SELECT count(*) FROM audit_events WHERE action = 'application.section_saved' "
                "AND subject_type = 'application' AND subject_id = :a"), {"a": app_id}).scalar()
            if events < len(acked):
                lost.append({"application": app_id, "audit_events": events,
                             "acknowledged_saves": len(acked)})
    engine.dispose()
    return {"acknowledged_saves": acknowledged, "lost": lost}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summarise(outcome: Outcome) -> dict:
    start, end = outcome.window
    samples = outcome.samples
    by_action: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_action[s.action].append(s)
    rows = {}
    for action, group in sorted(by_action.items()):
        ms = [s.seconds * 1000 for s in group]
        rows[action] = {"requests": len(group), "p50_ms": percentile(ms, 50),
                        "p95_ms": percentile(ms, 95), "max_ms": max(ms),
                        "server_errors": sum(1 for s in group if s.status >= 500),
                        "no_reply": sum(1 for s in group if s.status == 0),
                        "statuses": dict(sorted(Counter(s.status for s in group).items()))}
    # Headline latencies: the pages people use, not the one-off sign-ins (scrypt
    # is slow on purpose), which have their own row.
    page_ms = [s.seconds * 1000 for s in samples if s.action != "sign_in"]
    # Once everyone has arrived and signed in: the steady state.
    steady_from = getattr(outcome, "ramp_up_end", start)
    steady = [s for s in samples if s.started >= steady_from]
    steady_ms = [s.seconds * 1000 for s in steady]
    after_ramp_up = {"requests": len(steady), "seconds": end - steady_from,
                     "throughput_rps": len(steady) / max(1e-9, end - steady_from),
                     "p50_ms": percentile(steady_ms, 50), "p95_ms": percentile(steady_ms, 95)}
    return {"requests": len(samples), "seconds": end - start, "after_ramp_up": after_ramp_up,
            "throughput_rps": len(samples) / (end - start),
            "p50_ms": percentile(page_ms, 50), "p95_ms": percentile(page_ms, 95),
            "server_errors": sum(1 for s in samples if s.status >= 500),
            "no_reply": sum(1 for s in samples if s.status == 0),
            "actions": rows}


def print_summary(summary: dict, writes: dict, header: str) -> None:
    print()
    print(header)
    print(f"  {summary['requests']:,} requests in {summary['seconds']:.0f} s: "
          f"{summary['throughput_rps']:.1f} req/s; pages (sign-in apart) p50 "
          f"{summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms")
    steady = summary["after_ramp_up"]
    if steady["requests"] and steady["seconds"] < summary["seconds"]:
        print(f"  after the ramp-up ({steady['seconds']:.0f} s): {steady['requests']:,} requests, "
              f"{steady['throughput_rps']:.1f} req/s, p50 {steady['p50_ms']:.0f} ms, "
              f"p95 {steady['p95_ms']:.0f} ms")
    print(f"  server errors (5xx): {summary['server_errors']}; requests with no reply: "
          f"{summary['no_reply']}")
    print(f"  acknowledged saves: {writes['acknowledged_saves']:,}; lost writes: "
          f"{len(writes['lost'])}")
    print()
    print("  | Action | Requests | p50 ms | p95 ms | max ms | 5xx | No reply |")
    print("  |---|--:|--:|--:|--:|--:|--:|")
    for action, row in summary["actions"].items():
        print(f"  | {action} | {row['requests']:,} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} "
              f"| {row['max_ms']:.0f} | {row['server_errors']} | {row['no_reply']} |")


# ------------------------------------------------------------------ the run

def arguments(description: str = __doc__) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="simulated people (default 200)")
    parser.add_argument("--duration", type=float, default=600,
                        help="seconds of load after the start (default 600)")
    parser.add_argument("--staff-share", type=float, default=0.3,
                        help="share of the people who are commissioners (default 0.3)")
    parser.add_argument("--ramp-up", type=float, default=60,
                        help="seconds over which people arrive and sign in (default 60)")
    parser.add_argument("--think-min", type=float, default=2.0)
    parser.add_argument("--think-max", type=float, default=10.0,
                        help="pause between one person's clicks, uniform in min..max seconds")
    parser.add_argument("--processes", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=8,
                        help="gunicorn threads per worker (default 8)")
    parser.add_argument("--data", choices=("demo", "bench"), default="demo",
                        help="what to load into the throwaway database (default demo)")
    parser.add_argument("--bench-providers", type=int, default=5000,
                        help="with --data bench: providers at scale 1 (default 5000)")
    parser.add_argument("--database-url",
                        help="use this PostgreSQL database as it is instead of a throwaway one")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (gunicorn and worker logs) at the end")
    return parser


@dataclass
class Setup:
    database_url: str
    workdir: Path
    env: dict
    people: dict
    postgres: ThrowawayPostgres | None


def set_up(args, **env_extra: str) -> Setup:
    workdir = Path(tempfile.mkdtemp(prefix="portal-load."))
    postgres = None
    database_url = args.database_url
    if database_url is None:
        postgres = ThrowawayPostgres(max_connections=max(200, args.workers * 20 + 50))
        postgres.start()
        database_url = postgres.create_database("portal_load")
        log(f"PostgreSQL on 127.0.0.1:{postgres.port} ({postgres.root})")
    env = portal_env(database_url, str(workdir / "instance"), **env_extra)
    try:
        if postgres is not None:
            flask_command(env, "db", "upgrade")
            started = time.monotonic()
            if args.data == "demo":
                flask_command(env, "demo-data")
            else:
                flask_command(env, "bench-data", "--providers", str(args.bench_providers))
            log(f"{args.data} data loaded in {time.monotonic() - started:.0f} s")
        staff = round(args.users * args.staff_share)
        people = prepare_people(database_url, args.users - staff, staff)
    except BaseException:
        if postgres is not None:
            postgres.remove()
        raise
    log(f"{len(people['providers'])} providers and {len(people['staff'])} commissioners ready")
    return Setup(database_url, workdir, env, people, postgres)


def tear_down(setup: Setup, keep: bool = False) -> None:
    if setup.postgres is not None:
        setup.postgres.remove()
    if keep:
        log(f"logs kept in {setup.workdir}")
    else:
        shutil.rmtree(setup.workdir, ignore_errors=True)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    args = arguments().parse_args()
    setup = set_up(args)
    server = None
    try:
        server = Gunicorn(setup.env, workers=args.workers, threads=args.threads,
                          log_path=setup.workdir / "gunicorn.log")
        server.wait_ready()
        log(f"gunicorn -w {args.workers} --threads {args.threads} on {server.base}; "
            f"{args.users} people for {args.duration:.0f} s (ramp-up {args.ramp_up:.0f} s, "
            f"think {args.think_min}-{args.think_max} s); load average {load_average()}")
        cpu_before = server.cpu_seconds()
        outcome = drive(server.base, setup.people, users=args.users, duration=args.duration,
                        ramp_up=args.ramp_up, think_min=args.think_min,
                        think_max=args.think_max, processes=args.processes)
        server_cpu = server.cpu_seconds() - cpu_before
        load_after = load_average()
        writes = lost_writes(setup.database_url, outcome.saves)
        summary = summarise(outcome)
        print_summary(summary, writes,
                      f"Load run: {args.users} people, {args.duration:.0f} s, data "
                      f"{args.data if args.database_url is None else args.database_url}; "
                      f"load average at the end {load_after}")
        print(f"  gunicorn used {server_cpu:.0f} CPU seconds ({server_cpu / summary['seconds']:.2f}"
              f" of {os.cpu_count()} CPUs on average; {1000 * server_cpu / max(1, summary['requests']):.0f}"
              " ms a request)")
        summary["server_cpu_seconds"] = server_cpu
        for problem in outcome.problems[:20]:
            print(f"  problem: {problem}")
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"arguments": vars(args), "summary": summary, "writes": writes,
                 "problems": outcome.problems}, indent=2, default=str))
        failed = summary["server_errors"] or summary["no_reply"] or writes["lost"]
        return 1 if failed else 0
    finally:
        if server is not None:
            server.stop()
        tear_down(setup, args.keep)


if __name__ == "__main__":
    sys.exit(main())
