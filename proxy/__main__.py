"""``python -m proxy --config sidecar.yaml``: one sidecar, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from proxy.config import ConfigError, load_sidecar_config
from proxy.sidecar import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("MESHLENS_PROXY_CONFIG"),
                        help="sidecar YAML file (env MESHLENS_PROXY_CONFIG)")
    parser.add_argument("--log-level", default=os.environ.get("MESHLENS_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    if not args.config:
        parser.error("--config is required")
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_sidecar_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
