"""aiobotocore under `tollgate run --upstream <moto>`, for tests/integration/callsites.rs: each
call names the line (marked `# callsite: NAME`) of the coroutine that awaited it. Needs the
data-stack interpreter (aiobotocore pins its own botocore)."""

import asyncio
import uuid

import aiobotocore.session

PUTS = 3


async def main():
    session = aiobotocore.session.get_session()
    async with session.create_client("s3", region_name="us-east-1") as s3:
        name = f"tg-aio-{uuid.uuid4().hex[:8]}"
        await s3.create_bucket(Bucket=name)  # callsite: aio-create
        for i in range(PUTS):
            await s3.put_object(Bucket=name, Key=f"k{i}", Body=b"x")  # callsite: aio-put
    print("aio: ok")


asyncio.run(main())
