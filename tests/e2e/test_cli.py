"""The command line: exit statuses (0, 2 for usage errors, 1 for runtime errors), what goes to stdout (only
the output asked for) and to stderr (every message), and that `llmgw keys new` applies the tenant-name rule
the configuration applies. These run the binary alone: no Kafka, PostgreSQL or Redis (no `cluster`)."""
import os
import re
import subprocess

import pytest

from conftest import SANITIZER_MARKERS, _env

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
