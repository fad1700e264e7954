"""A Python process that does nothing for a while (bad-input tests)."""
import time

time.sleep(30)
