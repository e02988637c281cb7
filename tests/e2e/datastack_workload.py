"""The Python data stack as its users write it, with no tollgate-specific code: s3fs (over
aiobotocore), pandas CSV over s3://, polars (the Rust object_store), pandas parquet and
pyarrow with their default arguments (pyarrow's own S3 client, the AWS SDK for C++), deltalake
(delta-rs), and duckdb (httpfs, given tollgate's CA: it reads no CA variable). Run by
tests/integration/datastack.rs through `tollgate run --upstream <counting upstream>`.

usage: datastack_workload.py BUCKET
"""

import io
import os
import sys

import duckdb
import duckdb_extension_httpfs
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import s3fs
from deltalake import DeltaTable, write_deltalake

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

# What the data stack does most (issue 24 item 4), for the findings' test to count on the wire,
# in a bucket of its own: a prefix listed again with nothing written in between (s3fs told to
# forget its listings, pyarrow making a dataset of a directory again), then once more after a
# write under it; and small files written by pandas through pyarrow, each a multipart upload.
lake = f"{bucket}-lake"
fs.mkdir(lake)
for i in range(3):
    fs.pipe(f"{lake}/events/part-{i}.csv", b"id,value\n" + b"".join(b"%d,%d\n" % (n, n * i) for n in range(50)))
for _ in range(3):
    fs.invalidate_cache()
    assert len(fs.ls(f"{lake}/events")) == 3
for _ in range(2):
    assert ds.dataset(f"s3://{lake}/events/", format="csv").to_table().num_rows == 150
fs.pipe(f"{lake}/events/part-3.csv", b"id,value\n1,1\n")
fs.invalidate_cache()
assert len(fs.ls(f"{lake}/events")) == 4
for i in range(2):
    frame.to_parquet(f"s3://{lake}/small/part-{i}.parquet")

# delta-rs (the Rust object_store: HTTPS_PROXY and SSL_CERT_FILE, no code change) and duckdb
# (httpfs follows HTTPS_PROXY but trusts only its own CA list: the one line it needs), in a
# bucket of their own. delta-rs lists `_delta_log/` again on every write and read; duckdb lists a
# glob's prefix twice per query.
delta = f"{bucket}-delta"
fs.mkdir(delta)
table_uri = f"s3://{delta}/tables/events"
unsafe = {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}  # one writer: no lock table needed
write_deltalake(table_uri, frame, storage_options=unsafe)
write_deltalake(table_uri, frame, mode="append", storage_options=unsafe)
assert len(DeltaTable(table_uri, storage_options=unsafe).to_pandas()) == 100
frame.to_csv(f"s3://{delta}/csv/a.csv", index=False)
con = duckdb.connect()
con.load_extension(os.path.join(
    os.path.dirname(duckdb_extension_httpfs.__file__), "extensions", f"v{duckdb.__version__}",
    "httpfs.duckdb_extension"))
con.execute(f"SET ca_cert_file = '{os.environ['SSL_CERT_FILE']}'")
con.execute("SET s3_region = 'us-east-1'")
con.execute(f"SET s3_access_key_id = '{os.environ['AWS_ACCESS_KEY_ID']}'")
con.execute(f"SET s3_secret_access_key = '{os.environ['AWS_SECRET_ACCESS_KEY']}'")
for _ in range(2):
    assert con.sql(f"SELECT count(*) FROM read_csv('s3://{delta}/csv/*.csv')").fetchone()[0] == 50
print("ok")
