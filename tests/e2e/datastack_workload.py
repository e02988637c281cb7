"""The Python data stack as its users write it, with no tollgate-specific code: s3fs (over
aiobotocore), pandas CSV over s3://, polars (the Rust object_store), and pandas parquet and
pyarrow with their default arguments (pyarrow's own S3 client, the AWS SDK for C++). Run by
tests/integration/datastack.rs through `tollgate run --upstream <counting upstream>`.

usage: datastack_workload.py BUCKET
"""

import io
import sys

import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import s3fs

bucket = sys.argv[1]
fs = s3fs.S3FileSystem()
fs.mkdir(bucket)
for i in range(3):
    fs.pipe(f"{bucket}/raw/part-{i}.csv", b"id,value\n" + b"".join(b"%d,%d\n" % (n, n * i) for n in range(50)))
fs.ls(f"{bucket}/raw")
fs.info(f"{bucket}/raw/part-0.csv")
fs.cat(f"{bucket}/raw/part-1.csv")

frame = pd.read_csv(f"s3://{bucket}/raw/part-0.csv")
frame.to_csv(f"s3://{bucket}/out/pandas.csv", index=False)

lazy = pl.read_csv(f"s3://{bucket}/raw/part-2.csv")
lazy.write_parquet(f"s3://{bucket}/out/polars.parquet")
back = pl.read_parquet(f"s3://{bucket}/out/polars.parquet")
assert back.height == 50, back

# pyarrow's own client, as pandas and pyarrow pick it for s3:// with default arguments.
frame.to_parquet(f"s3://{bucket}/out/pandas.parquet")
again = pd.read_parquet(f"s3://{bucket}/out/pandas.parquet")
assert len(again) == 50, again
table = pq.read_table(f"s3://{bucket}/out/pandas.parquet")
assert table.num_rows == 50, table
dataset = ds.dataset(f"s3://{bucket}/out/pandas.parquet", format="parquet")
assert dataset.to_table().num_rows == 50
print("ok")
