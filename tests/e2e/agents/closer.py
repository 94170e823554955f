"""Agent that closes stdout and stderr, keeps working for a while, then exits 0.

Usage: closer.py DONEFILE. Writes the time it finished to DONEFILE just before exiting.
"""

import os
import sys
import time

print("closing stdout and stderr now", flush=True)
os.close(1)
os.close(2)
time.sleep(1.5)
with open(sys.argv[1], "w") as handle:
    handle.write(f"{time.time():.6f}\n")
sys.exit(0)
