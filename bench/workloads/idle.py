"""(4) An idle Python process: a time.sleep loop. argv[1]: ready file."""
import sys
import time

open(sys.argv[1], "w").close()
while True:
    time.sleep(0.5)
