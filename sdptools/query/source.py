"""Where `sdp query` finds the archive: a folder with the bucket's keys.

- the running local cloud's archive bucket, copied through the S3 API (ListObjectsV2 and
  GetObject, with boto3) into a temporary folder for the query;
- otherwise the archive the last `sdp demo` exported before its cloud stopped
  (``.sdp/archive/``, written by ``export_archive`` below, through the same calls);
- or a folder given with ``--archive``.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ssm import SSMClient

PREFIXES = ("records/", "compacted/")
BUCKET_PARAMETER = "/sdp/bucket/archive"
EXPORT_DIR_NAME = "archive"


class ArchiveUnavailable(Exception):
    """There is no archive to query; the message says how to get one."""


def archive_bucket(ssm: SSMClient) -> str:
    """The archive bucket's name, as the platform stack publishes it."""
    return ssm.get_parameter(Name=BUCKET_PARAMETER)["Parameter"]["Value"]


class ArchiveCopier:
    """Copies the archive's objects (records/ and compacted/) from a bucket to a folder,
    keeping their keys as paths; GETs go side by side."""

    def __init__(self, s3: S3Client, bucket: str, *, concurrency: int = 8) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._concurrency = concurrency

    def keys(self) -> list[str]:
        found = []
        for prefix in PREFIXES:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                found += [item["Key"] for item in page.get("Contents", [])]
        return found

    def copy_to(self, folder: Path) -> int:
        """Every archive object into `folder`; returns how many."""
        keys = [k for k in self.keys() if ".." not in k.split("/") and not k.endswith("/")]

        def fetch(key: str) -> None:
            path = folder / key
            path.parent.mkdir(parents=True, exist_ok=True)
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            with path.open("wb") as out:
                for chunk in body.iter_chunks(1 << 20):
                    out.write(chunk)

        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            list(pool.map(fetch, keys))
        return len(keys)


def export_archive(s3: S3Client, ssm: SSMClient, destination: Path) -> int:
    """Replace `destination` with a copy of the archive (what `sdp demo` leaves behind);
    written beside it first and renamed, so a failed copy leaves the old one whole."""
    copier = ArchiveCopier(s3, archive_bucket(ssm))
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".archive-", dir=destination.parent))
    try:
        count = copier.copy_to(staging)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count


def local_cloud_copy(endpoint: str, folder: Path) -> int:
    from localcloud.cloud import local_client

    s3: Any = local_client("s3", endpoint)
    ssm: Any = local_client("ssm", endpoint)
    return ArchiveCopier(s3, archive_bucket(ssm)).copy_to(folder)
