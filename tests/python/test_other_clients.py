"""s3cmd and rclone against a real kura server: upload (multipart too), list, download, delete."""

import hashlib
import os
import subprocess
import uuid

from conftest import ACCESS_KEY, SECRET_KEY


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_s3cmd_round_trip(kura, tmp_path):
    host = kura.endpoint.removeprefix("http://")
    config = tmp_path / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
        "multipart_chunk_size_mb = 5\n"
    )

    def s3cmd(*args):
        out = subprocess.run(["s3cmd", "-c", str(config), *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    bucket = f"s3cmd-{uuid.uuid4().hex[:10]}"
    src = tmp_path / "twelve.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024))  # 3 parts of 5 MiB at most
    s3cmd("mb", f"s3://{bucket}")
    s3cmd("put", str(src), f"s3://{bucket}/dir/twelve.bin")
    assert "dir/twelve.bin" in s3cmd("ls", "-r", f"s3://{bucket}")
    dst = tmp_path / "back.bin"
    s3cmd("get", f"s3://{bucket}/dir/twelve.bin", str(dst))
    assert digest(dst) == digest(src)
    s3cmd("del", f"s3://{bucket}/dir/twelve.bin")
    s3cmd("rb", f"s3://{bucket}")


def test_rclone_copy_check_and_purge(kura, tmp_path):
    # rclone's AWS SDK would read AWS_* settings (a CA bundle, a profile) from the environment.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = dict(
        clean,
        RCLONE_CONFIG_KURA_TYPE="s3",
        RCLONE_CONFIG_KURA_PROVIDER="Other",
        RCLONE_CONFIG_KURA_ACCESS_KEY_ID=ACCESS_KEY,
        RCLONE_CONFIG_KURA_SECRET_ACCESS_KEY=SECRET_KEY,
        RCLONE_CONFIG_KURA_ENDPOINT=kura.endpoint,
        RCLONE_CONFIG_KURA_REGION="us-east-1",
        RCLONE_CONFIG_KURA_FORCE_PATH_STYLE="true",
        RCLONE_CONFIG="/dev/null",
    )

    def rclone(*args):
        out = subprocess.run(["rclone", *args], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(300 * 1024))
    (tree / "sub" / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    bucket = f"rclone-{uuid.uuid4().hex[:10]}"
    rclone("mkdir", f"kura:{bucket}")
    rclone("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(tree), f"kura:{bucket}/t")
    listed = rclone("lsf", "-R", f"kura:{bucket}/t")
    assert {"a.txt", "sub/b.bin", "sub/big.bin"} <= set(listed.split())
    rclone("check", str(tree), f"kura:{bucket}/t")  # compares sizes and hashes
    back = tmp_path / "back"
    rclone("copy", f"kura:{bucket}/t", str(back))
    assert digest(back / "sub" / "big.bin") == digest(tree / "sub" / "big.bin")
    rclone("purge", f"kura:{bucket}")


def test_curl_streams_an_upload_without_a_length(kura, s3, bucket, tmp_path):
    """`curl -T -` sends a body of unknown length (Transfer-Encoding: chunked) signed UNSIGNED-PAYLOAD."""
    url = f"{kura.endpoint}/{bucket}"
    signed = ["--aws-sigv4", "aws:amz:us-east-1:s3", "-H", "x-amz-content-sha256:UNSIGNED-PAYLOAD"]
    body = os.urandom(300_000)

    def put(key, user, data=body):
        out = subprocess.run(
            ["curl", "-sS", "-T", "-", "-w", "\n%{http_code}", *signed, "--user", user, f"{url}/{key}"],
            input=data,
            capture_output=True,
        )
        assert out.returncode == 0, out.stderr
        text, _, status = out.stdout.decode().rpartition("\n")
        return int(status), text

    status, _ = put("streamed", f"{ACCESS_KEY}:{SECRET_KEY}")
    assert status == 200
    got = s3.get_object(Bucket=bucket, Key="streamed")
    assert got["ContentLength"] == len(body)
    assert got["Body"].read() == body
    status, _ = put("empty", f"{ACCESS_KEY}:{SECRET_KEY}", b"")
    assert status == 200
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0

    # A wrong signature is refused before any of the body is kept, and stores nothing.
    status, text = put("forged", f"{ACCESS_KEY}:not-the-secret")
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text, text
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert sorted(keys) == ["empty", "streamed"]
