"""Reads as the data stack makes them, for the head-then-get and overlapping-ranges findings'
test (tests/integration/datastack.rs): s3fs opening files it has not listed (a HEAD, then the
GET), pandas `read_csv` on s3:// (through s3fs), and polars reading small parquet files.

usage: datastack_reads.py BUCKET
"""

import sys

import pandas as pd
import polars as pl
import s3fs

bucket = sys.argv[1]
fs = s3fs.S3FileSystem()
reads = f"{bucket}-s3fs"
fs.mkdir(reads)
for i in range(3):
    fs.pipe(f"{reads}/raw/part-{i}.csv", b"id,value\n" + b"".join(b"%d,%d\n" % (n, n * i) for n in range(50)))
fs.invalidate_cache()
for i in range(2):
    with fs.open(f"{reads}/raw/part-{i}.csv") as f:
        assert f.read().startswith(b"id,value\n")
assert len(pd.read_csv(f"s3://{reads}/raw/part-2.csv")) == 50

files = f"{bucket}-polars"
fs.mkdir(files)
frame = pl.DataFrame({"id": range(20_000), "value": [f"v{n}" for n in range(20_000)]})
for i in range(2):
    frame.write_parquet(f"s3://{files}/part-{i}.parquet")
for i in range(2):
    assert pl.read_parquet(f"s3://{files}/part-{i}.parquet").height == 20_000
print("ok")
