"""scripts/system-deps brings every system command the suite runs, or names it in its error.

The needs are found in the repository, not listed here: every system command the tests and the
code start (a literal ``/usr/bin/…`` path, ``shutil.which("…")``, or the first word of a
``subprocess``/``asyncio`` spawn), every command scripts/services and .ci/run run, and what the
card stack needs that is not a command (the vpcd reader, pyscard's build). Each must come from
the script's table — or from Debian's Essential packages, which every Debian system has.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from card_service.reader.pcsc import INSTALL

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "system-deps"
PACKAGES = ["renkei", "hub", "token_service", "agencies", "pki", "card_service", "portal"]
SHELL_SCRIPTS = [ROOT / ".ci" / "run", *(p for p in (ROOT / "scripts").iterdir() if p != SCRIPT)]

# Commands of Debian's Essential packages (bash, coreutils, grep, sed, util-linux, login)
ESSENTIAL = {"bash", "sh", "cat", "dirname", "head", "id", "ls", "od", "rm", "seq", "sleep"}
ESSENTIAL |= {"su", "tr", "touch", "grep", "sed", "env", "mkdir"}

# What the suite needs that is not a command it runs: (where, what shows it, the package)
NOT_COMMANDS = [
    ("tests", "Virtual PCD", "vsmartcard-vpcd"),  # the card tests' reader
    ("pyproject.toml", '"pyscard', "libpcsclite-dev"),  # pip builds pyscard: winscard.h,
    ("pyproject.toml", '"pyscard', "gcc"),  # a C compiler
    ("pyproject.toml", '"pyscard', "python3-dev"),  # and Python.h
]

SYSTEM_PATH = re.compile(r"^/(?:usr/)?s?bin/([\w.+-]+)$")
SPAWN = {
    ("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "call"),
    ("subprocess", "check_call"), ("subprocess", "check_output"),
    ("asyncio", "create_subprocess_exec"), ("asyncio", "create_subprocess_shell"),
    ("os", "system"), ("os", "execv"), ("os", "execvp"), ("shutil", "which"),
}  # fmt: skip


def needs_table() -> list[tuple[str, str]]:
    """The script's table: (file, package) per line."""
    text = SCRIPT.read_text()
    body = text.split("NEEDS='\n", 1)[1].split("\n'\n", 1)[0]
    return [(line.split()[0], line.split()[1]) for line in body.splitlines() if line.strip()]


def script_commands() -> dict[str, str]:
    """Command name → package, for the table's executables."""
    return {
        Path(file).name: pkg
        for file, pkg in needs_table()
        if re.match(r"^/usr/s?bin/", file)
    }  # fmt: skip


def _first_word(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        return _first_word(node.elts[0], constants)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return Path(shlex.split(node.value)[0]).name
    if isinstance(node, ast.Name) and node.id in constants:
        return Path(shlex.split(constants[node.id])[0]).name
    return None


def python_commands(path: Path) -> set[str]:
    """The system commands one Python file starts or looks for."""
    tree = ast.parse(path.read_text(), str(path))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets if isinstance(target, ast.Name)
    }  # fmt: skip
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(SYSTEM_PATH.findall(node.value))
        elif isinstance(node, ast.Call) and (word := _spawned(node, constants)) is not None:
            found.add(word)
    return found


def _spawned(call: ast.Call, constants: dict[str, str]) -> str | None:
    """The command a ``subprocess``/``asyncio``/``os`` spawn or ``shutil.which`` names."""
    func = call.func
    if (
        isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) in SPAWN and call.args
    ):  # fmt: skip
        return _first_word(call.args[0], constants)
    return None


SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "{", "}"}
LEAD_COMMAND = {"if", "then", "else", "elif", "do", "while", "until", "!", "time"}
BUILTINS = {"fi", "done", "esac", "case", "in", "return", "local", "shift", "set", "export"}
BUILTINS |= {"echo", "printf", "cd", "exit", "command", "true", "false", "read", "wait", "trap"}
BUILTINS |= {"unset", "declare", "break", "continue", "test", "[", "[[", "source", ".", "pwd"}
WRAPPERS = {"exec": 0, "sudo": 0, "nice": 0, "timeout": 1}  # run the word after N arguments


def shell_commands(path: Path) -> set[str]:
    """The commands a bash script runs (its own functions taking a command are wrappers too:
    ``wait_for NAME COMMAND…``)."""
    text = path.read_text().replace("\\\n", " ")
    functions = set(re.findall(r"^([\w-]+)\(\)", text, re.MULTILINE))
    wrappers = WRAPPERS | dict.fromkeys(functions & {"wait_for"}, 1)
    lines = text.splitlines()
    found: set[str] = set()
    while lines:
        line = lines.pop()
        for inner in re.findall(r"\$\(([^()]*)\)", line):  # command substitutions
            lines.append(inner)
        line = re.sub(r"\$\(([^()]*)\)", "SUBST", line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.commenters = "#"
        expect, skip, in_for = True, 0, False
        for token in lexer:
            if token in SEPARATORS:
                expect, skip = True, 0
            elif in_for:
                in_for = token != "do"
                expect = not in_for
            elif not expect:
                continue
            elif skip:
                skip -= 1
            elif token == "for":
                in_for = True
            elif token in LEAD_COMMAND or re.match(r"^[A-Za-z_]\w*=", token):
                pass  # a command follows (an assignment prefixes one)
            elif token in wrappers:
                skip = wrappers[token]
            elif token in BUILTINS or token in functions or token.startswith(("$", "scripts/")):
                expect = False  # a builtin, a function, a variable, or one of our own scripts
            else:
                found.add(Path(token).name)
                expect = False
    return found


def suite_commands() -> set[str]:
    files = [*(ROOT / "tests").rglob("*.py")]
    for package in PACKAGES:
        files += (ROOT / package).rglob("*.py")
    found: set[str] = set()
    for f in files:
        found |= python_commands(f)
    for script in SHELL_SCRIPTS:
        found |= shell_commands(script)
    return found


def test_the_scan_finds_the_commands_it_must() -> None:
    """Not a vacuous scan: the commands the suite is known to run are found."""
    known = {"openssl", "chromium", "make", "pcscd", "rabbitmqctl", "rabbitmq-server"}
    known |= {"rabbitmq-plugins", "curl", "pg_ctlcluster", "pg_isready", "psql", "pgrep"}
    assert known <= suite_commands()


def test_every_command_the_suite_runs_comes_from_the_script() -> None:
    provided = script_commands()
    unknown = sorted(suite_commands() - provided.keys() - ESSENTIAL)
    assert not unknown, f"add these to scripts/system-deps's table: {unknown}"


def test_every_non_command_need_is_in_the_table() -> None:
    packages = {pkg for _, pkg in needs_table()}
    for where, evidence, package in NOT_COMMANDS:
        paths = [ROOT / where] if (ROOT / where).is_file() else (ROOT / where).rglob("*.py")
        if any(evidence in p.read_text() for p in paths):
            assert package in packages, f"{evidence!r} in {where} needs {package}"


def test_the_pcsc_error_names_only_packages_the_script_installs() -> None:
    named = INSTALL.split("apt-get install ", 1)[1].split(",", 1)[0].split()
    assert set(named) <= {pkg for _, pkg in needs_table()}
    assert "pip install 'renkei[card]'" in INSTALL


def run_script(env: dict[str, str], user: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "PY": sys.executable, **env}
    argv = [str(SCRIPT)]
    if user is not None:  # as root: the same check as an ordinary user, who cannot install
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        argv = ["su", user, "-s", "/bin/bash", "-c", f"{assignments} {shlex.quote(str(SCRIPT))}"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


USERS = [None, "nobody"] if os.geteuid() == 0 else [None]


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
def test_when_nothing_is_there_the_error_is_the_exact_apt_get_command(
    tmp_path: Path, user: str | None
) -> None:
    """On an empty system root (which the script never installs into) every package is
    missing: it stops and prints the one command line that installs them all — those whose
    Recommends nothing needs (docker-compose's: a container engine) without them."""
    done = run_script({"RENKEI_SYSTEM_ROOT": str(tmp_path)}, user)
    assert done.returncode == 1, done.stderr
    root = user is None and os.geteuid() == 0
    sudo = "" if root else "sudo "
    command = next(ln.strip() for ln in done.stderr.splitlines() if "apt-get install" in ln)
    update, with_recommends, bare = command.split(" && ")
    assert update == f"{sudo}apt-get update"
    assert with_recommends.startswith(f"{sudo}apt-get install -y "), command
    bare_ones = "docker-compose prometheus"
    assert bare == f"{sudo}apt-get install -y --no-install-recommends {bare_ones}", command
    named = [
        *with_recommends.removeprefix(f"{sudo}apt-get install -y ").split(),
        *bare_ones.split(),
    ]
    assert sorted(named) == sorted({pkg for _, pkg in needs_table()})
    provided = script_commands()
    for cmd in suite_commands() - ESSENTIAL:
        assert provided[cmd] in named, cmd
    for _, _, package in NOT_COMMANDS:
        assert package in named
    for file, _ in needs_table():  # and says which file was missing
        assert Path(file).name in done.stderr


def test_this_machine_has_everything_so_the_script_is_silent() -> None:
    """`make test` ran the script before the tests: here it finds every file and says nothing
    (RENKEI_NO_INSTALL: a test never installs; when this fails, its message says what to do)."""
    done = run_script({"RENKEI_NO_INSTALL": "1"})
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
