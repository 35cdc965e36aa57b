"""recipes.py: the README's shell recipes for the agent: a marked section's code blocks, and a
runner that runs one as written (bash -euo pipefail, with $H, $V and $PASS set)."""
import os
import re
import subprocess

from agent import PASSWORD
from vigil import ROOT, scaled


def readme_blocks(marker, lang="sh"):
    """The `lang` code blocks between <!-- marker --> and <!-- /marker --> in README.md, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- %s -->" % marker)[1].split("<!-- /%s -->" % marker)[0]
    return re.findall(r"```%s\n(.*?)```" % re.escape(lang), section, re.S)


def run_recipe(agent, workdir, script):
    """Runs script in workdir against agent; fails the test unless it exits 0; its stdout."""
    env = dict(os.environ, H=agent.base, V=agent.base + "/redfish/v1", PASS=PASSWORD)
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=scaled(120))
    assert p.returncode == 0, (script, p.stdout, p.stderr)
    return p.stdout
