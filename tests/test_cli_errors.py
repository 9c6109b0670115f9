"""A user's mistake on the command line is one line, `azvm: <what is wrong>: expected ...`, and exit 2.

Never a traceback, and nothing written: no data directory for a refused `azvm serve`, no output file
for a refused `azvm bill -o` or `azvm states-doc -o`. Most cases call `azvm.cli.main` in-process (the
parsing, the checks and the handler are all there); a few run `azvm` as a user types it, to prove the
wiring of the entry point.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azvm import cli, server

SUB = "00000000-0000-0000-0000-000000000000"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
HISTORY = ("vm_id,size,region,os,time,power_state\n"
           f"{VM_ID},Standard_D2s_v3,eastus,Linux,2026-01-01T00:00:00Z,PowerState/running\n"
           f"{VM_ID},Standard_D2s_v3,eastus,Linux,2026-01-01T02:00:00Z,VM deallocated\n")


def make_files(root: Path) -> dict[str, str]:
    """Every kind of file a user may hand over by mistake, and one good history."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "history": ("history.csv", HISTORY),
        "notjson": ("notjson.json", "this is not JSON\n"),
        "shape": ("shape.json", '{"Items": 5, "hello": [1, 2]}'),
        "list": ("list.json", "[1, 2, 3]"),
        "number": ("number.json", "5"),
        "deep": ("deep.json", "[" * 100_000 + "]" * 100_000),
        "bigint": ("bigint.json", '{"Items": [{"retailPrice": ' + "9" * 5000 + "}]}"),
        "empty": ("empty.json", ""),
        "badrows": ("badrows.csv", "vm_id,size,region,os,time,power_state\n"
                                   f"{VM_ID},Standard_D2s_v3,eastus,Linux,yesterday,flying\n"),
    }
    out = {}
    for key, (name, text) in files.items():
        (root / name).write_text(text, encoding="utf-8")
        out[key] = str(root / name)
    (root / "binary.json").write_bytes(b"\xff\xfe\x00garbage\x80")
    out["binary"] = str(root / "binary.json")
    (root / "adir").mkdir(exist_ok=True)
    out["dir"] = str(root / "adir")
    out["missing"] = str(root / "no-such-file.json")
    out["under_file"] = str(root / "history.csv" / "below")
    return out


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AZVM_"):
            monkeypatch.delenv(name)


def assert_refused(rc: int, err: str, *fragments: str) -> None:
    """Exit 2, one line on stderr that starts with `azvm: ` and names the problem, no traceback."""
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("azvm: "), err
    for f in fragments:
        assert f in lines[0], (f, err)


# -- azvm serve ----------------------------------------------------------------------------------
# (id, argv after `serve` with {placeholders} for the files, environment, fragments the line must hold)
SERVE_CASES: list[tuple[str, list[str], dict[str, str], tuple[str, ...]]] = [
    ("port-text", ["--port", "abc"], {}, ("--port", "'abc'", "0 to 65535")),
    ("port-negative", ["--port=-1"], {}, ("--port", "0 to 65535")),
    ("port-too-big", ["--port", "65536"], {}, ("--port", "0 to 65535")),
    ("port-env", [], {"AZVM_PORT": "abc"}, ("--port", "AZVM_PORT", "0 to 65535")),
    ("port-env-big", [], {"AZVM_PORT": "99999"}, ("AZVM_PORT",)),
    ("clock-speed-negative", ["--clock-speed=-2"], {}, ("--clock-speed", "above 0")),
    ("clock-speed-zero", ["--clock-speed", "0"], {}, ("--clock-speed", "--manual-clock")),
    ("clock-speed-nan", ["--clock-speed", "nan"], {}, ("--clock-speed",)),
    ("clock-speed-inf", ["--clock-speed", "inf"], {}, ("--clock-speed",)),
    ("clock-speed-env", [], {"AZVM_CLOCK_SPEED": "fast"}, ("AZVM_CLOCK_SPEED",)),
    ("poll-delay-negative", ["--poll-delay=-1"], {}, ("--poll-delay", "0 to 3600")),
    ("poll-delay-nan", ["--poll-delay", "NaN"], {}, ("--poll-delay",)),
    ("poll-delay-env", [], {"AZVM_POLL_DELAY": "-5"}, ("AZVM_POLL_DELAY",)),
    ("workers-zero", ["--workers", "0"], {}, ("--workers", "at least 1")),
    ("workers-env", [], {"AZVM_WORKERS": "two"}, ("AZVM_WORKERS",)),
    ("page-size-zero", ["--page-size", "0"], {}, ("--page-size", "at least 1")),
    ("page-size-env", [], {"AZVM_PAGE_SIZE": "1.5"}, ("AZVM_PAGE_SIZE",)),
    ("seed-text", ["--seed", "x"], {}, ("--seed", "an integer")),
    ("seed-env", [], {"AZVM_SEED": "x"}, ("AZVM_SEED",)),
    ("start-time-word", ["--start-time", "yesterday"], {}, ("--start-time", "ISO 8601")),
    ("start-time-no-zone", ["--start-time", "2026-01-01T00:00:00"], {}, ("--start-time", "no time zone")),
    ("start-time-garbage", ["--start-time", "2026-13-45T99:00:00Z"], {}, ("--start-time",)),
    ("start-time-env", [], {"AZVM_START_TIME": "now"}, ("AZVM_START_TIME",)),
    ("start-time-past-the-end", ["--start-time", "9999-12-31T23:59:59-10:00"], {}, ("--start-time", "9999-12-31")),
    ("time-skipping", ["--time-skipping", "maybe"], {}, ("--time-skipping", "on, off")),
    ("time-skipping-env", [], {"AZVM_TIME_SKIPPING": "yes"}, ("AZVM_TIME_SKIPPING",)),
    ("profile", ["--profile", "slow"], {}, ("--profile", "azure, fast")),
    ("profile-env", [], {"AZVM_PROFILE": "slow"}, ("AZVM_PROFILE",)),
    ("durability-env", [], {"AZVM_DURABILITY": "paranoid"}, ("AZVM_DURABILITY", "normal, full")),
    ("in-memory-env", [], {"AZVM_IN_MEMORY": "maybe"}, ("AZVM_IN_MEMORY",)),
    ("no-tls-env", [], {"AZVM_NO_TLS": "2"}, ("AZVM_NO_TLS",)),
    ("manual-clock-env", [], {"AZVM_MANUAL_CLOCK": "si"}, ("AZVM_MANUAL_CLOCK",)),
    ("host", ["--host", "a/b"], {}, ("--host",)),
    ("allow-host", ["--allow-host", "evil host"], {}, ("--allow-host",)),
    ("allow-host-empty", ["--allow-host", ""], {}, ("--allow-host",)),
    ("allow-hosts-env", [], {"AZVM_ALLOW_HOSTS": "ok.test,,x"}, ("--allow-host", "AZVM_ALLOW_HOSTS")),
    ("prices-missing", ["--prices", "{missing}"], {}, ("--prices", "no such file")),
    ("prices-dir", ["--prices", "{dir}"], {}, ("--prices", "a directory")),
    ("prices-device", ["--prices", "/dev/zero"], {}, ("--prices", "not a regular file")),
    ("prices-not-json", ["--prices", "{notjson}"], {}, ("--prices", "not valid JSON")),
    ("prices-shape", ["--prices", "{shape}"], {}, ("--prices", "Items")),
    ("prices-list", ["--prices", "{list}"], {}, ("--prices", "item 1")),
    ("prices-binary", ["--prices", "{binary}"], {}, ("--prices", "UTF-8")),
    ("prices-deep", ["--prices", "{deep}"], {}, ("--prices",)),
    ("prices-env", [], {"AZVM_PRICES": "{missing}"}, ("--prices", "AZVM_PRICES")),
    ("rules-unknown", ["--billing-rules", "docs-2099"], {}, ("--billing-rules", "docs-2021")),
    ("rules-not-json", ["--billing-rules", "{notjson}"], {}, ("--billing-rules", "not valid JSON")),
    ("rules-shape", ["--billing-rules", "{shape}"], {}, ("--billing-rules", "rule set field")),
    ("rules-number", ["--billing-rules", "{number}"], {}, ("--billing-rules",)),
    ("rules-dir", ["--billing-rules", "{dir}"], {}, ("--billing-rules",)),
    ("rules-env", [], {"AZVM_BILLING_RULES": "nope"}, ("--billing-rules", "AZVM_BILLING_RULES")),
    ("data-dir-is-a-file", ["--data-dir", "{history}"], {}, ("--data-dir", "not a directory")),
    ("data-dir-under-a-file", ["--data-dir", "{under_file}"], {}, ("--data-dir", "not a directory")),
    ("workers-in-memory", ["--workers", "2", "--in-memory"], {}, ("--in-memory",)),
    ("workers-seed", ["--workers", "2", "--seed", "1"], {}, ("--seed",)),
    ("unknown-flag", ["--colour"], {}, ("--colour",)),
]


@pytest.mark.parametrize("argv, env, fragments", [c[1:] for c in SERVE_CASES], ids=[c[0] for c in SERVE_CASES])
@pytest.mark.usefixtures("clean_env")
def test_serve_refuses_a_bad_value_in_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str], env: dict[str, str], fragments: tuple[str, ...]) -> None:
    files = make_files(tmp_path / "files")
    data = tmp_path / "data"
    for k, v in env.items():
        monkeypatch.setenv(k, v.format(**files))
    given_dir = "--data-dir" in argv or "--in-memory" in argv
    rc = cli.main(["serve", *[a.format(**files) for a in argv], *([] if given_dir else ["--data-dir", str(data)])])
    assert_refused(rc, capsys.readouterr().err, *fragments)
    assert not data.exists()
    assert not (tmp_path / "files" / "history.csv" / "below").exists()


def test_a_data_dir_holding_something_else_than_a_store_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "azvm.sqlite3").write_text("not a database, " * 100)
    rc = cli.main(["serve", "--data-dir", str(data), "--no-tls"])
    assert_refused(rc, capsys.readouterr().err, "--data-dir", "not a database")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_data_dir_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    rc = cli.main(["serve", "--data-dir", str(locked / "data")])
    assert_refused(rc, capsys.readouterr().err, "--data-dir", "permission denied")
    assert not (locked / "data").exists()


def test_a_data_dir_in_use_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None) -> None:
    holder = server.build(server.Options(data_dir=str(tmp_path / "d"), tls=False))
    try:
        before = sorted(p.name for p in (tmp_path / "d").iterdir())
        rc = cli.main(["serve", "--data-dir", str(tmp_path / "d"), "--no-tls"])
        assert_refused(rc, capsys.readouterr().err, "in use", f"process {os.getpid()}", "--data-dir")
        assert sorted(p.name for p in (tmp_path / "d").iterdir()) == before
    finally:
        holder.close()


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_env: None) -> None:
    def broken(opts: server.Options) -> server.Emulator:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server, "build", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["serve", "--data-dir", str(tmp_path / "d"), "--no-tls"])


def test_allow_host_reaches_the_server_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               clean_env: None) -> None:
    seen: list[server.Options] = []

    def build(opts: server.Options) -> server.Emulator:
        seen.append(opts)
        raise RuntimeError("stop here")

    monkeypatch.setattr(server, "build", build)
    base = ["serve", "--data-dir", str(tmp_path / "d"), "--no-tls"]
    with pytest.raises(RuntimeError, match="stop here"):
        cli.main(base)
    monkeypatch.setenv("AZVM_ALLOW_HOSTS", "from-env.test, 10.0.0.7")
    for argv in (base, [*base, "--allow-host", "a.test", "--allow-host", "[::1]", "--allow-host", "*"]):
        with pytest.raises(RuntimeError, match="stop here"):
            cli.main(argv)
    assert [o.allowed_hosts for o in seen] == [[], ["from-env.test", "10.0.0.7"], ["a.test", "[::1]", "*"]]


# -- azvm bill and azvm states-doc ---------------------------------------------------------------
BILL_CASES: list[tuple[str, list[str], dict[str, str], tuple[str, ...]]] = [
    ("from-word", ["--from", "yesterday"], {}, ("--from", "'yesterday'", "ISO 8601")),
    ("from-no-zone", ["--from", "2026-01-01T00:00:00"], {}, ("--from", "no time zone")),
    ("from-date-only", ["--from", "2026-01-01"], {}, ("--from", "no time zone")),
    ("to-garbage", ["--to", "2026-02-30T00:00:00Z"], {}, ("--to",)),
    ("to-before-from", ["--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], {},
     ("--to", "ends before it starts")),
    ("prices-missing", ["--prices", "{missing}"], {}, ("--prices", "no such file")),
    ("prices-dir", ["--prices", "{dir}"], {}, ("--prices", "a directory")),
    ("prices-not-json", ["--prices", "{notjson}"], {}, ("--prices", "not valid JSON")),
    ("prices-empty", ["--prices", "{empty}"], {}, ("--prices", "not valid JSON")),
    ("prices-number", ["--prices", "{number}"], {}, ("--prices", "expected")),
    ("prices-bigint", ["--prices", "{bigint}"], {}, ("--prices",)),
    ("prices-env", [], {"AZVM_PRICES": "{dir}"}, ("AZVM_PRICES",)),
    ("rules-unknown", ["--rules", "cheap"], {}, ("--rules", "docs-2021")),
    ("rules-shape", ["--rules", "{list}"], {}, ("--rules", "expected a JSON object")),
    ("rules-deep", ["--rules", "{deep}"], {}, ("--rules",)),
    ("rules-binary", ["--rules", "{binary}"], {}, ("--rules", "UTF-8")),
    ("rules-env", [], {"AZVM_BILLING_RULES": "{notjson}"}, ("--rules", "not valid JSON")),
    ("history-missing", ["--history", "{missing}"], {}, ("--history", "no such file")),
    ("history-dir", ["--history", "{dir}"], {}, ("--history", "a directory")),
    ("history-binary", ["--history", "{binary}"], {}, ("--history", "UTF-8")),
    ("data-dir-empty", ["--data-dir", "{dir}"], {}, ("--data-dir", "no store")),
    ("data-dir-env", [], {"AZVM_DATA_DIR": "{missing}"}, ("--data-dir", "no store")),
    ("explain-unknown", ["--explain", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/"
                                     "virtualMachines/nobody"], {}, ("--explain", "nobody")),
    ("output-dir", ["-o", "{dir}"], {}, ("--output", "a directory")),
    ("output-no-dir", ["-o", "{under_file}"], {}, ("--output", "no such directory")),
    ("group-by", ["--group-by", "colour"], {}, ("--group-by",)),
]


@pytest.mark.parametrize("argv, env, fragments", [c[1:] for c in BILL_CASES], ids=[c[0] for c in BILL_CASES])
@pytest.mark.usefixtures("clean_env")
def test_bill_refuses_a_bad_value_in_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str], env: dict[str, str], fragments: tuple[str, ...]) -> None:
    files = make_files(tmp_path / "files")
    for k, v in env.items():
        monkeypatch.setenv(k, v.format(**files))
    args = [a.format(**files) for a in argv]
    own_source = {"--history", "--data-dir"} & set(args) or "AZVM_DATA_DIR" in env
    source = [] if own_source else ["--history", files["history"]]
    out = [] if "-o" in args else ["-o", str(tmp_path / "out.txt")]
    before = sorted(p.name for p in (tmp_path / "files").iterdir())
    rc = cli.main(["bill", *source, *args, *out])
    assert_refused(rc, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "out.txt").exists()
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == before


def test_bill_of_a_file_that_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            clean_env: None) -> None:
    (tmp_path / "azvm.sqlite3").write_text("not a database, " * 100)
    rc = cli.main(["bill", "--data-dir", str(tmp_path)])
    assert_refused(rc, capsys.readouterr().err, "--data-dir", "not a database")


def test_malformed_history_rows_are_listed_under_one_azvm_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None) -> None:
    files = make_files(tmp_path)
    rc = cli.main(["bill", "--history", files["badrows"]])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    first, *problems = err.splitlines()
    assert first.startswith("azvm: ") and "malformed" in first
    assert problems and all(p.startswith("  line 2") for p in problems)


@pytest.mark.parametrize("target", ["{dir}", "{under_file}"])
def test_states_doc_refuses_an_unwritable_output(target: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    files = make_files(tmp_path)
    rc = cli.main(["states-doc", "-o", target.format(**files)])
    assert_refused(rc, capsys.readouterr().err, "--output")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    rc = cli.main(["states-doc", "-o", str(locked / "states.md")])
    assert_refused(rc, capsys.readouterr().err, "--output", "ermission denied")


@pytest.fixture
def locked_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files named `locked.*` answer as a file that its owner locked would (tests run as root too)."""
    read, write = Path.read_text, Path.write_text

    def denied(p: Path) -> None:
        if p.name.startswith("locked."):
            raise PermissionError(13, "Permission denied", str(p))

    def read_text(self: Path, *a: object, **kw: object) -> str:
        denied(self)
        return read(self, *a, **kw)  # type: ignore[arg-type]

    def write_text(self: Path, *a: object, **kw: object) -> int:
        denied(self)
        return write(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("argv", [
    ["bill", "--history", "{history}", "--prices", "{locked}"],
    ["bill", "--history", "{history}", "--rules", "{locked}"],
    ["bill", "--history", "{history}", "-o", "{locked}"],
    ["serve", "--data-dir", "{data}", "--prices", "{locked}"],
    ["serve", "--data-dir", "{data}", "--billing-rules", "{locked}"],
    ["states-doc", "-o", "{locked}"],
])
@pytest.mark.usefixtures("clean_env", "locked_files")
def test_an_unreadable_or_unwritable_file_is_one_line(argv: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    files = make_files(tmp_path)
    locked = tmp_path / "locked.json"
    if "-o" not in argv:
        locked.write_bytes(b"{}")
    rc = cli.main([a.format(**files, locked=locked, data=tmp_path / "data") for a in argv])
    assert_refused(rc, capsys.readouterr().err, "Permission denied", argv[-2])
    assert not (tmp_path / "data").exists()
    assert locked.exists() == ("-o" not in argv)


def test_a_good_bill_still_writes_its_output(tmp_path: Path, clean_env: None) -> None:
    files = make_files(tmp_path)
    out = tmp_path / "bill.json"
    assert cli.main(["bill", "--history", files["history"], "--format", "json", "-o", str(out)]) == 0
    assert '"ruleSet"' in out.read_text()


# -- arbitrary text in the time and file flags of `azvm bill` ------------------------------------
@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


@pytest.fixture(scope="module")
def hfiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_files(tmp_path_factory.mktemp("cli-hypothesis"))


TIMES = st.one_of(st.text(), st.datetimes().map(lambda d: d.isoformat()),
                  st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--from", "--to"]), value=TIMES)
def test_any_text_in_a_time_flag_bills_or_is_one_line(hfiles: dict[str, str], clean_env: None, flag: str,
                                                      value: str) -> None:
    with captured() as (_out, err):
        rc = cli.main(["bill", "--history", hfiles["history"], f"{flag}={value}"])
    if rc != 0:  # a start after the data's end is told about --to
        assert_refused(rc, err.getvalue())
        assert "argument --from" in err.getvalue() or "argument --to" in err.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--prices", "--rules", "--history"]),
       content=st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")),
                         st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                                      lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids))
                         .map(repr)),
       as_path=st.booleans())
def test_any_file_or_path_in_a_file_flag_is_read_or_one_line(
        tmp_path_factory: pytest.TempPathFactory, hfiles: dict[str, str], clean_env: None, flag: str, content: str,
        as_path: bool) -> None:
    if as_path:
        value = content  # the text itself as a path: almost never a file, sometimes not even a valid path
    else:
        target = tmp_path_factory.mktemp("f") / "given.json"
        target.write_text(content, encoding="utf-8", errors="surrogateescape")
        value = str(target)
    source = [] if flag == "--history" else ["--history", hfiles["history"]]
    with captured() as (_out, err):
        rc = cli.main(["bill", *source, f"{flag}={value}"])
    if rc == 0:
        return
    text = err.getvalue()
    if flag == "--history" and "malformed row" in text.splitlines()[0]:
        assert rc == 2 and all(line.startswith("  ") for line in text.splitlines()[1:]), text
        return
    assert_refused(rc, text, flag)


# -- as a user types it --------------------------------------------------------------------------
def run_azvm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AZVM_")}
    return subprocess.run([sys.executable, "-m", "azvm", *args], capture_output=True, text=True, timeout=60,
                          env={**base, **(env or {})})


def test_as_typed_a_bad_environment_value_is_one_line(tmp_path: Path) -> None:
    r = run_azvm("serve", "--data-dir", str(tmp_path / "d"), env={"AZVM_PORT": "abc"})
    assert_refused(r.returncode, r.stderr, "AZVM_PORT")
    assert not (tmp_path / "d").exists()
    # a variable only `serve` reads does not stop `azvm bill`
    files = make_files(tmp_path / "f")
    ok = run_azvm("bill", "--history", files["history"], "--format", "csv", env={"AZVM_PORT": "abc"})
    assert ok.returncode == 0 and ok.stdout.startswith("Date,"), ok.stderr


def test_as_typed_bad_serve_files_write_nothing(tmp_path: Path) -> None:
    files = make_files(tmp_path / "f")
    r = run_azvm("serve", "--data-dir", str(tmp_path / "d"), "--prices", files["shape"])
    assert_refused(r.returncode, r.stderr, "--prices")
    assert not (tmp_path / "d").exists()


def test_as_typed_bill_and_states_doc(tmp_path: Path) -> None:
    files = make_files(tmp_path / "f")
    r = run_azvm("bill", "--history", files["history"], "--from", "yesterday", "-o", str(tmp_path / "o.csv"))
    assert_refused(r.returncode, r.stderr, "--from")
    r = run_azvm("states-doc", "-o", files["under_file"])
    assert_refused(r.returncode, r.stderr, "--output")
    assert not (tmp_path / "o.csv").exists()

