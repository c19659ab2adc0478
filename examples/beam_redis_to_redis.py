"""Copy one Redis (or cluster) into another with Beam: every type, read
in parallel hash-slot splits, each key rebuilt on the target with the
commands ``rload --dump`` writes (``DEL``, then the value, then the
expiry: idempotent, so a retried bundle is harmless), optionally
filtered or transformed on the way.

    pip install "./python[beam]"
    python examples/beam_redis_to_redis.py --source redis://src:6379 \\
        --target redis://dst:6379 --match 'user:*'

Add ``--source-cluster`` / ``--target-cluster`` for clusters; any other
argument is a Beam pipeline option.
"""

from __future__ import annotations

import argparse

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

import rload
from rload.beam import ReadFromRedis, WriteToRedis


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--match", default="*")
    parser.add_argument("--type", action="append", dest="types")
    parser.add_argument("--splits", type=int, default=16)
    parser.add_argument("--source-cluster", action="store_true")
    parser.add_argument("--target-cluster", action="store_true")
    args, beam_args = parser.parse_known_args(argv)
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        (
            p
            | "Read" >> ReadFromRedis(args.source, match=args.match, types=args.types,
                                      splits=args.splits, cluster=args.source_cluster)
            | "Rebuild" >> beam.FlatMap(rload.key_commands)
            | "Write" >> WriteToRedis(args.target, cluster=args.target_cluster)
        )


if __name__ == "__main__":
    run()
