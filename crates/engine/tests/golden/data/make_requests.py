# Generates requests.jsonl deterministically (a fixed LCG, no library randomness) and prints
# the expected results of requests.test, computed here independently of the engine.
import json, math

state = 12345
def rnd(n):
    global state
    state = (state * 1103515245 + 12345) % (1 << 31)
    return (state >> 8) % n

methods = ["GET", "POST", "PUT", "DELETE"]
regions = ["eu-west-1", "us-east-1", "ap-south-1"]
lines = []
for i in range(300):
    if i % 37 == 5:
        lines.append("healthcheck ok %d" % i)
        continue
    status = [200, 200, 200, 201, 404, 500, 503][rnd(7)]
    ev = {"method": methods[rnd(4)], "path": ["/api/users/%d" % rnd(20), "/api/orders/%d" % rnd(50), "/health"][rnd(3)],
          # Every fourth status is text, as a producer that quotes numbers writes it.
          "status": str(status) if i % 4 == 0 else status,
          "latency_ms": 1 + rnd(900), "bytes": rnd(5000),
          "user": {"id": rnd(40), "region": regions[rnd(3)]}}
    if rnd(5) == 0:
        ev["tags"] = ["t%d" % rnd(3), "x"]
    lines.append(json.dumps(ev, separators=(",", ":")))
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "requests.jsonl"), "w").write("\n".join(lines) + "\n")
