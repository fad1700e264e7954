# SPDX-License-Identifier: MIT
# Writes fuzz_linetable seeds from this interpreter's own line tables:
#   python3.X tests/fuzz/linetable_seeds.py tests/fuzz/corpus/linetable
# Each seed: int32 byte offset, int32 co_firstlineno (little-endian), then
# co_linetable (3.10: line number pairs; 3.11+: the location table).
import os
import struct
import sys


def loop(n):
    t = 0
    for i in range(n):
        if i % 3:
            continue
        t += i
    return t


def handler(x):
    try:
        return 1 / x
    except (ZeroDivisionError,
            TypeError):
        return None
    finally:
        x = None


def spread(a, b):
    return (a +
            b *
            [i for i in range(a)
             if i][0])


src = 'def long(x):\n' + ''.join(' x += %d\n%s' % (i, '\n' * (i % 5 == 0))
                                 for i in range(60)) + '\n' * 300 + ' return x\n'
ns = {}
exec(compile(src, 'long.py', 'exec'), ns)

ver = '%d.%d' % sys.version_info[:2]
for fn in (loop, handler, spread, ns['long']):
    co = fn.__code__
    path = os.path.join(sys.argv[1], '%s-%s' % (ver, co.co_name))
    with open(path, 'wb') as f:
        f.write(struct.pack('<ii', len(co.co_code) // 2, co.co_firstlineno))
        f.write(co.co_linetable)
