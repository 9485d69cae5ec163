"""Compaction's S3 calls, through a client passed in (built on first use when none is)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compact_service.logic import SourceObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Hours:
    """The archive bucket as compaction sees it: an hour's NDJSON objects, the metadata
    of its Parquet copy, downloads side by side, and the upload of a copy."""

    def __init__(
        self, bucket: str, client: S3Client | None = None, *, concurrency: int = 8
    ) -> None:
        self.bucket = bucket
        self._client = client
        self._lock = threading.Lock()
        self._concurrency = concurrency

    @property
    def client(self) -> S3Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client("s3")
        return self._client

    def list_sources(self, prefix: str) -> list[SourceObject]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                found.append(
                    SourceObject(
                        key=item["Key"], etag=str(item.get("ETag", "")), size=int(item["Size"])
                    )
                )
        return found

    def target_metadata(self, key: str) -> Mapping[str, str] | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return dict(head.get("Metadata") or {})

    def download(self, objects: Sequence[SourceObject], directory: Path) -> list[Path]:
        """Each object into `directory`, under a name of its own (its position: keys
        are long), side by side; the paths in the objects' order."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = [directory / f"{index:06d}.ndjson.gz" for index in range(len(objects))]

        def fetch(pair: tuple[SourceObject, Path]) -> None:
            source, path = pair
            body = self.client.get_object(Bucket=self.bucket, Key=source.key)["Body"]
            with path.open("wb") as out:
                for chunk in body.iter_chunks(1 << 20):
                    out.write(chunk)

        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            list(pool.map(fetch, zip(objects, paths, strict=True)))
        return paths

    def upload(self, path: Path, key: str, metadata: Mapping[str, str]) -> None:
        extra: Any = {
            "ContentType": "application/vnd.apache.parquet",
            "ServerSideEncryption": "AES256",
            "Metadata": dict(metadata),
        }
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra)
