"""kvlab: start, poke and read a local kvd cluster from a notebook.

Standard library only (matplotlib is imported by the notebooks, not here).
Every lab does the same five things with it:

    import kvlab
    c = kvlab.Cluster(3, trace=True)          # fresh data dirs, free loopback ports
    c.wait_leader()                            # all running members agree on one leader
    c.put("k", "v"); c.failpoint(m, "raftBeforeSave", 'return("pause")'); c.kill(m) ...
    w = c.show("k")                            # `bin/tracer show --json --key k DIRS`
    c.stop()                                   # also runs at interpreter exit

A Cluster runs the very binaries the README builds (bin/kvd, bin/tracer, and
etcdctl from `go tool -n etcdctl`), so every command a lab runs is one a user
can type. Processes are started in their own process group and killed on
stop(), on garbage collection of the Cluster and at exit, so a failed cell does
not leave members running.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
KVD = os.path.join(ROOT, "bin", "kvd")
TRACER = os.path.join(ROOT, "bin", "tracer")

_live: "weakref.WeakSet[Cluster]" = weakref.WeakSet()


def _die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGKILL the child when this (kernel) process dies, so a
    killed notebook kernel leaves no kvd or etcdctl running (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001 - not Linux: atexit and stop() still apply
        pass


def _stop_all() -> None:
    for c in list(_live):
        try:
            c.stop(keep=True)
        except Exception:  # noqa: BLE001 - exit path: stop what we can
            pass


atexit.register(_stop_all)


class Missing(Exception):
    """A kvd/tracer feature a lab needs is not there (yet); the message says which."""


def _quiet_port_range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range (which port-0 binds and every
    outgoing connection draw from), as internal/localcluster FreePorts picks;
    (0, 0) when the range cannot be read or leaves no room."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0, 0
    return (20000, first) if first - 20000 >= 1000 else (0, 0)


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together, then
    released), below the ephemeral range where possible, so another
    process's outgoing connection cannot take one before kvd binds it."""
    lo, hi = _quiet_port_range()
    socks, ports = [], []
    try:
        attempts = 0
        while len(ports) < n:
            attempts += 1
            port = random.randrange(lo, hi) if hi > lo and attempts <= 50 * n else 0
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                if port == 0:
                    raise
                continue
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def run(args: list[str], timeout: float = 60, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture text output; raise with its stderr if it fails."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {p.returncode}:\n{p.stderr.strip()}\n{p.stdout.strip()}")
    return p


_etcdctl_path: str | None = None


def etcdctl_path() -> str:
    """The etcdctl binary pinned in go.mod (`go tool -n etcdctl` builds it once)."""
    global _etcdctl_path
    if _etcdctl_path is None:
        _etcdctl_path = run(["go", "tool", "-n", "etcdctl"], timeout=600).stdout.strip()
    return _etcdctl_path


def ensure_built() -> None:
    """Fail early, and say how to fix it, when `make build` was not run."""
    for b in (KVD, TRACER):
        if not os.access(b, os.X_OK):
            raise Missing(f"{b} not found: run `make build` in {ROOT} first")


def _b64(s: str | bytes) -> str:
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def _unb64(s: str) -> str:
    return base64.b64decode(s).decode(errors="replace")


class Member:
    """One kvd process: its name, URLs, data dir and control addresses."""

    def __init__(self, cluster: "Cluster", i: int, client_port: int, peer_port: int,
                 fp_port: int | None, admin_port: int | None):
        self.cluster = cluster
        self.index = i
        self.name = f"m{i + 1}"
        self.client_url = f"http://127.0.0.1:{client_port}"
        self.peer_url = f"http://127.0.0.1:{peer_port}"
        self.failpoint_addr = f"127.0.0.1:{fp_port}" if fp_port else None
        self.admin_addr = f"127.0.0.1:{admin_port}" if admin_port else None
        self.data_dir = os.path.join(cluster.dir, self.name + ".kvd")
        self.log_path = os.path.join(cluster.dir, self.name + ".log")
        self.args: list[str] = []
        self.proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        state = f"pid {self.proc.pid}" if self.running() else "stopped"
        return f"<{self.name} {self.client_url} {state}>"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """(Re)start the process with the same flags; the log is appended."""
        if self.running():
            raise RuntimeError(f"{self.name} is already running")
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([KVD] + self.args, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        finally:
            log.close()

    def kill(self) -> None:
        """SIGKILL: a crash, no flush, no close. Waits for the exit."""
        self._signal(signal.SIGKILL, 10)

    def terminate(self) -> None:
        """SIGTERM, then SIGKILL after 10s."""
        try:
            self._signal(signal.SIGTERM, 10)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, sig: int, wait: float) -> None:
        if not self.running():
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=wait)

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Cluster:
    """A fresh local cluster of bin/kvd processes on free loopback ports.

    size        number of members (names m1..mN, data dirs DIR/mN.kvd)
    trace       pass --trace (spans to <data-dir>/trace/spans.jsonl)
    flags       extra flags for every member, e.g. ["--backend-batch-interval", "1s"]
    failpoints  give every member a --failpoint-addr (gofail HTTP protocol)
    admin       give every member an --admin-addr (message faults)
    heartbeat, election   milliseconds, as --heartbeat-interval / --election-timeout
    dir         parent directory (default: a new temp dir, removed by stop(keep=False))
    """

    def __init__(self, size: int = 3, *, trace: bool = True, flags: list[str] | None = None,
                 failpoints: bool = True, admin: bool = True, heartbeat: int = 50,
                 election: int = 500, dir: str | None = None, log_level: str = "warn",
                 start: bool = True):
        ensure_built()
        self.dir = dir or tempfile.mkdtemp(prefix="kvlab-")
        self._own_dir = dir is None
        os.makedirs(self.dir, exist_ok=True)
        ports = free_ports(4 * size)
        self.members: list[Member] = []
        for i in range(size):
            p = ports[4 * i:4 * i + 4]
            self.members.append(Member(self, i, p[0], p[1], p[2] if failpoints else None,
                                       p[3] if admin else None))
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        common = ["--heartbeat-interval", str(heartbeat), "--election-timeout", str(election),
                  "--log-level", log_level]
        if trace:
            common.append("--trace")
        common += list(flags or [])
        for m in self.members:
            m.args = ["--name", m.name, "--data-dir", m.data_dir,
                      "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                      "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                      "--initial-cluster", initial, "--initial-cluster-token", "kvlab",
                      "--initial-cluster-state", "new"] + common
            if m.failpoint_addr:
                m.args += ["--failpoint-addr", m.failpoint_addr]
            if m.admin_addr:
                m.args += ["--admin-addr", m.admin_addr]
        self._gateway: bool | None = None
        self._stopped = False
        _live.add(self)
        weakref.finalize(self, _kill_procs, [m for m in self.members])
        if start:
            for m in self.members:
                m.start()

    # ---- lifecycle -------------------------------------------------------

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, keep: bool = False) -> None:
        """Stop every member (SIGTERM, then SIGKILL) and remove the data dirs unless keep (the
        exit hook keeps them, so a failed notebook leaves its spans and logs to look at)."""
        for m in self.members:
            try:
                m.terminate()
            except Exception:  # noqa: BLE001
                if m.proc is not None:
                    try:
                        os.killpg(m.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self._stopped = True
        _live.discard(self)
        if not keep and self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self, m: Member) -> None:
        m.kill()

    def restart(self, m: Member) -> None:
        m.start()

    def endpoints(self, members: list[Member] | None = None) -> str:
        return ",".join(m.client_url for m in (members or self.members))

    def __getitem__(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    # ---- status and leader ----------------------------------------------

    def status(self, m: Member, timeout: float = 2) -> dict:
        """Maintenance.Status of one member: {member_id, leader, raft_index, raft_term,
        raft_applied_index, revision} as ints."""
        if self.has_gateway():
            r = self._gw(m, "/v3/maintenance/status", {}, timeout)
            h = r.get("header", {})
            return {"member_id": int(h.get("member_id", 0)), "leader": int(r.get("leader", 0)),
                    "raft_index": int(r.get("raftIndex", r.get("raft_index", 0))),
                    "raft_term": int(r.get("raftTerm", r.get("raft_term", 0))),
                    "raft_applied_index": int(r.get("raftAppliedIndex", r.get("raft_applied_index", 0))),
                    "revision": int(h.get("revision", 0))}
        out = self.etcdctl("endpoint", "status", "-w", "json", members=[m], timeout=timeout + 3).stdout
        st = json.loads(out)[0]["Status"]
        h = st.get("header", {})
        return {"member_id": int(h.get("member_id", 0)), "leader": int(st.get("leader", 0)),
                "raft_index": int(st.get("raftIndex", 0)), "raft_term": int(st.get("raftTerm", 0)),
                "raft_applied_index": int(st.get("raftAppliedIndex", 0)),
                "revision": int(h.get("revision", 0))}

    def wait_leader(self, timeout: float = 30) -> Member:
        """Poll the running members until all agree on one leader; return it."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                ids, lead = {}, set()
                for m in self.members:
                    if not m.running():
                        continue
                    st = self.status(m)
                    ids[st["member_id"]] = m
                    lead.add(st["leader"])
                if len(lead) == 1 and 0 not in lead and next(iter(lead)) in ids:
                    return ids[next(iter(lead))]
                last = f"leaders seen: {sorted(lead)}"
            except Exception as e:  # noqa: BLE001 - keep polling until the deadline
                last = str(e).splitlines()[0] if str(e) else repr(e)
            time.sleep(0.05)
        logs = "\n".join(f"--- {m.name}\n{m.log_tail(5)}" for m in self.members)
        raise TimeoutError(f"no leader within {timeout}s ({last})\n{logs}")

    def leader(self) -> Member:
        return self.wait_leader()

    def followers(self, leader: Member | None = None) -> list[Member]:
        leader = leader or self.wait_leader()
        return [m for m in self.members if m is not leader]

    # ---- client requests -------------------------------------------------

    def has_gateway(self) -> bool:
        """Whether members serve etcd's JSON gateway (/v3/kv/range) on the client URL."""
        if self._gateway is None:
            m = next((m for m in self.members if m.running()), None)
            if m is None:
                return False
            ok = False
            for _ in range(50):
                try:
                    req = urllib.request.Request(m.client_url + "/v3/kv/range", data=b'{"key":"AA=="}',
                                                 headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(req, timeout=2) as r:
                        json.loads(r.read() or b"{}")
                        ok = True
                        break
                except urllib.error.HTTPError as e:
                    # 404/405: no gateway; 503 etc.: a gateway that is not ready yet
                    if e.code in (404, 405, 415):
                        break
                    ok = True
                    break
                except (urllib.error.URLError, OSError, ValueError):
                    time.sleep(0.1)
            self._gateway = ok
        return self._gateway

    def _gw(self, m: Member, path: str, body: dict, timeout: float) -> dict:
        req = urllib.request.Request(m.client_url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise RequestError(f"{m.name} {path}: HTTP {e.code}: {e.read().decode(errors='replace')}") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as e:
            raise RequestError(f"{m.name} {path}: {e}") from None

    def etcdctl(self, *args: str, members: list[Member] | None = None, timeout: float = 10,
                check: bool = True) -> subprocess.CompletedProcess:
        """Run the pinned etcdctl against the given members (all by default)."""
        cmd = [etcdctl_path(), "--endpoints", self.endpoints(members),
               "--command-timeout", f"{max(1, int(timeout))}s", "--dial-timeout", "2s", *args]
        p = run(cmd, timeout=timeout + 10, check=False)
        if check and p.returncode != 0:
            raise RequestError(f"etcdctl {' '.join(args)}: {p.stderr.strip()}")
        return p

    def put(self, key: str, value: str, member: Member | None = None, timeout: float = 5) -> int:
        """Put through one member (default: all endpoints); return the response revision."""
        if self.has_gateway():
            m = member or self._any_running()
            r = self._gw(m, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)}, timeout)
            return int(r.get("header", {}).get("revision", 0))
        p = self.etcdctl("put", key, value, "-w", "json", members=[member] if member else None, timeout=timeout)
        return int(json.loads(p.stdout)["header"]["revision"])

    def get(self, key: str, member: Member | None = None, rev: int = 0, serializable: bool = False,
            prefix: bool = False, timeout: float = 5) -> dict:
        """Range one key (or a prefix): {revision, kvs: [{key, value, create_revision, mod_revision, version}]}."""
        if self.has_gateway():
            m = member or self._any_running()
            body: dict = {"key": _b64(key)}
            if prefix:
                body["range_end"] = _b64(_prefix_end(key.encode()))
            if rev:
                body["revision"] = str(rev)
            if serializable:
                body["serializable"] = True
            r = self._gw(m, "/v3/kv/range", body, timeout)
        else:
            args = ["get", key, "-w", "json"]
            if rev:
                args.append(f"--rev={rev}")
            if serializable:
                args.append("--consistency=s")
            if prefix:
                args.append("--prefix")
            r = json.loads(self.etcdctl(*args, members=[member] if member else None, timeout=timeout).stdout)
        kvs = [{"key": _unb64(kv["key"]), "value": _unb64(kv.get("value", "")),
                "create_revision": int(kv.get("create_revision", 0)),
                "mod_revision": int(kv.get("mod_revision", 0)), "version": int(kv.get("version", 0))}
               for kv in r.get("kvs", [])]
        return {"revision": int(r.get("header", {}).get("revision", 0)), "kvs": kvs}

    def _any_running(self) -> Member:
        for m in self.members:
            if m.running():
                return m
        raise RequestError("no member is running")

    def put_many(self, keys: list[str], value: str = "v", member: Member | None = None,
                 concurrency: int = 1, timeout: float = 10) -> list[tuple[str, int, float]]:
        """Put every key (concurrency threads); return [(key, revision, seconds)] in completion order."""
        out: list[tuple[str, int, float]] = []
        lock = threading.Lock()
        it = iter(keys)
        errors: list[Exception] = []

        def worker() -> None:
            while True:
                with lock:
                    k = next(it, None)
                if k is None:
                    return
                t0 = time.perf_counter()
                try:
                    rev = self.put(k, value, member=member, timeout=timeout)
                except Exception as e:  # noqa: BLE001 - reported below
                    with lock:
                        errors.append(e)
                    return
                with lock:
                    out.append((k, rev, time.perf_counter() - t0))

        ts = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        return out

    # ---- failpoints and message faults -----------------------------------

    def failpoint(self, m: Member, name: str, term: str) -> None:
        """Set a gofail failpoint on member m, e.g. failpoint(m, "raftBeforeSave", 'return("pause")')."""
        _http("PUT", f"http://{m.failpoint_addr}/{name}", term)

    def clear_failpoint(self, m: Member, name: str) -> None:
        _http("DELETE", f"http://{m.failpoint_addr}/{name}", "")

    def failpoint_hits(self, m: Member, name: str) -> int:
        """`GET /<name>/count`: how often the boundary was crossed since its term was set."""
        return int(_http("GET", f"http://{m.failpoint_addr}/{name}/count", ""))

    def failpoints(self, m: Member) -> str:
        """`GET /` on the failpoint endpoint: every name and its term."""
        return _http("GET", f"http://{m.failpoint_addr}/", "")

    def fault(self, m: Member, *args: str) -> str:
        """`bin/kvd fault --admin <m's admin addr> ARGS...`: message faults on what m SENDS."""
        return run([KVD, "fault", "--admin", m.admin_addr, *args], timeout=15).stdout

    def goroutines(self, m: Member, debug: int = 2) -> str:
        """Every goroutine's stack of member m (`GET /debug/pprof/goroutine?debug=2` on its --admin-addr)."""
        return _http("GET", f"http://{m.admin_addr}/debug/pprof/goroutine?debug={debug}", "", timeout=10)

    # ---- spans -------------------------------------------------------------

    def span_dirs(self) -> list[str]:
        return [m.data_dir for m in self.members]

    def tracer(self, *args: str, timeout: float = 120) -> str:
        return run([TRACER, *args, *self.span_dirs()], timeout=timeout).stdout

    def show(self, key: str | None = None, write: int | None = None) -> dict:
        """`bin/tracer show --json [--key K | --write N] DIRS`: one write's events and stages."""
        a = ["show", "--json"]
        if key is not None:
            a += ["--key", key]
        if write is not None:
            a += ["--write", str(write)]
        return json.loads(self.tracer(*a))

    def stats(self, key: str | None = None) -> dict:
        a = ["stats", "--json"] + (["--key", key] if key else [])
        return json.loads(self.tracer(*a))

    def list_writes(self) -> str:
        return self.tracer("list")

    def spans(self) -> list[dict]:
        """Every span in every member's span file, flattened from OTLP JSON lines (see spans_of_file)."""
        out: list[dict] = []
        for m in self.members:
            for root, _, files in os.walk(m.data_dir):
                for f in files:
                    if f.endswith(".jsonl"):
                        out += spans_of_file(os.path.join(root, f))
        out.sort(key=lambda s: s["start"])
        return out

    def wait_spans(self, pred, what: str, timeout: float = 30, interval: float = 0.3):
        """Poll spans() until pred(spans) returns a truthy value; return it."""
        deadline = time.monotonic() + timeout
        while True:
            v = pred(self.spans())
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"spans never showed {what} within {timeout}s")
            time.sleep(interval)

    def wait_complete(self, keys: list[str], timeout: float = 60, members: list[Member] | None = None) -> list[dict]:
        """Wait until every member recorded apply and bbolt.commit for each key's latest write
        (the spans are exported in batches); return spans()."""
        names = {m.name for m in (members or self.members)}
        keys = set(keys)

        def ok(spans: list[dict]):
            applied: dict[tuple[str, str], int] = {}   # (member, key) -> index
            bolt: dict[str, list[tuple[int, int]]] = {}  # member -> [(first, last)]
            for s in spans:
                a = s["attrs"]
                if s["name"] == "apply" and a.get("kv.key") in keys:
                    applied[(s["member"], a["kv.key"])] = int(a.get("raft.index", 0))
                elif s["name"] == "bbolt.commit" and "raft.first_index" in a:
                    bolt.setdefault(s["member"], []).append((int(a["raft.first_index"]), int(a["raft.last_index"])))
            for k in keys:
                for n in names:
                    i = applied.get((n, k))
                    if i is None or not any(lo <= i <= hi for lo, hi in bolt.get(n, [])):
                        return None
            return spans

        return self.wait_spans(ok, f"apply and bbolt.commit of {len(keys)} writes on {sorted(names)}", timeout)


class RequestError(Exception):
    """A client request failed (timeout, no leader, connection refused, ...)."""


def _prefix_end(b: bytes) -> bytes:
    b = bytearray(b)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[:i + 1])
    return b"\x00"


def _http(method: str, url: str, body: str, timeout: float = 5) -> str:
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def _kill_procs(members: list[Member]) -> None:
    for m in members:
        if m.running():
            try:
                os.killpg(m.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _attr_value(v: dict):
    for k in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "arrayValue" in v:
        return [_attr_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def _attr_str(v) -> str:
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def spans_of_file(path: str) -> list[dict]:
    """Flatten one OTLP JSON lines file: [{name, member, trace_id, span_id, parent, start, end
    (ns since the epoch), attrs {k: str}, links [{trace_id, span_id}]}]. A torn last line
    (the exporter is still writing) is skipped."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            try:
                req = json.loads(line)
            except ValueError:
                continue
            for rs in req.get("resourceSpans", []):
                res = {a["key"]: _attr_value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
                member = res.get("service.instance.id", "")
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        attrs = {a["key"]: _attr_str(_attr_value(a["value"])) for a in sp.get("attributes", [])}
                        out.append({
                            "name": sp.get("name", ""),
                            "member": attrs.get("kv.member", member),
                            "trace_id": sp.get("traceId", ""),
                            "span_id": sp.get("spanId", ""),
                            "parent": sp.get("parentSpanId", ""),
                            "start": int(sp.get("startTimeUnixNano", 0)),
                            "end": int(sp.get("endTimeUnixNano", 0)),
                            "attrs": attrs,
                            "links": [{"trace_id": l.get("traceId", ""), "span_id": l.get("spanId", "")}
                                      for l in sp.get("links", [])],
                        })
    return out


def spans_for(spans: list[dict], trace_id: str) -> list[dict]:
    """The spans of one write: in its trace, or linking to it (batched wal.save / bbolt.commit)."""
    return [s for s in spans if s["trace_id"] == trace_id or any(l["trace_id"] == trace_id for l in s["links"])]


def writes(spans: list[dict]) -> dict[str, dict]:
    """Latest write per key, from the apply spans: {key: {trace_id, index, revision, term}}."""
    out: dict[str, dict] = {}
    for s in spans:
        if s["name"] == "apply" and "kv.key" in s["attrs"]:
            a = s["attrs"]
            out[a["kv.key"]] = {"trace_id": s["trace_id"], "index": int(a.get("raft.index", 0)),
                                "revision": int(a.get("kv.revision", 0) or 0), "term": int(a.get("raft.term", 0))}
    return out


def ms(ns: float) -> float:
    return ns / 1e6


def wait(cond, what: str, timeout: float = 30, interval: float = 0.05):
    """Poll cond() until truthy (exceptions count as false); return its value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last})" if last else ""))


def go_version_of(module: str) -> str:
    """The version of a module in go.mod (for docs references), or ''."""
    try:
        with open(os.path.join(ROOT, "go.mod")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == module:
                    return parts[1]
                if len(parts) >= 3 and parts[0] == "require" and parts[1] == module:
                    return parts[2]
    except OSError:
        pass
    return ""


class Watch:
    """A long-running `etcdctl watch KEY [--rev=R] -w json` against some members.

    events: [{key, value, mod_revision, type}] as they arrive (read by a thread);
    errors: stderr lines; stop() kills the process (a client disconnect).
    """

    def __init__(self, cluster: Cluster, key: str, rev: int = 0, members: list[Member] | None = None,
                 prefix: bool = False):
        args = [etcdctl_path(), "--endpoints", cluster.endpoints(members), "watch", key, "-w", "json"]
        if rev:
            args.append(f"--rev={rev}")
        if prefix:
            args.append("--prefix")
        self.args = args
        self.events: list[dict] = []
        self.responses: list[dict] = []
        self.errors: list[str] = []
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        self._lock = threading.Lock()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        _watches.add(self)

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.responses.append(r)
                for e in r.get("Events") or r.get("events") or []:
                    kv = e.get("kv", {})
                    self.events.append({"key": _unb64(kv.get("key", "")), "value": _unb64(kv.get("value", "")),
                                        "mod_revision": int(kv.get("mod_revision", 0)),
                                        "type": "DELETE" if e.get("type") in (1, "DELETE") else "PUT"})

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            with self._lock:
                self.errors.append(line.rstrip())

    def wait_events(self, n: int, timeout: float = 10) -> list[dict]:
        """Wait until at least n events arrived; return them all."""
        return wait(lambda: len(self.events) >= n and list(self.events), f"{n} watch events", timeout)

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        _watches.discard(self)


_watches: "weakref.WeakSet[Watch]" = weakref.WeakSet()
atexit.register(lambda: [w.stop() for w in list(_watches)])


def connected_members(pid: int, cluster: Cluster) -> list[Member]:
    """The members whose client port process pid has an ESTABLISHED TCP connection to (from /proc)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except OSError:
        return []
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "01" and p[9] in inodes:  # 01 = ESTABLISHED
                        ports.add(int(p[2].split(":")[1], 16))
        except OSError:
            pass
    return [m for m in cluster.members if int(m.client_url.rsplit(":", 1)[1]) in ports]


LANE_COLORS = {"raft.recv": "tab:blue", "raft.send": "tab:cyan", "wal.save": "tab:orange",
               "wal.fsync": "tab:red", "raft.commit": "tab:green", "apply": "tab:purple",
               "mvcc.write": "tab:pink", "bbolt.commit": "tab:brown", "raft.propose": "tab:gray",
               "client.request": "lightgray"}


def timeline(ax, events: list[dict], lanes: list[str], t0: int = 0, unit: float = 1e6,
             title: str = "", marks: list[tuple[float, str]] | None = None) -> None:
    """Draw events [{member, name, start, end, label?}] (ns) as one lane per member.

    Short spans get a marker so they stay visible; marks are vertical lines (ns, label)."""
    y = {m: i for i, m in enumerate(lanes)}
    seen = set()
    for e in events:
        if e["member"] not in y:
            continue
        c = LANE_COLORS.get(e["name"], "black")
        x0, x1 = (e["start"] - t0) / unit, (e["end"] - t0) / unit
        lab = e["name"] if e["name"] not in seen else None
        seen.add(e["name"])
        ax.barh(y[e["member"]], max(x1 - x0, 0), left=x0, height=0.5, color=c, alpha=0.8, label=lab)
        ax.plot([x0], [y[e["member"]]], marker="|", color=c, markersize=14)
        if e.get("label"):
            ax.annotate(e["label"], (x0, y[e["member"]] + 0.3), fontsize=7, rotation=20)
    for x, lab in marks or []:
        ax.axvline((x - t0) / unit, color="black", linestyle="--", linewidth=1)
        ax.text((x - t0) / unit, 1.0, lab + " ", transform=ax.get_xaxis_transform(), fontsize=8,
                rotation=90, va="top", ha="right")
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(lanes)
    ax.set_ylim(-0.7, len(lanes) - 0.2)
    ax.invert_yaxis()
    ax.set_xlabel("ms" if unit == 1e6 else "s")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def show_events(w: dict) -> list[dict]:
    """A `tracer show --json` write's events as timeline() input (start/end in ns from the request)."""
    return [{"member": e["member"], "name": e["name"], "start": e["offset_ns"],
             "end": e["offset_ns"] + max(e.get("duration_ns", 0), 0), "label": ""} for e in w["events"]]


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (as the tracer's stats)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]
