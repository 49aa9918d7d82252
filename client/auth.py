"""The access token for a URL: explicit, $GOOGLE_ACCESS_TOKEN, or the gcloud CLI for *.googleapis.com."""
from __future__ import annotations

import os
import shutil
import subprocess


def access_token(url: str, explicit: str | None = None) -> str | None:
    token = explicit or os.environ.get("GOOGLE_ACCESS_TOKEN")
    if token or "googleapis.com" not in url:
        return token
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise SystemExit("a googleapis.com URL needs a token: pass --token or install the gcloud CLI")
    return subprocess.run([gcloud, "auth", "print-access-token"], check=True, capture_output=True,
                          text=True).stdout.strip()
