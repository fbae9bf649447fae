"""The platform's folders are looked up only when needed, and are platformdirs' own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import platformdirs

from peerchat import dirs
from peerchat.files import Files


def test_starting_a_node_loads_neither_platformdirs_nor_difflib() -> None:
    # Each headless node of the bench's room of 100 kept 0.7 MiB of them for nothing.
    code = (
        "import sys, peerchat.cli, peerchat.headless, peerchat.node\n"
        "print(sorted({'platformdirs', 'difflib'} & set(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_the_folders_are_the_platforms() -> None:
    assert dirs.data() == Path(platformdirs.user_data_dir("peerchat"))
    assert dirs.config() == Path(platformdirs.user_config_dir("peerchat"))
    assert dirs.downloads() == Path(platformdirs.user_downloads_dir())


def test_fetched_files_go_to_the_platforms_downloads_unless_told() -> None:
    assert Files(None, None, iter(())).downloads == dirs.downloads()  # type: ignore[arg-type]
    here = Path("/tmp/here")
    assert Files(None, here, iter(())).downloads == here  # type: ignore[arg-type]
