"""The seed's pipeline made real: read a text file, transform each line,
write it to Redis, and write the result as text.

The seed imported ``apache_beam.io.redis.RedisIO``, which does not exist
(Beam's Python SDK has no Redis IO); ``rload.beam.WriteToRedis`` is that
step. Each line is written as ``SET <line> <LINE>`` (idempotent, so a
retried bundle is harmless), and the elements Redis acknowledged go on to
``WriteToText``.

    pip install "./python[beam]"
    python examples/beam_text_to_redis.py --input input.txt --output out \\
        --redis-url redis://127.0.0.1:6379

Any other argument is a Beam pipeline option (``--runner``,
``--direct_num_workers``...).
"""

from __future__ import annotations

import argparse

import apache_beam as beam
from apache_beam.io import ReadFromText, WriteToText
from apache_beam.options.pipeline_options import PipelineOptions

from rload.beam import WriteToRedis


def process_data(element: str) -> str:
    return element.upper()


def run(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default="input.txt")
    parser.add_argument("--output", default="output.txt")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    args, beam_args = parser.parse_known_args(argv)
    options = PipelineOptions(beam_args)
    with beam.Pipeline(options=options) as p:
        (
            p
            | "Read from text" >> ReadFromText(args.input)
            | "Process data" >> beam.Map(lambda line: (line, process_data(line)))
            | "Write to Redis" >> WriteToRedis(args.redis_url, method="SET", emit=True)
            | "Format" >> beam.MapTuple(lambda key, value: f"{key}\t{value}")
            | "Write to text" >> WriteToText(args.output)
        )


if __name__ == "__main__":
    run()
