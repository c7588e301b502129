"""A Sparkplug B edge node for the tests: one device with aliased metrics, a real MQTT client.

Run as a process (the tests SIGKILL it to make the broker publish its NDEATH)::

    python sparkplug_edge.py --port 1883 --group G --node N --device D --period 0.05

It publishes NBIRTH (seq 0, bdSeq) and DBIRTH (names, aliases, data types), then
DDATA every ``--period`` seconds carrying only aliases: ``Power`` (Double, kW,
the k-th message has 10 + k) and ``State`` (Int32 code: 1 running, 0 idle,
alternating every 5 messages). Each published DDATA is printed as a JSON line
``{"t": ms, "power": x, "seq": s}``; an NCMD rebirth prints ``{"rebirth": seq}``
and republishes the births. ``--skip-seq-after K`` leaves one sequence number
out after the K-th DDATA (a lost message).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pysparkplug as spb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--group", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--period", type=float, default=0.05)
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--first", type=int, default=0, help="index of the first DDATA value")
    p.add_argument("--bd-seq", type=int, default=0)
    p.add_argument("--skip-seq-after", type=int, default=-1)
    a = p.parse_args()

    lock = threading.Lock()
    seq = [0]
    out = sys.stdout

    def next_seq() -> int:
        s = seq[0]
        seq[0] = (s + 1) % 256
        return s

    def topic(kind: spb.MessageType, device: str | None = None) -> str:
        return str(
            spb.Topic(group_id=a.group, message_type=kind, edge_node_id=a.node, device_id=device)
        )

    bd = spb.Metric(spb.get_current_timestamp(), "bdSeq", spb.DataType.INT64, value=a.bd_seq)
    client = mqtt.Client(client_id=f"edge-{a.group}-{a.node}", clean_session=True)
    death = spb.NDeath(spb.get_current_timestamp(), bd)
    client.will_set(topic(spb.MessageType.NDEATH), death.encode(), qos=1)
    state = {"k": a.first}

    def births() -> None:
        with lock:
            seq[0] = 0
            now = spb.get_current_timestamp()
            nb = spb.NBirth(now, next_seq(), (bd,))
            client.publish(topic(spb.MessageType.NBIRTH), nb.encode(), qos=0)
            metrics = (
                spb.Metric(now, "Power", spb.DataType.DOUBLE, value=10.0 + state["k"], alias=1),
                spb.Metric(now, "State", spb.DataType.INT32, value=1, alias=2),
            )
            db = spb.DBirth(now, next_seq(), metrics)
            client.publish(topic(spb.MessageType.DBIRTH, a.device), db.encode(), qos=0)
            print(json.dumps({"birth": now}), file=out, flush=True)

    def on_message(_c, _u, msg) -> None:
        cmd = spb.NCmd.decode(msg.payload)
        if any(m.name == "Node Control/Rebirth" and m.value for m in cmd.metrics):
            print(json.dumps({"rebirth": seq[0]}), file=out, flush=True)
            births()

    def on_connect(c, _u, _f, rc) -> None:
        c.subscribe(topic(spb.MessageType.NCMD), qos=1)
        births()

    client.on_message = on_message
    client.on_connect = on_connect
    client.connect(a.host, a.port, keepalive=5)
    client.loop_start()
    time.sleep(0.3)
    for n in range(a.count):
        k = a.first + n
        with lock:
            state["k"] = k
            now = spb.get_current_timestamp()
            metrics = (
                spb.Metric(now, None, spb.DataType.DOUBLE, value=10.0 + k, alias=1),
                spb.Metric(
                    now, None, spb.DataType.INT32, value=1 if (k // 5) % 2 == 0 else 0, alias=2
                ),
            )
            if n == a.skip_seq_after:
                next_seq()  # this message is "lost"
            s = next_seq()
            dd = spb.DData(now, s, metrics)
            client.publish(topic(spb.MessageType.DDATA, a.device), dd.encode(), qos=0)
            print(json.dumps({"t": now, "power": 10.0 + k, "seq": s}), file=out, flush=True)
        time.sleep(a.period)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
