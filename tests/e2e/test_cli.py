"""The command line: exit statuses (0, 2 for usage errors, 1 for runtime errors), what goes to stdout (only
the output asked for) and to stderr (every message), and that `llmgw keys new` applies the tenant-name rule
the configuration applies. These run the binary alone: no Kafka, PostgreSQL or Redis (no `cluster`)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, SANITIZER_MARKERS, _env

# The one rule of tenant names (lgw_config_check_tenant), as the messages state it.
RULE_EMPTY = "a tenant name must not be empty"
RULE_CHARS = "a tenant name may contain only ASCII letters, digits, '.', '_' and '-'"
RULE_LENGTH = "a tenant name is at most 63 characters long"


def llmgw(*args, **env):
    """Runs the binary with no LLMGW_* variables but those given; returns the CompletedProcess. Also run
    on the sanitizer build (scripts/test.sh), so no run may print a sanitizer report."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LLMGW_")}
    clean.update(env)
    out = subprocess.run([_env("LLMGW_BIN"), *args], capture_output=True, text=True, timeout=30, env=clean)
    for marker in SANITIZER_MARKERS:
        assert marker not in out.stderr, out.stderr
    return out


@pytest.mark.parametrize("tenant, rule", [
    ("bad:tenant", RULE_CHARS),
    ("a,b", RULE_CHARS),
    ("", RULE_EMPTY),
    ("x" * 200, RULE_LENGTH),
    ("x" * 64, RULE_LENGTH),
], ids=["colon", "comma", "empty", "200-chars", "64-chars"])
def test_keys_new_refuses_a_tenant_name_the_config_refuses(tenant, rule):
    """Before: exit 0 and a key line that `LLMGW_TENANT_KEYS` then refused (for 200 characters with
    'entry 1 is not `tenant:<64 hex sha256>`'). Now: exit 2, the rule on stderr, nothing on stdout; and the
    configuration refuses the same name with the same rule."""
    out = llmgw("keys", "new", "--tenant", tenant)
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert out.stderr == f"llmgw: invalid tenant name '{tenant}': {rule}\n"
    check = llmgw("config", "check", LLMGW_TENANT_KEYS=f"{tenant}:{'0' * 64}")
    assert check.returncode == 2, check
    if "," in tenant:  # the comma splits the entry in two: the config never even sees this name
        assert "tenant_keys: entry 1 is not `tenant:<64 hex sha256>`\n" in check.stderr
    else:
        assert f"tenant_keys: entry 1: {rule}\n" in check.stderr


@pytest.mark.parametrize("tenant", ["acme", "A-b_c.9", "x" * 63], ids=["plain", "punctuation", "63-chars"])
def test_keys_new_line_is_accepted_by_the_config(tenant):
    """A key for a valid name: the key and hash on stdout, the LLMGW_TENANT_KEYS entry on stderr, and
    that entry passes `llmgw config check`."""
    out = llmgw("keys", "new", "--tenant", tenant)
    assert out.returncode == 0, out
    key, sha = out.stdout.splitlines()
    assert re.fullmatch(r"key: lgw-[A-Za-z0-9_-]{44}", key)
    assert re.fullmatch(r"sha256: [0-9a-f]{64}", sha)
    m = re.search(r"LLMGW_TENANT_KEYS=(\S+)", out.stderr)
    assert m and m.group(1) == f"{tenant}:{sha[8:]}", out.stderr
    check = llmgw("config", "check", LLMGW_TENANT_KEYS=m.group(1))
    assert check.returncode == 0, check
    assert check.stdout == "configuration is valid\n"


# A configuration that cannot load: a command line that is wrong must be reported before it is read.
BROKEN_CONFIG = {"LLMGW_PORT": "not-a-port", "LLMGW_CONFIG": "/nonexistent/llmgw.json"}


@pytest.mark.parametrize("args, message", [
    (["frobnicate"], "llmgw: unknown command 'frobnicate'; see 'llmgw help'"),
    (["--frob"], "llmgw: unknown option '--frob'; see 'llmgw help'"),
    (["keys", "old"], "llmgw: unknown command 'keys old'; see 'llmgw help keys'"),
    (["keys", "new", "--tenant"], "llmgw: option '--tenant' needs a value; see 'llmgw help keys'"),
    (["keys", "new", "--tenant", "a", "--ttl", "1"], "llmgw: unknown option '--ttl'; see 'llmgw help keys'"),
    (["keys", "new"], "llmgw: 'keys new' needs --tenant TENANT; see 'llmgw help keys'"),
    (["config", "nope"], "llmgw: unknown command 'config nope'; see 'llmgw help config'"),
    (["config", "check", "--bogus"], "llmgw: unknown option '--bogus'; see 'llmgw help config'"),
    (["config", "docs", "extra"], "llmgw: unexpected argument 'extra'; see 'llmgw help config'"),
    (["worker", "--bogus"], "llmgw: unknown option '--bogus'; see 'llmgw help worker'"),
    (["ingress", "extra"], "llmgw: unexpected argument 'extra'; see 'llmgw help ingress'"),
    (["dev", "--config"], "llmgw: option '--config' needs a value; see 'llmgw help dev'"),
    (["help", "nope"], "llmgw: unknown command 'nope'; see 'llmgw help'"),
    (["version", "now"], "llmgw: unexpected argument 'now'; see 'llmgw help version'"),
])
def test_unknown_command_or_option_before_any_config(args, message):
    """Before: `llmgw frobnicate` loaded the configuration first, so a broken one printed its errors and
    never said the command was unknown; `config docs extra` printed the docs; `keys old` and `keys new --ttl 1`
    printed a bare usage line. Now: one line saying what is wrong and where to look, exit 2, nothing on
    stdout, the configuration never read."""
    out = llmgw(*args, **BROKEN_CONFIG)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", message + "\n")


def cmake_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(llmgw VERSION (\d+\.\d+\.\d+)", text).group(1)


@pytest.mark.parametrize("args", [["--version"], ["version"]])
def test_version(args):
    """Before: 'unknown command'. Now: the CMake project version and, when the build knew it, the git commit
    (a commit of this repository), on stdout."""
    out = llmgw(*args, **BROKEN_CONFIG)
    assert out.returncode == 0 and out.stderr == "", out
    m = re.fullmatch(r"llmgw (\S+)(?: \(git ([0-9a-f]{7,40})\))?\n", out.stdout)
    assert m, out.stdout
    assert m.group(1) == cmake_version()
    if m.group(2) and shutil.which("git") and (ROOT / ".git").exists():
        known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", m.group(2) + "^{commit}"])
        assert known.returncode == 0, f"{m.group(2)} is not a commit of {ROOT}"


COMMANDS = ["dev", "ingress", "worker", "ledger", "batch", "keys", "config", "help", "version"]


@pytest.mark.parametrize("args", [["help"], ["--help"], ["-h"]])
def test_help_lists_every_command(args):
    out = llmgw(*args, **BROKEN_CONFIG)
    assert out.returncode == 0 and out.stderr == "", out
    assert out.stdout.startswith("usage: llmgw <command> [options]\n")
    listed = re.findall(r"^  (\S+)", out.stdout, re.M)
    assert sorted(set(listed)) == sorted(COMMANDS), listed


def test_no_command_is_a_usage_error():
    out = llmgw()
    assert out.returncode == 2 and out.stdout == "", out
    assert out.stderr.startswith("usage: llmgw <command> [options]\n")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_for_one_command(command):
    """Before: `llmgw help keys` printed the whole list and `llmgw dev --help` was an unknown option. Now:
    the command's own usage on stdout, the same for `help COMMAND` and `COMMAND --help`, and `dev --help`
    neither reads the configuration nor starts anything."""
    out = llmgw("help", command, **BROKEN_CONFIG)
    assert out.returncode == 0 and out.stderr == "", out
    assert out.stdout.startswith(f"usage: llmgw {command}"), out.stdout
    assert "<command>" not in out.stdout
    if command in ("keys", "config", "batch"):  # commands with commands: `keys --help`, and `keys new --help`
        assert llmgw(command, "--help", **BROKEN_CONFIG).stdout == out.stdout
    inner = {"keys": ["keys", "new", "--help"], "config": ["config", "check", "--help"],
             "batch": ["batch", "submit", "--help"]}.get(command, [command, "--help"])
    again = llmgw(*inner, **BROKEN_CONFIG)
    assert (again.returncode, again.stdout, again.stderr) == (0, out.stdout, "")


def test_commands_with_commands_need_one():
    for command in ("keys", "config", "batch"):
        out = llmgw(command, **BROKEN_CONFIG)
        assert out.returncode == 2 and out.stdout == "", out
        assert out.stderr == llmgw("help", command).stdout


def test_config_docs_and_check_on_stdout():
    docs = llmgw("config", "docs", **BROKEN_CONFIG)  # docs never reads the configuration
    assert docs.returncode == 0 and docs.stderr == "", docs
    assert docs.stdout.startswith("# llmgw configuration\n")
    check = llmgw("config", "check")
    assert (check.returncode, check.stdout, check.stderr) == (0, "configuration is valid\n", "")
    bad = llmgw("config", "check", LLMGW_PORT="not-a-port")
    assert bad.returncode == 2 and bad.stdout == "", bad
    assert bad.stderr == "llmgw: invalid configuration:\nport (LLMGW_PORT): expected an integer from 1 to 65535\n"


def test_config_file_that_cannot_be_read(tmp_path):
    """Before: '/x.json:-1: unable to open /x.json: No such file or directory', as if a JSON error. Now:
    'cannot read FILE: <strerror(errno)>', whether the file is named by --config or LLMGW_CONFIG, and the
    role does not start (exit 2)."""
    missing = tmp_path / "missing.json"
    want = f"llmgw: invalid configuration:\ncannot read {missing}: No such file or directory\n"
    for out in (llmgw("config", "check", "--config", str(missing)),
                llmgw("ingress", "--config", str(missing)),
                llmgw("worker", LLMGW_CONFIG=str(missing))):
        assert (out.returncode, out.stdout, out.stderr) == (2, "", want)
    out = llmgw("config", "check", "--config", str(tmp_path))
    assert (out.returncode, out.stderr) == (2, f"llmgw: invalid configuration:\ncannot read {tmp_path}: Is a directory\n")
    bad = tmp_path / "bad.json"
    bad.write_text('{"port": }')
    out = llmgw("config", "check", "--config", str(bad))  # a JSON error keeps its line number
    assert (out.returncode, out.stderr) == (2, f"llmgw: invalid configuration:\n{bad}:1: unexpected token near '}}'\n")


def test_config_docs_match_docs_config_md():
    """docs/CONFIG.md is `llmgw config docs` (CONTRIBUTING: regenerate it with every new setting)."""
    assert llmgw("config", "docs").stdout == (ROOT / "docs" / "CONFIG.md").read_text()
