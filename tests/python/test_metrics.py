"""/kura/metrics read by the Prometheus project's own OpenMetrics parser: every family parses, counters
move with the requests boto3 makes, and nothing names a bucket or a key."""

import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from prometheus_client.openmetrics.parser import text_string_to_metric_families


def scrape(kura, token=None):
    req = urllib.request.Request(kura.endpoint + "/kura/metrics")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        return resp.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams, family, name, **labels):
    """The value of one sample, 0 when the series (or its whole family) does not exist yet."""
    if family not in fams:
        return 0
    for s in fams[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0


def test_counters_move_with_requests_and_no_bucket_or_key_appears(kura, s3, bucket):
    key = f"secret-looking-key-{uuid.uuid4().hex}"
    before = families(scrape(kura))
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 1000)
    for _ in range(3):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x" * 1000
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key=key + "-missing")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    text = scrape(kura)
    after = families(text)

    ok = dict(api="s3", operation="GetObject", status_class="2xx")
    got = sample(after, "kura_http_requests", "kura_http_requests_total", **ok)
    assert got - sample(before, "kura_http_requests", "kura_http_requests_total", **ok) == 3
    err = dict(api="s3", operation="GetObject", status_class="4xx")
    got = sample(after, "kura_http_requests", "kura_http_requests_total", **err)
    assert got - sample(before, "kura_http_requests", "kura_http_requests_total", **err) == 1
    sent = sample(after, "kura_http_response_bytes", "kura_http_response_bytes_total", api="s3")
    assert sent - sample(before, "kura_http_response_bytes", "kura_http_response_bytes_total", api="s3") >= 3000
    received = sample(after, "kura_http_request_bytes", "kura_http_request_bytes_total", api="s3")
    assert received - sample(before, "kura_http_request_bytes", "kura_http_request_bytes_total", api="s3") >= 1000
    count = dict(api="s3", operation="GetObject")
    hist = "kura_http_request_duration_seconds"
    assert sample(after, hist, hist + "_count", **count) - sample(before, hist, hist + "_count", **count) == 4
    assert sample(after, "kura_store_commit_batch_size", "kura_store_commit_batch_size_count") > 0
    assert sample(after, "kura_build", "kura_build_info") == 1
    # The scrape in progress counts itself.
    assert sample(after, "kura_http_requests_in_flight", "kura_http_requests_in_flight") >= 1
    assert bucket not in text and key not in text


def test_a_bad_signature_counts_as_an_authentication_failure(kura, bucket):
    from conftest import client

    before = families(scrape(kura))
    bad = client(kura, secret_key="not-the-secret", signature_version="s3v4")
    with pytest.raises(ClientError) as refused:
        bad.list_objects_v2(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    after = families(scrape(kura))
    fam, name = "kura_authn_failures", "kura_authn_failures_total"
    assert sample(after, fam, name, reason="SignatureDoesNotMatch") - sample(
        before, fam, name, reason="SignatureDoesNotMatch"
    ) == 1


def test_a_token_is_needed_where_no_network_is_allowed(tmp_path):
    from conftest import Kura

    token = tmp_path / "metrics-token"
    token.write_text("scrape-me\n")
    config = f"server:\n  metrics:\n    allow_networks: []\n    bearer_token_file: {token}\n"
    server = Kura(str(tmp_path / "data"), config=config)
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(server)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
        with pytest.raises(urllib.error.HTTPError) as wrong:
            scrape(server, token="guess")
        assert wrong.value.code == 401
        assert "kura_http_requests" in families(scrape(server, token="scrape-me"))
    finally:
        server.stop()
