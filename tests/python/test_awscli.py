"""The aws CLI against a real kura server: the issue's walk-through."""

import hashlib
import os
import subprocess
import uuid


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_mb_cp_ls_presign_rm_rb(aws, tmp_path):
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    aws("s3", "mb", f"s3://{bucket}")
    src = tmp_path / "100mb.bin"
    with open(src, "wb") as f:
        for i in range(100):
            f.write(hashlib.sha256(str(i).encode()).digest() * (1024 * 1024 // 32))
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/100mb.bin")
    listing = aws("s3", "ls", f"s3://{bucket}/dir/").stdout
    assert "100mb.bin" in listing and str(100 * 1024 * 1024) in listing
    head = aws("s3api", "head-object", "--bucket", bucket, "--key", "dir/100mb.bin").stdout
    assert '-' in head.split('"ETag"')[1].split("\n")[0], "a 100 MB cp is a multipart upload"
    dst = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/100mb.bin", str(dst))
    assert sha256(dst) == sha256(src)
    url = aws("s3", "presign", f"s3://{bucket}/dir/100mb.bin", "--expires-in", "300").stdout.strip()
    fetched = tmp_path / "curl.bin"
    code = subprocess.run(["curl", "-s", "-o", str(fetched), "-w", "%{http_code}", url], capture_output=True, text=True)
    assert code.stdout == "200"
    assert sha256(fetched) == sha256(src)
    aws("s3", "rm", f"s3://{bucket}/dir/100mb.bin")
    assert aws("s3", "ls", f"s3://{bucket}/").stdout.strip() == ""
    aws("s3", "rb", f"s3://{bucket}")
    assert bucket not in aws("s3", "ls").stdout


def test_sync_and_recursive_rm(aws, tmp_path):
    bucket = f"sync-{uuid.uuid4().hex[:12]}"
    aws("s3", "mb", f"s3://{bucket}")
    tree = tmp_path / "tree"
    for d in ["a", "a/b", "c"]:
        os.makedirs(tree / d, exist_ok=True)
        (tree / d / "file.txt").write_text(d)
    aws("s3", "sync", str(tree), f"s3://{bucket}/tree")
    listing = aws("s3", "ls", "--recursive", f"s3://{bucket}/").stdout
    assert listing.count("file.txt") == 3
    aws("s3", "rb", "--force", f"s3://{bucket}")
    assert bucket not in aws("s3", "ls").stdout
