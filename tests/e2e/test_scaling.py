"""Scaling a workflow node with the management API while the workflow keeps answering."""
from __future__ import annotations

import concurrent.futures
import time

import httpx

from launcher import torchserve as ts


def test_scale_a_node_up_and_down_under_load(server, street_photos):
    photo = street_photos[6].read_bytes()
    statuses: list[int] = []
    done: list[bool] = []

    def client() -> None:
        with httpx.Client(timeout=180) as http:
            while not done:
                statuses.append(http.post(f"{server.inference}/wfpredict/fashion", content=photo).status_code)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(client) for _ in range(2)]
        time.sleep(2)
        up = ts.scale(server.management, "fashion__segmenter", 2)
        assert len(up) == 2 and all(w["status"] == "READY" for w in up)
        during = len(statuses)
        time.sleep(3)
        down = ts.scale(server.management, "fashion__segmenter", 1)
        assert len(down) == 1
        time.sleep(2)
        done.append(True)
        for f in futures:
            f.result(timeout=300)
    assert statuses and set(statuses) == {200}, statuses
    assert len(statuses) > during  # requests kept being answered after the scale-up
