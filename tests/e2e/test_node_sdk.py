"""The official `openai` npm package (pinned in tests/e2e/node/package.json) streams a chat completion
through the production-mode gateway, unmodified."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


def test_npm_openai_streamed_chat(cluster):
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("tests/e2e/node/node_modules is missing: scripts/test.sh runs npm ci there", pytrace=False)
    node = shutil.which("node")
    assert node, "node is not installed"
    cluster.ledger()
    cluster.worker("w1")
    _, port = cluster.ingress("i1")
    out = subprocess.run([node, "stream_chat.mjs", f"http://127.0.0.1:{port}/v1", cluster.key, "echo",
                          "streamed from node"], cwd=NODE_DIR, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["text"] == "streamed from node"
    assert result["chunks"] >= 5  # role, three words, finish, usage
    assert result["usage"]["completion_tokens"] > 0
