"""Entry script for a cluster: ``spark-submit`` runs the same fit as ``cheaptalk trust fit``.

    spark-submit --master yarn --deploy-mode client \\
        $(python -c "import cheaptalk.dynamics.spark_submit as m; print(m.__file__)") \\
        --logs /mnt/shared/recommendations --json fit.json --out report/

Arguments are those of ``cheaptalk trust fit`` (``--engine spark`` is implied and the Spark
settings come from ``spark-submit``). ``cheaptalk`` must be installed on the driver and the
executors (or shipped with ``--py-files``). The logs path must be a file system path that
the driver and the executors both see (shared or mounted storage): the driver checks the
files' columns before Spark reads them. ``hdfs://`` and ``s3://`` URIs are not accepted yet.
"""

from __future__ import annotations

import sys

from cheaptalk.cli.main import main as cli_main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for flag in ("--engine", "--master"):
        if flag in argv:
            i = argv.index(flag)
            del argv[i:i + 2]
    return cli_main(["trust", "fit", "--engine", "spark", "--master", "submit", *argv])


if __name__ == "__main__":
    sys.exit(main())
