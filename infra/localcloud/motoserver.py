"""moto's server with the local cloud's fixes (motopatches) applied.

Run as ``python -m infra.localcloud.motoserver -H 127.0.0.1 -p 4566``: the same
arguments as ``python -m moto.server``.
"""

from __future__ import annotations

import sys

from infra.localcloud import motopatches


def main() -> None:
    motopatches.apply()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
