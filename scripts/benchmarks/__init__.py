"""The modules behind ``scripts/bench.py``, one family of figures each over a shared driver.

``driver`` starts and watches the processes; ``rooms`` keeps them a room; ``failover``,
``latency``, ``throughput``, ``join``, ``member_join``, ``scale`` and ``multihost`` (one room
on five hosts, network namespaces) each measure one family and turn it into rows; ``report``
summarises and renders the rows; ``plan`` says what each mode runs, and ``run`` in what order.
"""
