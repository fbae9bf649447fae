"""The platform's folders for PeerChat: its data, its rooms' secrets, the user's downloads.

``platformdirs`` is loaded the first time one of them is asked for, not at start: a node run
with ``--ephemeral`` that fetches nothing never needs it, and each of a hundred such nodes kept
a quarter of a MiB of it for nothing.
"""

from __future__ import annotations

from pathlib import Path


def data() -> Path:
    """Where each user's data dirs go unless ``--data-dir`` says otherwise."""
    import platformdirs

    return Path(platformdirs.user_data_dir("peerchat"))


def config() -> Path:
    """Where the secrets of rooms joined with ``/join`` are kept."""
    import platformdirs

    return Path(platformdirs.user_config_dir("peerchat"))


def downloads() -> Path:
    """Where fetched files go unless ``--downloads`` says otherwise."""
    import platformdirs

    return Path(platformdirs.user_downloads_dir())
